// Runtime tests of assignments that hold reductions and are evaluated in one pass, each reduction
// computed slot by slot in the loop (eval/row_local.hpp), or in boxes of the destination's leading
// axes (eval/blocked.hpp): inputs above the box size, cut along one axis, along two (one index of
// the first and a range of the second), slots met in several runs, kept axes in another order than
// the destination's, odd row lengths, serial and with two threads, against float64 references
// computed here.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {

constexpr double unit = 0x1p-24;

double max_abs(const std::vector<double>& v) {
    double m = 1;
    for (double a : v) m = std::max(m, std::abs(a));
    return m;
}

template <class V>
void check_close(const V& got, const std::vector<double>& want, double tolerance) {
    REQUIRE(got.size() == want.size());
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double e = std::abs(static_cast<double>(got.data()[i]) - want[i]);
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    INFO("max error " << worst << " at " << at << ", tolerance " << tolerance);
    CHECK(worst <= tolerance);
}

float value(std::size_t i, std::size_t row_len) {
    return static_cast<float>(static_cast<int>((i * 7919) % 101) - 50) / 32.0f +
           0.25f * static_cast<float>(i / row_len % 11);
}

template <class F>
void serial_and_threaded(F&& f) {
    const int before = nf::num_threads();
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        INFO("threads: " << threads);
        f();
    }
    nf::set_num_threads(before);
}

} // namespace

// Static: which assignments are cut, and along how many leading axes.
namespace {
using nlc = nf::shape<N<>, L<>, C<>>;
using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;
using x_nlc = nf::view<const float, nlc>;
using x_ngkhw = nf::view<const float, ngkhw>;
using rms_expr = decltype(std::declval<x_nlc>() * nf::rsqrt(nf::mean<C>(nf::square(std::declval<x_nlc>())) + 1.0f));
using over_n_expr = decltype(std::declval<x_nlc>() - nf::mean<N>(std::declval<x_nlc>()));
using plain_expr = decltype(std::declval<x_nlc>() * 2.0f);
using gn_expr = decltype((std::declval<x_ngkhw>() - nf::mean<K, H, W>(std::declval<x_ngkhw>())) *
                         nf::rsqrt(nf::var<K, H, W>(std::declval<x_ngkhw>()) + 1.0f) *
                         std::declval<nf::view<const float, nf::shape<G<>, K<>>>>());
using over_kw_expr = decltype(std::declval<x_ngkhw>() - nf::mean<K, W>(std::declval<x_ngkhw>()));
static_assert(nf::detail::block_prefix<nlc::axes, rms_expr>() == 2);
static_assert(nf::detail::block_prefix<nlc::axes, over_n_expr>() == 0); // reduces over the leading axis
static_assert(nf::detail::block_prefix<nlc::axes, plain_expr>() == 0);  // no reduction: one pass already
static_assert(nf::detail::block_prefix<ngkhw::axes, over_kw_expr>() == 2);

template <class S, class E>
using plan_of = nf::detail::plan<float, xsimd::default_arch, typename S::axes, E>;
// Row-local: the mean of squares keeps (N, L), the loop's outer axes, and reduces over its run C.
static_assert(nf::detail::all_row_local<rms_expr, plan_of<nlc, rms_expr>>());
// GroupNorm: gamma over (G, K) makes the run (H, W); the statistics keep (N, G), met in K runs each.
static_assert(plan_of<ngkhw, gn_expr>::outer == 3);
static_assert(nf::detail::all_row_local<gn_expr, plan_of<ngkhw, gn_expr>>());
// Keeps (N, G, H): H is not a leading axis of the destination, so slots are not met one after
// another; boxes instead.
static_assert(!nf::detail::all_row_local<over_kw_expr, plan_of<ngkhw, over_kw_expr>>());
// Reduces over the leading axis N: neither.
static_assert(!nf::detail::all_row_local<over_n_expr, plan_of<nlc, over_n_expr>>());
} // namespace

