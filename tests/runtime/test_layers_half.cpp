// Runtime tests of the normalization layers on nf::bf16 and nf::fp16 (input, parameters and
// output of the 16-bit type; widened to float, statistics in double or, for rows, in float
// blocks centered on the mean (nn/half_rows.hpp), rounded once on the store),
// against a double-precision reference computed here from the same 16-bit values: each output is
// within half a unit in the last place of the 16-bit type of the exact value, plus a bound on
// float's rounding (far below that unit). A layer that rounds an intermediate (a coefficient, the
// normalized value before the affine) to the 16-bit type, or that computes in the 16-bit type,
// exceeds it. And against PyTorch 1.13 (tests/reference/data/half_*.ref, bf16: PyTorch has no fp16
// CPU kernels for these layers): within one unit. Odd extents, unaligned views, both layouts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <normfuse/core/half.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/reference_file.hpp"

using namespace nf::axes;

namespace {

std::uint32_t lcg(std::uint32_t& s) {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
}

/// A uniform value in [shift - scale, shift + scale), rounded to H.
template <class H>
H random_half(std::uint32_t& s, float scale, float shift) {
    return H(shift + scale * (static_cast<float>(lcg(s)) / 8388608.0f - 1.0f));
}

template <class H>
double wide(H h) {
    return static_cast<double>(static_cast<float>(h));
}

/// The unit in the last place of `v` in the 16-bit type H (bf16: 7 fraction bits, float's
/// exponents; fp16: 10 fraction bits, minimum normal exponent -14).
template <class H>
double ulp16(double v) {
    constexpr bool is_bf16 = std::is_same_v<H, nf::bf16>;
    int e;
    (void)std::frexp(std::fabs(v), &e);
    return std::ldexp(1.0, std::max(e - 1, is_bf16 ? -126 : -14) - (is_bf16 ? 7 : 10));
}

/// Float's rounding in the layers' float arithmetic after the statistics (a few operations on
/// values up to `magnitude`): 2^-20 of it is 16 float units, far below half a 16-bit unit (2^-9 of
/// bf16's, 2^-12 of fp16's, relative).
double float_slack(double magnitude) {
    return std::ldexp(magnitude, -20);
}

/// Counts outputs farther from the exact value than half a 16-bit unit plus the float slack, and
/// those that are not the exact value rounded to nearest (allowed within the slack, near ties).
struct half_checker {
    std::size_t checked = 0, bad = 0, not_nearest = 0;
    template <class H>
    void add(H got, double exact, double slack) {
        const double g = wide(got);
        const double err = std::fabs(g - exact);
        ++checked;
        if (!(err <= 0.5 * ulp16<H>(exact) + slack)) {
            if (bad < 5)
                UNSCOPED_INFO("got " << g << " exact " << exact << " error " << err / ulp16<H>(exact) << " units");
            ++bad;
        }
        not_nearest += got.bits != H(static_cast<float>(exact)).bits;
    }
    /// Float's error moves an output off the nearest value only when the exact one is within the
    /// slack of a tie: rarely.
    bool mostly_nearest() const { return not_nearest * 100 <= checked; }
};

/// Random data in slot-major order: `slots` rows of `row` values, plus the normalized-shape
/// parameters (weight around 1, bias around 0), all 16-bit values.
template <class H>
struct row_data {
    std::size_t slots, row;
    std::vector<H> x, w, b;
    row_data(std::size_t slots_, std::size_t row_, std::uint32_t seed, float offset = 0.5f)
        : slots(slots_), row(row_), x(slots_ * row_), w(row_), b(row_) {
        for (auto& v : x) v = random_half<H>(seed, 2.0f, offset);
        for (auto& v : w) v = random_half<H>(seed, 0.5f, 1.0f);
        for (auto& v : b) v = random_half<H>(seed, 0.5f, 0.0f);
    }
};

/// RMSNorm's exact outputs (slot-major) and the float slack of each.
template <class H>
void rms_reference(const row_data<H>& d, double eps, bool affine, std::vector<double>& y, std::vector<double>& slack) {
    y.assign(d.x.size(), 0);
    slack.assign(d.x.size(), 0);
    for (std::size_t s = 0; s < d.slots; ++s) {
        double ss = 0;
        for (std::size_t j = 0; j < d.row; ++j) ss += wide(d.x[s * d.row + j]) * wide(d.x[s * d.row + j]);
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(d.row) + eps);
        for (std::size_t j = 0; j < d.row; ++j) {
            const std::size_t i = s * d.row + j;
            y[i] = wide(d.x[i]) * r * (affine ? wide(d.w[j]) : 1.0);
            slack[i] = float_slack(std::fabs(y[i]));
        }
    }
}

