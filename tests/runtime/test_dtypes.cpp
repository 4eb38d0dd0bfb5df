// Runtime tests of the element types (core/element.hpp), nf::cast (expr/cast.hpp) and converting
// stores (eval/assign.hpp): uint8 images (N, H, W, C) normalized into float (N, C, H, W) against
// PyTorch 1.13 and against a float reference in the same operation order (bit-exact); bf16 and
// fp16 in, float compute, bf16 and fp16 out against a double reference within half a unit in the
// last place of the 16-bit type (one rounding); odd extents and unaligned views, so that every run
// has a head and a tail. The suite builds this file for AVX-512 (g++), AVX2+FMA without F16C
// (clang) and SSE2 (sanitize), so each conversion path of core/convert.hpp is run.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/reduce/reductions.hpp>

#include "support/reference_file.hpp"

using namespace nf::axes;

namespace {

using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc3 = nf::shape<N<>, H<>, W<>, C<3>>;
using nchw3 = nf::shape<N<>, C<3>, H<>, W<>>;

std::uint32_t lcg(std::uint32_t& s) {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
}

/// The unit in the last place of `v` in a format with `F` fraction bits and minimum exponent
/// `emin` (2^(max(floor(log2 |v|), emin) - F)).
double ulp(double v, int F, int emin) {
    int e;
    (void)std::frexp(std::fabs(v), &e);
    return std::ldexp(1.0, std::max(e - 1, emin) - F);
}
double bf16_ulp(double v) {
    return ulp(v, 7, -126);
}
double fp16_ulp(double v) {
    return ulp(v, 10, -14);
}

} // namespace

TEST_CASE("dtypes: uint8 NHWC image to float NCHW, (x / 255 - mean) / std, as PyTorch 1.13", "[dtypes][reference]") {
    for (const char* name : {"uint8_normalize_2x5x7x3", "uint8_normalize_1x3x33x3"}) {
        CAPTURE(name);
        const auto ref = nf_test::load_reference_case(name);
        const auto& in = ref.tensor("input");
        const auto& out = ref.tensor("output");
        const std::size_t n = in.shape[0], h = in.shape[1], w = in.shape[2];
        REQUIRE(in.shape[3] == 3);
        std::vector<std::uint8_t> pixels(in.numel() + 1); // +1: an unaligned view
        for (std::size_t i = 0; i < in.numel(); ++i) pixels[i + 1] = static_cast<std::uint8_t>(in.values[i]);
        const nf::view<const std::uint8_t, nhwc3> x(pixels.data() + 1, {n, h, w});
        // torchvision rounds the Python doubles of mean and std to the input's dtype.
        nf::tensor<float, nf::shape<C<3>>> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
        nf::tensor<float, nchw3> y({n, h, w});
        y = (nf::cast<float>(x) / 255.f - mean) / std;
        std::size_t differ = 0;
        for (std::size_t i = 0; i < out.numel(); ++i) differ += y.data()[i] != static_cast<float>(out.values[i]);
        CHECK(differ == 0);
    }
}