TEST_CASE("row-local: RMSNorm written as an expression over (N, L, C), the mean of squares row by row", "[blocked]") {
    const std::size_t n = 3, l = 200, c = 384; // 900 KiB
    std::vector<float> x(n * l * c), w(c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, c);
    for (std::size_t j = 0; j < c; ++j) w[j] = 0.5f + static_cast<float>(j % 9) * 0.125f;
    std::vector<double> want(x.size());
    for (std::size_t r = 0; r < n * l; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += static_cast<double>(x[r * c + j]) * x[r * c + j];
        const double inv = 1 / std::sqrt(s / static_cast<double>(c) + 1e-6);
        for (std::size_t j = 0; j < c; ++j) want[r * c + j] = x[r * c + j] * inv * w[j];
    }
    serial_and_threaded([&] {
        nf::tensor<float, nlc> y({n, l, c});
        const x_nlc xv(x.data(), {n, l, c});
        const nf::view<const float, nf::shape<C<>>> wv(w.data(), {c});
        y = xv * nf::rsqrt(nf::mean<C>(nf::square(xv)) + 1e-6f) * wv;
        // rounding: the mean of squares (double), rsqrt, two products: a few units of max|y|
        check_close(y, want, 8 * unit * max_abs(want));
    });
}

namespace {
/// GroupNorm in float64 over logical (N, G, K, H, W) data with gamma and beta over (G, K).
std::vector<double> group_norm_reference(const std::vector<float>& x, std::size_t g, std::size_t k, std::size_t hw,
                                         const std::vector<float>& gamma, const std::vector<float>& beta) {
    const std::size_t inner = k * hw;
    std::vector<double> want(x.size());
    for (std::size_t s = 0; s < x.size() / inner; ++s) {
        const float* p = x.data() + s * inner;
        double mean = 0, m2 = 0;
        for (std::size_t j = 0; j < inner; ++j) mean += p[j];
        mean /= static_cast<double>(inner);
        for (std::size_t j = 0; j < inner; ++j) m2 += (p[j] - mean) * (p[j] - mean);
        const double inv = 1 / std::sqrt(m2 / static_cast<double>(inner) + 1e-5);
        for (std::size_t j = 0; j < inner; ++j) {
            const std::size_t q = s % g * k + j / hw;
            want[s * inner + j] = (p[j] - mean) * inv * gamma[q] + beta[q];
        }
    }
    return want;
}

/// The GroupNorm expression on (N, G, K, H, W) = e, serial and threaded, against the reference.
void check_group_norm_expression(const std::array<std::size_t, 5>& e, const std::vector<float>& x,
                                 const std::vector<float>& gamma, const std::vector<float>& beta, double tolerance) {
    const auto want = group_norm_reference(x, e[1], e[2], e[3] * e[4], gamma, beta);
    serial_and_threaded([&] {
        const auto ext = nf::extents<ngkhw>::from_all(e);
        nf::tensor<float, ngkhw> y(ext);
        const x_ngkhw xv(x.data(), ext);
        const nf::view<const float, nf::shape<G<>, K<>>> gv(gamma.data(), {e[1], e[2]}), bv(beta.data(), {e[1], e[2]});
        y = (xv - nf::mean<K, H, W>(xv)) * nf::rsqrt(nf::var<K, H, W>(xv) + 1e-5f) * gv + bv;
        check_close(y, want, tolerance + 8 * unit * max_abs(want));
    });
}
} // namespace

TEST_CASE("row-local: GroupNorm written as an expression over (N, G, K, H, W), gamma over (G, K)", "[blocked]") {
    const std::size_t n = 2, g = 6, k = 4, h = 20, w = 20, inner = k * h * w; // 75 KiB
    std::vector<float> x(n * g * inner), gamma(g * k), beta(g * k);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, inner) + 1000.0f * static_cast<float>(i / inner % 3);
    for (std::size_t j = 0; j < g * k; ++j) {
        gamma[j] = 0.75f + 0.0625f * static_cast<float>(j);
        beta[j] = static_cast<float>(j % 5) - 2.0f;
    }
    // |mean| up to 2000 >> std: the expression rounds the mean to float (half a unit of 2000), and
    // that error is carried into y times 1/std * gamma (below 3 here); check_group_norm_expression
    // adds a few units of max|y| for the other roundings.
    check_group_norm_expression({n, g, k, h, w}, x, gamma, beta, 0.5 * unit * 2000 * 3);
}