/// LayerNorm's exact outputs (slot-major) and the float slack of each: the layers compute
/// (x - k) * a + o with k one of the row's values, so the terms reach the row's largest |x̂|.
template <class H>
void ln_reference(const row_data<H>& d, double eps, bool affine, std::vector<double>& y, std::vector<double>& slack) {
    y.assign(d.x.size(), 0);
    slack.assign(d.x.size(), 0);
    const double n = static_cast<double>(d.row);
    for (std::size_t s = 0; s < d.slots; ++s) {
        double m = 0, v = 0, big = 0;
        for (std::size_t j = 0; j < d.row; ++j) m += wide(d.x[s * d.row + j]);
        m /= n;
        for (std::size_t j = 0; j < d.row; ++j) v += (wide(d.x[s * d.row + j]) - m) * (wide(d.x[s * d.row + j]) - m);
        const double a = 1.0 / std::sqrt(v / n + eps);
        for (std::size_t j = 0; j < d.row; ++j) big = std::max(big, std::fabs(wide(d.x[s * d.row + j]) - m) * a);
        for (std::size_t j = 0; j < d.row; ++j) {
            const std::size_t i = s * d.row + j;
            const double xh = (wide(d.x[i]) - m) * a;
            const double w = affine ? wide(d.w[j]) : 1.0, b = affine ? wide(d.b[j]) : 0.0;
            y[i] = xh * w + b;
            slack[i] = float_slack(3 * big * std::fabs(w) + std::fabs(b));
        }
    }
}

/// Checks `out` (laid out by `at(slot, j)`) against the exact values.
template <class H, class At>
half_checker check_rows(const H* out, const std::vector<double>& y, const std::vector<double>& slack, std::size_t slots,
                        std::size_t row, At at) {
    half_checker c;
    for (std::size_t s = 0; s < slots; ++s)
        for (std::size_t j = 0; j < row; ++j) c.add(out[at(s, j)], y[s * row + j], slack[s * row + j]);
    return c;
}

} // namespace