TEST_CASE("dtypes: uint8 image normalization, odd extents, unaligned views, both layouts", "[dtypes]") {
    const std::size_t n = GENERATE(1, 2);
    const std::size_t h = GENERATE(1, 3);
    const std::size_t w = GENERATE(1, 7, 33, 100);
    const std::size_t c = GENERATE(1, 3, 4, 17);
    CAPTURE(n, h, w, c);
    const std::size_t count = n * h * w * c;
    std::vector<std::uint8_t> pixels(count + 1);
    std::uint32_t seed = 12345;
    for (auto& p : pixels) p = static_cast<std::uint8_t>(lcg(seed));
    pixels[1] = 0;
    pixels[count] = 255;
    std::vector<float> mean(c), stdv(c);
    for (std::size_t k = 0; k < c; ++k) {
        mean[k] = 0.4f + 0.01f * static_cast<float>(k);
        stdv[k] = 0.2f + 0.003f * static_cast<float>(k);
    }
    const nf::view<const float, nf::shape<C<>>> m(mean.data(), {c}), s(stdv.data(), {c});
    const nf::view<const std::uint8_t, nhwc> x(pixels.data() + 1, {n, h, w, c});
    // Destinations one float off their allocation's alignment.
    std::vector<float> planar(count + 1), interleaved(count + 1);
    const nf::view<float, nchw> yp(planar.data() + 1, {n, c, h, w});
    const nf::view<float, nhwc> yi(interleaved.data() + 1, {n, h, w, c});
    yp = (nf::cast<float>(x) / 255.f - m) / s;
    yi = (nf::cast<float>(x) / 255.f - m) / s;
    std::size_t wrong_p = 0, wrong_i = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < c; ++k) {
                    const std::uint8_t v = pixels[1 + ((a * h + b) * w + d) * c + k];
                    // The same operations in the same order, in float: x.float().div(255), sub, div.
                    const float expected = (static_cast<float>(v) / 255.f - mean[k]) / stdv[k];
                    wrong_p += yp(a, k, b, d) != expected;
                    wrong_i += yi(a, b, d, k) != expected;
                }
    CHECK(wrong_p == 0);
    CHECK(wrong_i == 0);
    CHECK(planar[0] == 0.f); // nothing written outside the views
    CHECK(interleaved[0] == 0.f);
}

TEST_CASE("dtypes: int8 and uint16 inputs widen exactly", "[dtypes]") {
    const std::size_t l = GENERATE(1, 5, 31, 257);
    CAPTURE(l);
    using ncl = nf::shape<N<>, C<>, L<>>;
    std::vector<std::int8_t> a(2 * 3 * l + 1);
    std::vector<std::uint16_t> b(2 * 3 * l + 1);
    std::uint32_t seed = 99;
    for (auto& v : a) v = static_cast<std::int8_t>(static_cast<int>(lcg(seed) % 256) - 128);
    for (auto& v : b) v = static_cast<std::uint16_t>(lcg(seed));
    const nf::view<const std::int8_t, ncl> xa(a.data() + 1, {2, 3, l});
    const nf::view<const std::uint16_t, ncl> xb(b.data() + 1, {2, 3, l});
    nf::tensor<float, ncl> y({2, 3, l});
    nf::tensor<double, nf::shape<N<>, L<>, C<>>> z({2, l, 3});
    y = nf::cast<float>(xa) * 0.5f + nf::cast<float>(xb);
    z = nf::cast<double>(xb) - nf::cast<double>(xa); // a change of compute type, and a transposition
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t k = 0; k < 3; ++k)
            for (std::size_t j = 0; j < l; ++j) {
                const std::size_t o = 1 + (i * 3 + k) * l + j;
                // Exact in float: |a| / 2 and b need at most 17 significant bits together.
                wrong += y(i, k, j) != static_cast<float>(a[o]) * 0.5f + static_cast<float>(b[o]);
                wrong += z(i, j, k) != static_cast<double>(b[o]) - static_cast<double>(a[o]);
            }
    CHECK(wrong == 0);
}