TEST_CASE("row-local: GroupNorm expression on 2.4 MiB, groups of 25 KiB each met in 8 runs", "[blocked]") {
    const std::size_t n = 3, g = 32, k = 8, h = 28, w = 28, inner = k * h * w;
    std::vector<float> x(n * g * inner), gamma(g * k, 1.5f), beta(g * k);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, inner);
    for (std::size_t j = 0; j < g * k; ++j) beta[j] = static_cast<float>(j % 3);
    check_group_norm_expression({n, g, k, h, w}, x, gamma, beta, 0);
}

TEST_CASE("blocked: a mean over (K, W) of (N, G, K, H, W) is cut along N and G", "[blocked]") {
    const std::size_t n = 2, g = 5, k = 6, h = 24, w = 40, inner = k * h * w; // 450 KiB
    std::vector<float> x(n * g * inner);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, w) + 100.0f * static_cast<float>(i / inner % 4);
    std::vector<double> want(x.size());
    for (std::size_t s = 0; s < n * g; ++s)
        for (std::size_t hi = 0; hi < h; ++hi) {
            double m = 0;
            for (std::size_t ki = 0; ki < k; ++ki)
                for (std::size_t wi = 0; wi < w; ++wi) m += x[s * inner + (ki * h + hi) * w + wi];
            m /= static_cast<double>(k * w);
            for (std::size_t ki = 0; ki < k; ++ki)
                for (std::size_t wi = 0; wi < w; ++wi) {
                    const std::size_t i = s * inner + (ki * h + hi) * w + wi;
                    want[i] = x[i] - m;
                }
        }
    serial_and_threaded([&] {
        const auto ext = nf::extents<ngkhw>::from_all({n, g, k, h, w});
        nf::tensor<float, ngkhw> y(ext);
        const x_ngkhw xv(x.data(), ext);
        y = xv - nf::mean<K, W>(xv);
        // the mean rounded to float (|mean| < 305: at most unit * 305), then x - mean rounded
        check_close(y, want, unit * 305 + 2 * unit * max_abs(want));
    });
}

TEST_CASE("row-local: kept axes in another order than the destination's, odd rows, every kind", "[blocked]") {
    // x is stored (L, N, C) and assigned to (N, L, C): the slot of destination row (n, l) is
    // l * N + n in the operand's loop. C = 37 leaves a scalar tail in every row.
    const std::size_t n = 3, l = 50, c = 37;
    using lnc = nf::shape<L<>, N<>, C<>>;
    std::vector<float> x(l * n * c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, c) + 20.0f;
    auto at = [&](std::size_t ni, std::size_t li, std::size_t ci) { return x[(li * n + ni) * c + ci]; };
    std::vector<double> want_center(n * l * c), want_scaled(n * l * c), want_sum(n * l * c);
    for (std::size_t ni = 0; ni < n; ++ni)
        for (std::size_t li = 0; li < l; ++li) {
            double s = 0;
            for (std::size_t ci = 0; ci < c; ++ci) s += at(ni, li, ci);
            const double m = s / static_cast<double>(c);
            double m2 = 0;
            for (std::size_t ci = 0; ci < c; ++ci) m2 += (at(ni, li, ci) - m) * (at(ni, li, ci) - m);
            const double sd = std::sqrt(m2 / static_cast<double>(c - 1)); // unbiased
            for (std::size_t ci = 0; ci < c; ++ci) {
                const std::size_t i = (ni * l + li) * c + ci;
                want_center[i] = at(ni, li, ci) - m;
                want_scaled[i] = (at(ni, li, ci) - m) / sd;
                want_sum[i] = at(ni, li, ci) * s;
            }
        }
    using x_lnc = nf::view<const float, lnc>;
    using centered_expr = decltype(std::declval<x_lnc>() - nf::mean<C>(std::declval<x_lnc>()));
    static_assert(nf::detail::all_row_local<centered_expr, plan_of<nlc, centered_expr>>());
    serial_and_threaded([&] {
        const x_lnc xv(x.data(), {l, n, c});
        nf::tensor<float, nlc> y({n, l, c});
        y = xv - nf::mean<C>(xv);
        // |mean| < 25: the mean rounded to float (at most unit * 25), then the difference
        check_close(y, want_center, unit * 25 + 2 * unit * max_abs(want_center));
        y = (xv - nf::mean<C>(xv)) / nf::sqrt(nf::var<C>(xv, nf::unbiased));
        // the same, divided by a standard deviation above 0.5, and the roundings of sqrt and /
        check_close(y, want_scaled, 2 * (unit * 25) + 8 * unit * max_abs(want_scaled));
        y = xv * nf::sum<C>(xv);
        check_close(y, want_sum, 4 * unit * max_abs(want_sum));
    });
}