TEMPLATE_TEST_CASE("half layers: RMSNorm and LayerNorm over the hidden axis of [tokens, hidden], one rounding",
                   "[layers][half]", nf::bf16, nf::fp16) {
    using H = TestType;
    using tokens_hidden = nf::shape<N<>, C<>>;
    using hidden = nf::shape<C<>>;
    // 1011 = 31 cache lines of 16-bit values, a batch or more, and 3 values: every part of the
    // output loop (nn/half_rows.hpp: whole lines with a prefetch of the row ahead, the batches
    // after them, the scalar tail) on every instruction set.
    const std::size_t row = GENERATE(768, 1024, 4096, 1011, 67, 1);
    const std::size_t tokens = GENERATE(1, 5);
    CAPTURE(row, tokens);
    row_data<H> d(tokens, row, static_cast<std::uint32_t>(row * 7 + tokens));
    // One element of offset: an unaligned input view.
    std::vector<H> in(d.x.size() + 1);
    std::copy(d.x.begin(), d.x.end(), in.begin() + 1);
    const nf::view<const H, tokens_hidden> x(in.data() + 1, {tokens, row});
    nf::tensor<H, tokens_hidden> out({tokens, row});
    std::vector<double> y, slack;
    auto at = [&](std::size_t s, std::size_t j) { return s * row + j; };

    SECTION("rms_norm, default eps: torch.finfo(dtype).eps") {
        nf::nn::rms_norm<H, hidden> rn({row});
        CHECK(rn.eps() == (std::is_same_v<H, nf::bf16> ? 0.0078125 : 0.0009765625));
        std::copy(d.w.begin(), d.w.end(), rn.weight().data());
        rn.forward(x, out);
        rms_reference(d, rn.eps(), true, y, slack);
        const auto c = check_rows(out.data(), y, slack, tokens, row, at);
        CHECK(c.bad == 0);
        CHECK(c.mostly_nearest());
    }
    SECTION("rms_norm of bf16 rows whose squares leave float's range (no eps): as exact as the others") {
        // The sums of squares are taken in float blocks (reduce/accumulate.hpp, half_squares_run)
        // unless a square or a block overflows float (|x| >= 2^64) or squares may have underflowed
        // (|x| < 2^-63): such rows are summed in double. Rows scaled by 2^70, by 2^-70, and tiny
        // but for one value scaled by 2^40; eps = 0, so that the sum alone sets the output.
        if constexpr (std::is_same_v<H, nf::bf16>) {
            row_data<H> e(4, row, static_cast<std::uint32_t>(row * 13 + tokens));
            for (std::size_t j = 0; j < row; ++j) {
                e.x[j] = H(std::ldexp(static_cast<float>(e.x[j]), 70));
                e.x[row + j] = H(std::ldexp(static_cast<float>(e.x[row + j]), -70));
                e.x[2 * row + j] = H(std::ldexp(static_cast<float>(e.x[2 * row + j]), j == row / 2 ? 40 : -70));
            }
            const nf::view<const H, tokens_hidden> ex(e.x.data(), {4, row});
            nf::tensor<H, tokens_hidden> eout({4, row});
            nf::nn::rms_norm<H, hidden> rn({row}, {0.0});
            std::copy(e.w.begin(), e.w.end(), rn.weight().data());
            rn.forward(ex, eout);
            rms_reference(e, 0.0, true, y, slack);
            const auto c = check_rows(eout.data(), y, slack, 4, row, at);
            CHECK(c.bad == 0);
        }
    }
    SECTION("layer_norm of rows far from zero, constant, tiny, huge or not finite: as exact as the others") {
        // The statistics of 16-bit rows are float block sums centered on the row's mean (nn/
        // half_rows.hpp): rows whose mean is 150 times their spread (an uncentered float variance
        // E[x^2] - mean^2 loses all of it), a constant row, rows scaled by 2^-70 (squares below
        // float's normal range) and 2^70 (beyond it; bf16 only), are summed again in double where
        // the float sums cannot be vouched for. A row holding an infinity is NaN throughout, as
        // PyTorch's. eps = 0 for the scaled rows, so that the statistics alone set the output.
        constexpr bool is_bf16 = std::is_same_v<H, nf::bf16>;
        row_data<H> e(6, row, static_cast<std::uint32_t>(row * 17 + tokens), 300.0f);
        for (std::size_t j = 0; j < row; ++j) {
            e.x[2 * row + j] = H(-3.0f);
            e.x[3 * row + j] = H(std::ldexp(static_cast<float>(e.x[3 * row + j]) - 300.0f, -70));
            e.x[4 * row + j] = H(std::ldexp(static_cast<float>(e.x[4 * row + j]) - 300.0f, is_bf16 ? 70 : 0));
        }
        e.x[5 * row + row / 2] = H(std::numeric_limits<float>::infinity());
        const nf::view<const H, tokens_hidden> ex(e.x.data(), {6, row});
        nf::tensor<H, tokens_hidden> eout({6, row});
        for (const double eps : {1e-5, 0.0}) {
            CAPTURE(eps);
            nf::nn::functional::layer_norm(ex, eout, nf::extents<hidden>({row}),
                                           nf::view<const H, hidden>(e.w.data(), {row}),
                                           nf::view<const H, hidden>(e.b.data(), {row}), eps);
            ln_reference(e, eps, true, y, slack);
            for (std::size_t s = 0; s < 6; ++s) {
                CAPTURE(s);
                if (s == 5) {
                    bool all_nan = true;
                    for (std::size_t j = 0; j < row; ++j)
                        all_nan = all_nan && std::isnan(wide(eout.data()[s * row + j]));
                    CHECK(all_nan);
                } else if (std::isfinite(y[s * row])) { // (not 0 / 0: a constant row without eps)
                    half_checker c;
                    for (std::size_t j = 0; j < row; ++j)
                        c.add(eout.data()[s * row + j], y[s * row + j], slack[s * row + j]);
                    CHECK(c.bad == 0);
                }
            }
        }
    }
    SECTION("rms_norm and layer_norm with streaming stores (AVX-512, AVX2): the bits of ordinary stores") {
        // An output one element off alignment: a scalar head, streamed batches, a tail.
        std::vector<H> o1(d.x.size() + 1), o2(d.x.size() + 1);
        const nf::view<H, tokens_hidden> v1(o1.data() + 1, {tokens, row}), v2(o2.data() + 1, {tokens, row});
        nf::nn::rms_norm<H, hidden> rn({row});
        nf::nn::layer_norm<H, hidden> ln({row});
        std::copy(d.w.begin(), d.w.end(), rn.weight().data());
        std::copy(d.b.begin(), d.b.end(), ln.bias().data());
        const std::size_t threshold = nf::streaming_threshold();
        for (int layer = 0; layer < 2; ++layer) {
            nf::set_streaming_threshold(std::size_t(-1));
            layer == 0 ? rn.forward(x, v1) : ln.forward(x, v1);
            nf::set_streaming_threshold(0);
            layer == 0 ? rn.forward(x, v2) : ln.forward(x, v2);
            nf::set_streaming_threshold(threshold);
            bool same = true;
            for (std::size_t i = 0; i < o1.size(); ++i) same = same && o1[i].bits == o2[i].bits;
            CHECK(same);
        }
    }
    SECTION("rms_norm and layer_norm with two threads: the same bits as with one") {
        if (row == 1011) return; // (2-3 s under ASan; the other sizes cover the threaded split)
        // Enough rows that the loop is cut into pieces (eval/parallel.hpp: parallel_min_work).
        const std::size_t many = (std::size_t{1} << 16) / row + 3;
        row_data<H> big(many, row, static_cast<std::uint32_t>(row + 11));
        const nf::view<const H, tokens_hidden> bx(big.x.data(), {many, row});
        nf::tensor<H, tokens_hidden> bout({many, row});
        nf::nn::rms_norm<H, hidden> rn({row});
        nf::nn::layer_norm<H, hidden> ln({row});
        std::copy(big.w.begin(), big.w.end(), rn.weight().data());
        std::copy(big.b.begin(), big.b.end(), ln.bias().data());
        auto run = [&](int threads) {
            const int before = nf::num_threads();
            nf::set_num_threads(threads);
            std::vector<std::uint16_t> bits;
            rn.forward(bx, bout);
            for (std::size_t i = 0; i < bout.size(); ++i) bits.push_back(bout.data()[i].bits);
            ln.forward(bx, bout);
            for (std::size_t i = 0; i < bout.size(); ++i) bits.push_back(bout.data()[i].bits);
            nf::set_num_threads(before);
            return bits;
        };
        const auto one = run(1);
        CHECK(one == run(2));
        // And the two-thread RMSNorm within half a unit of the exact value.
        nf::set_num_threads(2);
        rn.forward(bx, bout);
        nf::set_num_threads(1);
        rms_reference(big, rn.eps(), true, y, slack);
        const auto c = check_rows(bout.data(), y, slack, many, row, at);
        CHECK(c.bad == 0);
    }
    SECTION("layer_norm, in place on an unaligned view") {
        nf::nn::layer_norm<H, hidden> ln({row});
        std::copy(d.w.begin(), d.w.end(), ln.weight().data());
        std::copy(d.b.begin(), d.b.end(), ln.bias().data());
        const nf::view<H, tokens_hidden> inout(in.data() + 1, {tokens, row});
        ln(inout, nf::nn::in_place);
        ln_reference(d, 1e-5, true, y, slack);
        const auto c = check_rows(in.data() + 1, y, slack, tokens, row, at);
        CHECK(c.bad == 0);
        CHECK(c.mostly_nearest());
    }
}