TEMPLATE_TEST_CASE("dtypes: 16-bit floats in, float compute, 16-bit floats out, one rounding", "[dtypes]", nf::bf16,
                   nf::fp16) {
    using H = TestType;
    constexpr bool is_bf16 = std::is_same_v<H, nf::bf16>;
    const std::size_t n = GENERATE(1, 3);
    const std::size_t c = GENERATE(3, 16);
    const std::size_t l = GENERATE(1, 17, 64, 129);
    CAPTURE(n, c, l);
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    const std::size_t count = n * c * l;
    std::uint32_t seed = 7;
    auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(lcg(seed)) / 16777216.0; };
    std::vector<H> xs(count + 1), gs(c), bs(c);
    for (auto& v : xs) v = H(static_cast<float>(uniform(-4, 4)));
    for (auto& v : gs) v = H(static_cast<float>(uniform(0.5, 2)));
    for (auto& v : bs) v = H(static_cast<float>(uniform(-1, 1)));
    const nf::view<const H, ncl> x(xs.data() + 1, {n, c, l});
    const nf::view<const H, nf::shape<C<>>> gamma(gs.data(), {c});
    const nf::view<const H, nf::shape<C<>>> beta(bs.data(), {c});
    std::vector<H> out(count + 1, H::from_bits(0x5555)), out_t(count + 1, H::from_bits(0x5555));
    const nf::view<H, ncl> y(out.data() + 1, {n, c, l});
    const nf::view<H, nlc> yt(out_t.data() + 1, {n, l, c}); // transposed: strided leaves, periodic gamma
    y = x * gamma + beta;
    yt = x * gamma + beta;
    std::vector<float> wide(count);
    const nf::view<float, ncl> yf(wide.data(), {n, c, l});
    yf = x * gamma + beta; // into float: no rounding to 16 bits

    double worst = 0, worst_float = 0;
    std::size_t wrong_t = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < c; ++k)
            for (std::size_t j = 0; j < l; ++j) {
                const std::size_t o = (i * c + k) * l + j;
                const double xv = static_cast<float>(xs[o + 1]), g = static_cast<float>(gs[k]),
                             b = static_cast<float>(bs[k]);
                const double exact = xv * g + b;
                // Float arithmetic: x * g is exact in float (8 or 11 significant bits each) and the
                // sum is rounded once (or not at all with an FMA): within half a float ulp.
                const double float_bound = std::ldexp(std::fabs(exact), -24);
                const double got = static_cast<float>(out[o + 1]);
                const double unit = is_bf16 ? bf16_ulp(got) : fp16_ulp(got);
                worst = std::max(worst, (std::fabs(got - exact) - float_bound) / unit);
                worst_float = std::max(worst_float, std::fabs(wide[o] - exact) / (float_bound > 0 ? float_bound : 1));
                wrong_t += out_t[1 + (i * l + j) * c + k] != out[o + 1];
            }
    CHECK(worst <= 0.5);
    CHECK(worst_float <= 1.0);
    CHECK(wrong_t == 0); // the same values whichever layout is written
    CHECK(out[0].bits == 0x5555);
    CHECK(out_t[0].bits == 0x5555);
}

TEST_CASE("dtypes: nf::cast to a 16-bit type rounds inside an expression", "[dtypes]") {
    const std::size_t l = GENERATE(1, 9, 40);
    CAPTURE(l);
    using nl = nf::shape<N<>, L<>>;
    std::vector<float> xs(3 * l);
    std::uint32_t seed = 3;
    for (auto& v : xs) v = static_cast<float>(lcg(seed)) / 16777216.0f * 100.f - 50.f;
    const nf::view<const float, nl> x(xs.data(), {3, l});
    nf::tensor<float, nl> b({3, l}), f({3, l});
    b = nf::cast<float>(nf::cast<nf::bf16>(x)) * 2.f;
    f = nf::cast<float>(nf::cast<nf::fp16>(x)) * 2.f;
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < 3 * l; ++i) {
        // core/half.hpp's scalar conversions are checked bit for bit in test_half.
        wrong += b.data()[i] != static_cast<float>(nf::bf16(xs[i])) * 2.f;
        wrong += f.data()[i] != static_cast<float>(nf::fp16(xs[i])) * 2.f;
    }
    CHECK(wrong == 0);
}