TEST_CASE("inv_rms (RMSNorm's scale) hoisted and row by row agree with float64", "[blocked]") {
    // Over (N, C): inv_rms over C keeps N, the leading axis (row by row); inv_rms over N keeps C,
    // which is not (hoisted: one pass for all channels before the loop).
    const std::size_t n = 6, c = 45;
    std::vector<float> x(n * c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = value(i, c);
    const double eps = 1e-3;
    std::vector<double> want_rows(x.size()), want_cols(x.size());
    for (std::size_t r = 0; r < n; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += static_cast<double>(x[r * c + j]) * x[r * c + j];
        for (std::size_t j = 0; j < c; ++j) want_rows[r * c + j] = x[r * c + j] / std::sqrt(s / c + eps);
    }
    for (std::size_t j = 0; j < c; ++j) {
        double s = 0;
        for (std::size_t r = 0; r < n; ++r) s += static_cast<double>(x[r * c + j]) * x[r * c + j];
        for (std::size_t r = 0; r < n; ++r) want_cols[r * c + j] = x[r * c + j] / std::sqrt(s / n + eps);
    }
    using nc = nf::shape<N<>, C<>>;
    using x_nc = nf::view<const float, nc>;
    using rows_expr = decltype(std::declval<x_nc>() * nf::detail::inv_rms<C<>>(std::declval<x_nc>(), 0.0));
    using cols_expr = decltype(std::declval<x_nc>() * nf::detail::inv_rms<N<>>(std::declval<x_nc>(), 0.0));
    static_assert(nf::detail::all_row_local<rows_expr, plan_of<nc, rows_expr>>());
    static_assert(!nf::detail::all_row_local<cols_expr, plan_of<nc, cols_expr>>());
    serial_and_threaded([&] {
        const x_nc xv(x.data(), {n, c});
        nf::tensor<float, nc> y({n, c});
        // the scale computed in double and rounded to float, then one product: 2 units of max|y|
        y = xv * nf::detail::inv_rms<C<>>(xv, eps);
        check_close(y, want_rows, 2 * unit * max_abs(want_rows));
        y = xv * nf::detail::inv_rms<N<>>(xv, eps);
        check_close(y, want_cols, 2 * unit * max_abs(want_cols));
    });
}

TEST_CASE("row-local: a mean and a variance of the same operand share one read; of different operands, not",
          "[blocked]") {
    // LayerNorm over C of (N, L, C), written as users write it. mean<C>(x) and var<C>(x) are a
    // pair (the same reduced axes, operands of the same type): when the two operands are the same
    // arrays, the variance's shifted sums give the mean too, and the slot is read once. `z` is
    // another array of the same type, whose statistics must not be taken for x's.
    const std::size_t n = 2, l = 33, c = 101; // odd rows: scalar tails
    std::vector<float> x(n * l * c), z(n * l * c);
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = value(i, c) + 40.0f;
        z[i] = 3.0f * value(i + 17, c) - 5.0f;
    }
    using x_expr = decltype(std::declval<x_nlc>() - nf::mean<C>(std::declval<x_nlc>()));
    using ln_expr = decltype(std::declval<x_expr>() * nf::rsqrt(nf::var<C>(std::declval<x_nlc>()) + 1.0f));
    using mean_t = decltype(nf::mean<C>(std::declval<x_nlc>()));
    using var_t = decltype(nf::var<C>(std::declval<x_nlc>()));
    static_assert(nf::detail::has_moments_partner<ln_expr, mean_t>());
    static_assert(nf::detail::has_moments_partner<ln_expr, var_t>());
    static_assert(!nf::detail::has_moments_partner<x_expr, mean_t>()); // a mean alone sums plainly
    static_assert(!nf::detail::has_moments_partner<decltype(nf::mean<C>(std::declval<x_nlc>()) +
                                                            nf::var<L>(std::declval<x_nlc>())),
                                                   mean_t>()); // other axes
    auto stats = [&](const std::vector<float>& v, std::size_t r) {
        double s = 0, s2 = 0;
        for (std::size_t j = 0; j < c; ++j) s += v[r * c + j];
        const double m = s / static_cast<double>(c);
        for (std::size_t j = 0; j < c; ++j) s2 += (v[r * c + j] - m) * (v[r * c + j] - m);
        return std::pair<double, double>{m, s2 / static_cast<double>(c)};
    };
    std::vector<double> same(x.size()), mixed(x.size());
    for (std::size_t r = 0; r < n * l; ++r) {
        const auto [mx, vx] = stats(x, r);
        const auto [mz, vz] = stats(z, r);
        (void)mz;
        for (std::size_t j = 0; j < c; ++j) {
            same[r * c + j] = (x[r * c + j] - mx) / std::sqrt(vx + 1e-5);
            mixed[r * c + j] = (x[r * c + j] - mx) / std::sqrt(vz + 1e-5);
        }
    }
    serial_and_threaded([&] {
        const x_nlc xv(x.data(), {n, l, c}), zv(z.data(), {n, l, c});
        nf::tensor<float, nlc> y({n, l, c});
        // |mean| < 45: the mean rounded to float (unit * 45), the difference, 1 / sqrt of a
        // variance above 0.5 (times 1.5), and the roundings of rsqrt and the product
        y = (xv - nf::mean<C>(xv)) * nf::rsqrt(nf::var<C>(xv) + 1e-5f);
        check_close(y, same, 1.5 * unit * 45 + 8 * unit * max_abs(same));
        y = (xv - nf::mean<C>(xv)) * nf::rsqrt(nf::var<C>(zv) + 1e-5f);
        check_close(y, mixed, 1.5 * unit * 45 + 8 * unit * max_abs(mixed));
        // The variance first, then the mean: the same numbers.
        y = nf::rsqrt(nf::var<C>(xv) + 1e-5f) * (xv - nf::mean<C>(xv));
        check_close(y, same, 1.5 * unit * 45 + 8 * unit * max_abs(same));
    });
}