TEMPLATE_TEST_CASE("half layers: RMSNorm and LayerNorm over C of (N, C, L) and (N, L, C)", "[layers][half]", nf::bf16,
                   nf::fp16) {
    using H = TestType;
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    const std::size_t n = 3, c = GENERATE(1, 19, 64), l = GENERATE(1, 33);
    const bool channels_last = GENERATE(false, true);
    CAPTURE(c, l, channels_last);
    // Slot s = (ni, li), value j = channel: offset 8, so that the mean matters.
    row_data<H> d(n * l, c, static_cast<std::uint32_t>(c * 31 + l), 8.0f);
    auto at = [&](std::size_t s, std::size_t j) {
        const std::size_t ni = s / l, li = s % l;
        return channels_last ? s * c + j : (ni * c + j) * l + li;
    };
    std::vector<H> in(d.x.size() + 1), res(d.x.size() + 1);
    for (std::size_t s = 0; s < d.slots; ++s)
        for (std::size_t j = 0; j < c; ++j) in[1 + at(s, j)] = d.x[s * c + j];
    std::vector<double> y, slack;
    const bool use_rms = GENERATE(false, true);
    const bool affine = GENERATE(false, true);
    CAPTURE(use_rms, affine);
    auto run = [&](auto& layer) {
        if (channels_last)
            layer.forward(nf::view<const H, nlc>(in.data() + 1, {n, l, c}),
                          nf::view<H, nlc>(res.data() + 1, {n, l, c}));
        else
            layer.forward(nf::view<const H, ncl>(in.data() + 1, {n, c, l}),
                          nf::view<H, ncl>(res.data() + 1, {n, c, l}));
    };
    if (use_rms) {
        nf::nn::rms_norm<H, nf::shape<C<>>> rn({c}, {.eps = 1e-6, .elementwise_affine = affine});
        if (affine) std::copy(d.w.begin(), d.w.end(), rn.weight().data());
        run(rn);
        rms_reference(d, 1e-6, affine, y, slack);
    } else {
        nf::nn::layer_norm<H, nf::shape<C<>>> ln({c}, {.eps = 1e-5, .elementwise_affine = affine});
        if (affine) {
            std::copy(d.w.begin(), d.w.end(), ln.weight().data());
            std::copy(d.b.begin(), d.b.end(), ln.bias().data());
        }
        run(ln);
        ln_reference(d, 1e-5, affine, y, slack);
    }
    const auto ck = check_rows(res.data() + 1, y, slack, d.slots, c, at);
    CHECK(ck.bad == 0);
    CHECK(ck.mostly_nearest());
}