TEST_CASE("dtypes: reductions over bf16 accumulate the widened values", "[dtypes]") {
    const std::size_t h = GENERATE(1, 7), w = GENERATE(5, 33);
    CAPTURE(h, w);
    using chw = nf::shape<C<>, H<>, W<>>;
    std::vector<nf::bf16> xs(4 * h * w);
    std::uint32_t seed = 11;
    for (auto& v : xs) v = nf::bf16(static_cast<float>(lcg(seed)) / 16777216.0f * 8.f + 100.f);
    const nf::view<const nf::bf16, chw> x(xs.data(), {4, h, w});
    std::vector<float> ms(4), vs(4);
    const nf::view<float, nf::shape<C<>>> m(ms.data(), {4}), v(vs.data(), {4});
    m = nf::mean<H, W>(x);
    v = nf::var<H, W>(x);
    for (std::size_t k = 0; k < 4; ++k) {
        double s = 0, s2 = 0;
        for (std::size_t i = 0; i < h * w; ++i) s += static_cast<float>(xs[k * h * w + i]);
        const double mean = s / static_cast<double>(h * w);
        for (std::size_t i = 0; i < h * w; ++i) {
            const double d = static_cast<float>(xs[k * h * w + i]) - mean;
            s2 += d * d;
        }
        const double var = s2 / static_cast<double>(h * w);
        // Double accumulation, one rounding to float (nf::mean, nf::var): half a float ulp, plus
        // the double sums' own error, far below it for these counts.
        CHECK(std::fabs(m(k) - mean) <= std::ldexp(mean, -24) * 1.01);
        CHECK(std::fabs(v(k) - var) <= std::ldexp(var, -24) * 1.01 + 1e-12);
    }
}

TEST_CASE("dtypes: integer tensors copy between layouts", "[dtypes]") {
    const std::size_t w = GENERATE(1, 13, 64);
    CAPTURE(w);
    std::vector<std::uint8_t> pixels(2 * 3 * w * 3);
    std::uint32_t seed = 5;
    for (auto& p : pixels) p = static_cast<std::uint8_t>(lcg(seed));
    const nf::view<const std::uint8_t, nhwc3> x(pixels.data(), {2, 3, w});
    nf::tensor<std::uint8_t, nchw3> planar(x); // NHWC -> NCHW
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < 2; ++a)
        for (std::size_t b = 0; b < 3; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < 3; ++k)
                    wrong += planar(a, k, b, d) != pixels[((a * 3 + b) * w + d) * 3 + k];
    CHECK(wrong == 0);
}

TEST_CASE("dtypes: converting loads and stores give the same bits with 1 and 2 threads", "[dtypes][threads]") {
    // Large enough to be cut into pieces (and, for float, streamed): the pieces' edges fall inside
    // runs, so heads and tails of the converting stores meet in the middle of the destination.
    const std::size_t n = 3, l = 100003;
    using nl = nf::shape<N<>, L<>>;
    std::vector<std::uint8_t> pixels(n * l);
    std::vector<nf::bf16> act(n * l);
    std::uint32_t seed = 21;
    for (auto& p : pixels) p = static_cast<std::uint8_t>(lcg(seed));
    for (auto& a : act) a = nf::bf16(static_cast<float>(lcg(seed)) / 65536.f - 128.f);
    const nf::view<const std::uint8_t, nl> x(pixels.data(), {n, l});
    const nf::view<const nf::bf16, nl> a(act.data(), {n, l});
    auto run = [&](int threads) {
        const int before = nf::num_threads();
        nf::set_num_threads(threads);
        nf::tensor<nf::bf16, nl> y({n, l});
        nf::tensor<nf::fp16, nl> z({n, l});
        y = a * 0.75f - nf::cast<nf::bf16>(nf::cast<float>(x) / 255.f);
        z = nf::cast<nf::fp16>(a) * 0.5f;
        nf::set_num_threads(before);
        std::vector<std::uint16_t> bits;
        for (std::size_t i = 0; i < y.size(); ++i) bits.push_back(y.data()[i].bits);
        for (std::size_t i = 0; i < z.size(); ++i) bits.push_back(z.data()[i].bits);
        return bits;
    };
    const auto one = run(1), two = run(2);
    CHECK(one == two);
    // And the values: one rounding of the float result.
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n * l; ++i) {
        const float av = static_cast<float>(act[i]);
        const float expected = av * 0.75f - static_cast<float>(nf::bf16(static_cast<float>(pixels[i]) / 255.f));
        wrong += one[i] != nf::bf16(expected).bits;
        wrong += one[n * l + i] != nf::fp16(static_cast<float>(nf::fp16(av)) * 0.5f).bits;
    }
    CHECK(wrong == 0);
}