TEST_CASE("hoisted: a mean and a variance of the same operand share one pass of shifted sums", "[blocked]") {
    // BatchNorm written out over (N, C, H, W) and (N, H, W, C): both reductions keep C, which the
    // loop does not meet one slot after another, so they are computed before the loop. As a pair
    // over the same operand they share one pass (reduce_expr::shifted_sums); the variance of
    // another array of the same type must not take x's sums.
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    using x_nchw = nf::view<const float, nchw>;
    using bn_expr = decltype((std::declval<x_nchw>() - nf::mean<N, H, W>(std::declval<x_nchw>())) *
                             nf::rsqrt(nf::var<N, H, W>(std::declval<x_nchw>()) + 1.0f));
    static_assert(!nf::detail::all_row_local<bn_expr, plan_of<nchw, bn_expr>>());
    static_assert(nf::detail::block_prefix<nchw::axes, bn_expr>() == 0); // hoisted, not in boxes
    static_assert(
        nf::detail::shares_sums<decltype(nf::mean<N, H, W>(std::declval<x_nchw>())), plan_of<nchw, bn_expr>>());
    const std::size_t n = 3, c = 5, h = 7, w = 9, per = n * h * w;
    std::vector<float> x(n * c * h * w), z(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = value(i, 13) + 100.0f * static_cast<float>(i / (h * w) % c); // channel means up to ~400
        z[i] = 2.0f * value(i + 5, 11) + 1.0f;
    }
    auto channel_stats = [&](const std::vector<float>& v, std::size_t ch) {
        double s = 0, s2 = 0;
        for (std::size_t ni = 0; ni < n; ++ni)
            for (std::size_t j = 0; j < h * w; ++j) s += v[(ni * c + ch) * h * w + j];
        const double m = s / static_cast<double>(per);
        for (std::size_t ni = 0; ni < n; ++ni)
            for (std::size_t j = 0; j < h * w; ++j) {
                const double d = v[(ni * c + ch) * h * w + j] - m;
                s2 += d * d;
            }
        return std::pair<double, double>{m, s2 / static_cast<double>(per)};
    };
    std::vector<double> same(x.size()), mixed(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = i / (h * w) % c;
        const auto [mx, vx] = channel_stats(x, ch);
        const auto [mz, vz] = channel_stats(z, ch);
        (void)mz;
        same[i] = (x[i] - mx) / std::sqrt(vx + 1e-5);
        mixed[i] = (x[i] - mx) / std::sqrt(vz + 1e-5);
    }
    // |mean| < 420: the mean rounded to float (unit * 420) times 1 / std (std above 0.5 here: at
    // most 2), and the roundings of rsqrt, the difference and the product
    const double tol = 2 * unit * 420;
    serial_and_threaded([&] {
        const x_nchw xv(x.data(), {n, c, h, w}), zv(z.data(), {n, c, h, w});
        nf::tensor<float, nchw> y({n, c, h, w});
        y = (xv - nf::mean<N, H, W>(xv)) * nf::rsqrt(nf::var<N, H, W>(xv) + 1e-5f);
        check_close(y, same, tol + 8 * unit * max_abs(same));
        y = nf::rsqrt(nf::var<N, H, W>(xv) + 1e-5f) * (xv - nf::mean<N, H, W>(xv));
        check_close(y, same, tol + 8 * unit * max_abs(same));
        y = (xv - nf::mean<N, H, W>(xv)) * nf::rsqrt(nf::var<N, H, W>(zv) + 1e-5f);
        check_close(y, mixed, tol + 8 * unit * max_abs(mixed));
        // The same data channels-last: the layout of the hoisted values differs, the numbers do not.
        nf::tensor<float, nhwc> xl({n, h, w, c}), yl({n, h, w, c});
        for (std::size_t ni = 0; ni < n; ++ni)
            for (std::size_t ch = 0; ch < c; ++ch)
                for (std::size_t j = 0; j < h * w; ++j)
                    xl.data()[(ni * h * w + j) * c + ch] = x[(ni * c + ch) * h * w + j];
        yl = (xl - nf::mean<N, H, W>(xl)) * nf::rsqrt(nf::var<N, H, W>(xl) + 1e-5f);
        std::vector<double> got(same.size());
        for (std::size_t ni = 0; ni < n; ++ni)
            for (std::size_t ch = 0; ch < c; ++ch)
                for (std::size_t j = 0; j < h * w; ++j)
                    got[(ni * c + ch) * h * w + j] = yl.data()[(ni * h * w + j) * c + ch];
        double worst = 0;
        for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - same[i]));
        CHECK(worst <= tol + 8 * unit * max_abs(same));
    });
}