namespace {

/// A 4-d input (N, C, H, W) in logical order, with per-channel parameters and running statistics.
template <class H>
struct image_data {
    std::size_t n, c, h, w;
    std::vector<H> x, weight, bias, rm, rv;
    image_data(std::size_t n_, std::size_t c_, std::size_t h_, std::size_t w_, std::uint32_t seed)
        : n(n_), c(c_), h(h_), w(w_), x(n_ * c_ * h_ * w_), weight(c_), bias(c_), rm(c_), rv(c_) {
        for (std::size_t i = 0; i < x.size(); ++i) // a different offset per channel
            x[i] = random_half<H>(seed, 2.0f, 4.0f * static_cast<float>((i / (h * w)) % c) - 3.0f);
        for (auto& v : weight) v = random_half<H>(seed, 0.5f, 1.0f);
        for (auto& v : bias) v = random_half<H>(seed, 0.5f, 0.0f);
        for (auto& v : rm) v = random_half<H>(seed, 1.0f, 0.0f);
        for (auto& v : rv) v = random_half<H>(seed, 0.5f, 1.5f);
    }
    std::size_t size() const { return x.size(); }
    /// Memory position of logical (ni, ci, hi, wi) in NCHW or NHWC.
    std::size_t at(bool nhwc, std::size_t ni, std::size_t ci, std::size_t hi, std::size_t wi) const {
        return nhwc ? ((ni * h + hi) * w + wi) * c + ci : ((ni * c + ci) * h + hi) * w + wi;
    }
    std::size_t logical(std::size_t ni, std::size_t ci, std::size_t hi, std::size_t wi) const {
        return ((ni * c + ci) * h + hi) * w + wi;
    }
};

/// Exact outputs (logical order) of a per-group normalization: values whose `group_of(logical
/// index)` agree share a mean and variance; then * weight[c] + bias[c] (if `affine`). Slack as
/// LayerNorm's (ln_reference).
template <class H, class Group>
void group_reference(const image_data<H>& d, std::size_t groups, Group group_of, bool affine, double eps,
                     std::vector<double>& y, std::vector<double>& slack) {
    std::vector<double> s1(groups), s2(groups), cnt(groups), big(groups);
    for (std::size_t i = 0; i < d.size(); ++i) {
        s1[group_of(i)] += wide(d.x[i]);
        cnt[group_of(i)] += 1;
    }
    for (std::size_t g = 0; g < groups; ++g) s1[g] /= cnt[g];
    for (std::size_t i = 0; i < d.size(); ++i)
        s2[group_of(i)] += (wide(d.x[i]) - s1[group_of(i)]) * (wide(d.x[i]) - s1[group_of(i)]);
    for (std::size_t g = 0; g < groups; ++g) s2[g] = 1.0 / std::sqrt(s2[g] / cnt[g] + eps);
    for (std::size_t i = 0; i < d.size(); ++i)
        big[group_of(i)] = std::max(big[group_of(i)], std::fabs(wide(d.x[i]) - s1[group_of(i)]) * s2[group_of(i)]);
    y.assign(d.size(), 0);
    slack.assign(d.size(), 0);
    for (std::size_t i = 0; i < d.size(); ++i) {
        const std::size_t g = group_of(i), ch = (i / (d.h * d.w)) % d.c;
        const double wv = affine ? wide(d.weight[ch]) : 1.0, bv = affine ? wide(d.bias[ch]) : 0.0;
        y[i] = (wide(d.x[i]) - s1[g]) * s2[g] * wv + bv;
        slack[i] = float_slack(3 * big[g] * std::fabs(wv) + std::fabs(bv));
    }
}

template <class H>
half_checker check_image(const image_data<H>& d, const std::vector<H>& out, bool nhwc, const std::vector<double>& y,
                         const std::vector<double>& slack) {
    half_checker c;
    for (std::size_t ni = 0; ni < d.n; ++ni)
        for (std::size_t ci = 0; ci < d.c; ++ci)
            for (std::size_t hi = 0; hi < d.h; ++hi)
                for (std::size_t wi = 0; wi < d.w; ++wi) {
                    const std::size_t l = d.logical(ni, ci, hi, wi);
                    c.add(out[1 + d.at(nhwc, ni, ci, hi, wi)], y[l], slack[l]);
                }
    return c;
}

template <class H>
void copy_params(const std::vector<H>& from, H* to) {
    std::copy(from.begin(), from.end(), to);
}

} // namespace

TEMPLATE_TEST_CASE("half layers: BatchNorm, GroupNorm, InstanceNorm on (N, C, H, W) and (N, H, W, C)", "[layers][half]",
                   nf::bf16, nf::fp16) {
    using H = TestType;
    using nchw = nf::shape<N<>, C<>, nf::axes::H<>, W<>>;
    using nhwc = nf::shape<N<>, nf::axes::H<>, W<>, C<>>;
    const std::size_t n = 2, c = GENERATE(4, 6), h = 5, w = GENERATE(7, 33);
    const bool nhwc_layout = GENERATE(false, true);
    CAPTURE(c, w, nhwc_layout);
    image_data<H> d(n, c, h, w, static_cast<std::uint32_t>(c * 131 + w));
    // One element of offset: unaligned views.
    std::vector<H> in(d.size() + 1), out(d.size() + 1);
    for (std::size_t ni = 0; ni < n; ++ni)
        for (std::size_t ci = 0; ci < c; ++ci)
            for (std::size_t hi = 0; hi < h; ++hi)
                for (std::size_t wi = 0; wi < w; ++wi)
                    in[1 + d.at(nhwc_layout, ni, ci, hi, wi)] = d.x[d.logical(ni, ci, hi, wi)];
    auto run = [&](auto& layer) {
        if (nhwc_layout)
            layer.forward(nf::view<const H, nhwc>(in.data() + 1, {n, h, w, c}),
                          nf::view<H, nhwc>(out.data() + 1, {n, h, w, c}));
        else
            layer.forward(nf::view<const H, nchw>(in.data() + 1, {n, c, h, w}),
                          nf::view<H, nchw>(out.data() + 1, {n, c, h, w}));
    };
    const std::size_t hw = h * w;
    std::vector<double> y, slack;

    SECTION("batch_norm, training: batch statistics; running statistics updated in float, rounded once") {
        nf::nn::batch_norm<H, 2> bn(c);
        copy_params(d.weight, bn.weight().data());
        copy_params(d.bias, bn.bias().data());
        copy_params(d.rm, bn.running_mean().data());
        copy_params(d.rv, bn.running_var().data());
        run(bn);
        group_reference(
            d, c, [&](std::size_t i) { return (i / hw) % c; }, true, 1e-5, y, slack);
        const auto ck = check_image(d, out, nhwc_layout, y, slack);
        CHECK(ck.bad == 0);
        CHECK(ck.mostly_nearest());
        // Running statistics: (1 - 0.1) * old + 0.1 * batch (unbiased variance), one rounding.
        half_checker rs;
        const double m = static_cast<double>(n * hw);
        for (std::size_t ci = 0; ci < c; ++ci) {
            double mean = 0, var = 0;
            for (std::size_t ni = 0; ni < n; ++ni)
                for (std::size_t j = 0; j < hw; ++j) mean += wide(d.x[(ni * c + ci) * hw + j]);
            mean /= m;
            for (std::size_t ni = 0; ni < n; ++ni)
                for (std::size_t j = 0; j < hw; ++j)
                    var += (wide(d.x[(ni * c + ci) * hw + j]) - mean) * (wide(d.x[(ni * c + ci) * hw + j]) - mean);
            const double rm = 0.9 * wide(d.rm[ci]) + 0.1 * mean, rv = 0.9 * wide(d.rv[ci]) + 0.1 * var / (m - 1);
            rs.add(bn.running_mean().data()[ci], rm, float_slack(std::fabs(rm) + 1));
            rs.add(bn.running_var().data()[ci], rv, float_slack(rv));
        }
        CHECK(rs.bad == 0);
    }
    SECTION("batch_norm, eval: running statistics") {
        nf::nn::batch_norm<H, 2> bn(c);
        copy_params(d.weight, bn.weight().data());
        copy_params(d.bias, bn.bias().data());
        copy_params(d.rm, bn.running_mean().data());
        copy_params(d.rv, bn.running_var().data());
        bn.eval();
        run(std::as_const(bn));
        y.assign(d.size(), 0);
        slack.assign(d.size(), 0);
        for (std::size_t i = 0; i < d.size(); ++i) {
            const std::size_t ci = (i / hw) % c;
            const double a = wide(d.weight[ci]) / std::sqrt(wide(d.rv[ci]) + 1e-5);
            y[i] = (wide(d.x[i]) - wide(d.rm[ci])) * a + wide(d.bias[ci]);
            slack[i] = float_slack(3 * std::fabs((wide(d.x[i]) - wide(d.rm[ci])) * a) + std::fabs(wide(d.bias[ci])));
        }
        const auto ck = check_image(d, out, nhwc_layout, y, slack);
        CHECK(ck.bad == 0);
        CHECK(ck.mostly_nearest());
    }
    SECTION("group_norm, 2 groups") {
        nf::nn::group_norm<H> gn(2, c);
        copy_params(d.weight, gn.weight().data());
        copy_params(d.bias, gn.bias().data());
        run(gn);
        group_reference(
            d, n * 2, [&](std::size_t i) { return (i / (c * hw)) * 2 + ((i / hw) % c) / (c / 2); }, true, 1e-5, y,
            slack);
        const auto ck = check_image(d, out, nhwc_layout, y, slack);
        CHECK(ck.bad == 0);
        CHECK(ck.mostly_nearest());
    }
    SECTION("instance_norm, affine") {
        nf::nn::instance_norm<H, 2> in_layer(c, {.affine = true});
        copy_params(d.weight, in_layer.weight().data());
        copy_params(d.bias, in_layer.bias().data());
        run(in_layer);
        group_reference(
            d, n * c, [&](std::size_t i) { return i / hw; }, true, 1e-5, y, slack);
        const auto ck = check_image(d, out, nhwc_layout, y, slack);
        CHECK(ck.bad == 0);
        CHECK(ck.mostly_nearest());
    }
}

TEMPLATE_TEST_CASE("half layers: Normalize rounds after the subtraction, as torchvision's sub_ then div_",
                   "[layers][half]", nf::bf16, nf::fp16) {
    using H = TestType;
    using nchw = nf::shape<N<>, C<3>, nf::axes::H<>, W<>>;
    using nhwc = nf::shape<N<>, nf::axes::H<>, W<>, C<3>>;
    const std::size_t n = 2, h = 3, w = GENERATE(1, 17, 64);
    image_data<H> d(n, 3, h, w, static_cast<std::uint32_t>(w));
    const nf::nn::normalize<H> norm({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    nf::tensor<H, nchw> x({n, h, w});
    std::copy(d.x.begin(), d.x.end(), x.data());
    nf::tensor<H, nhwc> y({n, h, w});
    norm.forward(x, y);
    const auto z = norm(x);
    std::size_t wrong = 0;
    for (std::size_t ni = 0; ni < n; ++ni)
        for (std::size_t ci = 0; ci < 3; ++ci)
            for (std::size_t hi = 0; hi < h; ++hi)
                for (std::size_t wi = 0; wi < w; ++wi) {
                    // Float arithmetic is exact IEEE: the bits are determined.
                    const float m = static_cast<float>(norm.mean().data()[ci]);
                    const float s = static_cast<float>(norm.std().data()[ci]);
                    const float diff = static_cast<float>(H(static_cast<float>(d.x[d.logical(ni, ci, hi, wi)]) - m));
                    const H want(diff / s);
                    wrong += y.data()[d.at(true, ni, ci, hi, wi)].bits != want.bits;
                    wrong += z.data()[d.at(false, ni, ci, hi, wi)].bits != want.bits;
                }
    CHECK(wrong == 0);
    CHECK(norm.mean().data()[0].bits == H(0.485f).bits);
}

namespace {

std::vector<nf::bf16> bf16_values(const nf_test::ref_tensor& t) {
    std::vector<nf::bf16> v(t.numel());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = nf::bf16(static_cast<float>(t.values[i]));
    return v;
}

/// The unit of bf16 at max(|v|, 1): the scale of LayerNorm's and the others' outputs.
double unit_at_least_one(double v) {
    return ulp16<nf::bf16>(std::max(std::fabs(v), 1.0));
}

} // namespace

TEST_CASE("half layers: bf16 against PyTorch 1.13 (tests/reference/data/half_*.ref)", "[layers][half][reference]") {
    using B = nf::bf16;
    using nchw = nf::shape<N<>, C<>, nf::axes::H<>, W<>>;
    using nhwc = nf::shape<N<>, nf::axes::H<>, W<>, C<>>;
    const char* names[] = {"half_layernorm_5x768_bf16",
                           "half_layernorm_3x67_bf16",
                           "half_batchnorm2d_nchw_train_bf16",
                           "half_batchnorm2d_nchw_eval_bf16",
                           "half_groupnorm_nchw_g3_bf16",
                           "half_instancenorm2d_nchw_affine_bf16",
                           "half_batchnorm2d_nhwc_train_bf16",
                           "half_batchnorm2d_nhwc_eval_bf16",
                           "half_groupnorm_nhwc_g3_bf16",
                           "half_instancenorm2d_nhwc_affine_bf16",
                           "half_normalize_bf16"};
    for (const char* name : names) {
        CAPTURE(name);
        const auto r = nf_test::load_reference_case(name);
        const std::string layer = r.param("layer");
        const auto& in = r.tensor("input");
        const auto x = bf16_values(in);
        std::vector<B> got(x.size() + 1); // +1: an unaligned output
        std::vector<B> xin(x.size() + 1);
        std::vector<std::size_t> pos(x.size()); // memory position of each logical element
        const bool nhwc_layout = r.has_param("layout") && r.param("layout") == "nhwc";
        if (in.rank() == 4) {
            const std::size_t c = in.shape[1], h = in.shape[2], w = in.shape[3];
            for (std::size_t i = 0; i < x.size(); ++i) {
                const std::size_t wi = i % w, hi = i / w % h, ci = i / (w * h) % c, ni = i / (w * h * c);
                pos[i] = nhwc_layout ? ((ni * h + hi) * w + wi) * c + ci : i;
            }
        } else {
            for (std::size_t i = 0; i < x.size(); ++i) pos[i] = i;
        }
        for (std::size_t i = 0; i < x.size(); ++i) xin[1 + pos[i]] = x[i];
        auto run4 = [&](auto&& layer_object) {
            const std::size_t n = in.shape[0], c = in.shape[1], h = in.shape[2], w = in.shape[3];
            if (nhwc_layout)
                layer_object.forward(nf::view<const B, nhwc>(xin.data() + 1, {n, h, w, c}),
                                     nf::view<B, nhwc>(got.data() + 1, {n, h, w, c}));
            else
                layer_object.forward(nf::view<const B, nchw>(xin.data() + 1, {n, c, h, w}),
                                     nf::view<B, nchw>(got.data() + 1, {n, c, h, w}));
        };
        auto params = [&](auto& l) {
            const auto w = bf16_values(r.tensor("weight")), b = bf16_values(r.tensor("bias"));
            std::copy(w.begin(), w.end(), l.weight().data());
            std::copy(b.begin(), b.end(), l.bias().data());
        };
        if (layer == "LayerNorm") {
            const std::size_t t = in.shape[0], h = in.shape[1];
            nf::nn::layer_norm<B, nf::shape<C<>>> ln({h});
            params(ln);
            ln.forward(nf::view<const B, nf::shape<N<>, C<>>>(xin.data() + 1, {t, h}),
                       nf::view<B, nf::shape<N<>, C<>>>(got.data() + 1, {t, h}));
        } else if (layer == "BatchNorm2d") {
            nf::nn::batch_norm<B, 2> bn(in.shape[1]);
            params(bn);
            const bool training = r.param("training") == "true";
            const auto rm = bf16_values(r.tensor(training ? "running_mean_init" : "running_mean"));
            const auto rv = bf16_values(r.tensor(training ? "running_var_init" : "running_var"));
            std::copy(rm.begin(), rm.end(), bn.running_mean().data());
            std::copy(rv.begin(), rv.end(), bn.running_var().data());
            if (!training) bn.eval();
            run4(bn);
            if (training) {
                // The running statistics: PyTorch's, within one unit of their own magnitude.
                const auto& want_m = r.tensor("running_mean").values;
                const auto& want_v = r.tensor("running_var").values;
                for (std::size_t ch = 0; ch < want_m.size(); ++ch) {
                    CHECK(std::fabs(wide(bn.running_mean().data()[ch]) - want_m[ch]) <= ulp16<B>(want_m[ch]));
                    CHECK(std::fabs(wide(bn.running_var().data()[ch]) - want_v[ch]) <= ulp16<B>(want_v[ch]));
                }
            }
        } else if (layer == "GroupNorm") {
            nf::nn::group_norm<B> gn(static_cast<std::size_t>(r.param_double("num_groups")), in.shape[1]);
            params(gn);
            run4(gn);
        } else if (layer == "InstanceNorm2d") {
            nf::nn::instance_norm<B, 2> inorm(in.shape[1], {.affine = true});
            params(inorm);
            run4(inorm);
        } else {
            REQUIRE(layer == "Normalize");
            const nf::nn::normalize<B> norm({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
            norm.forward(nf::view<const B, nf::shape<N<>, C<3>, nf::axes::H<>, W<>>>(
                             xin.data() + 1, {in.shape[0], in.shape[2], in.shape[3]}),
                         nf::view<B, nf::shape<N<>, C<3>, nf::axes::H<>, W<>>>(
                             got.data() + 1, {in.shape[0], in.shape[2], in.shape[3]}));
        }
        const auto& torch_out = r.tensor("output").values;
        const auto& exact = r.tensor("exact").values;
        std::size_t far_from_exact = 0, far_from_torch = 0, same_as_torch = 0, torch_rounded_once = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double g = wide(got[1 + pos[i]]), t = torch_out[i], e = exact[i];
            same_as_torch += g == t;
            if (layer == "Normalize") continue; // torchvision rounds twice: bit for bit below
            // normfuse rounds once from float: within half a unit of the exact value, plus float's
            // error (2^-16 of the output's scale: 1/512 of a unit).
            far_from_exact += !(std::fabs(g - e) <= 0.5 * ulp16<B>(e) + std::ldexp(std::max(std::fabs(e), 1.0), -16));
            // Where PyTorch itself is within half a unit (at the outputs' scale) of the exact value,
            // normfuse is within one unit of PyTorch.
            if (std::fabs(t - e) <= 0.5 * unit_at_least_one(e)) {
                ++torch_rounded_once;
                far_from_torch += !(std::fabs(g - t) <= unit_at_least_one(e));
            }
        }
        CHECK(far_from_exact == 0);
        CHECK(far_from_torch == 0);
        if (layer == "Normalize" || (layer == "BatchNorm2d" && r.param("training") == "false"))
            CHECK(same_as_torch == x.size()); // PyTorch rounds these once (or as normfuse does): the same bits
        else
            CHECK(torch_rounded_once * 4 >= x.size()); // the comparison with PyTorch covers a good part
        UNSCOPED_INFO(name << ": same bits as PyTorch " << same_as_torch << " / " << x.size());
    }
}
