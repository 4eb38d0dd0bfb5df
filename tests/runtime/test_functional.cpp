// Runtime tests of the stateless functional API (nf::nn::functional::batch_norm, instance_norm,
// layer_norm, group_norm, rms_norm, normalize) and of nf::nn::fold_batch_norm:
// * against plain double-precision references computed here by logical index (tests/support),
// * against the layers, which run the same functions and must agree bit for bit,
// * over caller-owned memory: read-only views of parameters "loaded from a file" (std::vector),
//   optional parameters, writable running statistics updated in training,
// * errors: every check before anything is written.
//
// Tolerances: outputs of the normalizing layers are held to nf_layers::output_tolerance's budget
// (16 units of float's roundoff, 64 of double's, times max(|ref|, 1); see test_layers_util.hpp
// for its derivation), i.e. near(..., steps) with steps = 8 (float) or 32 (double), since
// tolerance(steps) = 2 * steps units.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
namespace F = nf::nn::functional;
using nf_test::named_index;
using nf_test::ref;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using cvec = nf::shape<C<>>;

template <class T>
constexpr double out_steps = std::is_same_v<T, float> ? 8 : 32;

template <class T>
nf::tensor<T, nchw> data(std::uint64_t seed, std::size_t n = 3, std::size_t c = 4, std::size_t h = 5, std::size_t w = 6,
                         double lo = -2, double hi = 3) {
    nf::tensor<T, nchw> x({n, c, h, w});
    nf_test::fill_uniform(x, seed, lo, hi);
    return x;
}

/// "Weights from a file": plain memory the program owns, seen as read-only views without a copy.
template <class T>
std::vector<T> values(std::uint64_t seed, std::size_t count, double lo, double hi) {
    std::vector<T> v(count);
    nf_test::random_stream rng(seed);
    for (auto& e : v) e = static_cast<T>(rng.uniform(lo, hi));
    return v;
}
template <class T>
nf::view<const T, cvec> cview(const std::vector<T>& v) {
    return nf::view<const T, cvec>(v.data(), {v.size()});
}

/// Mean, biased and unbiased variance in double over the elements of x for which `key(i)` is
/// `k`, for every k in [0, keys).
struct moments {
    std::vector<double> mean, biased, unbiased;
};
template <class A, class Key>
moments moments_by(const A& x, std::size_t keys, Key&& key) {
    std::vector<double> sum(keys), count(keys), sq(keys);
    const auto space = nf_test::space_of(x);
    nf_test::for_each_index(space, [&](const named_index& i) {
        sum[key(i)] += ref(x, i);
        count[key(i)] += 1;
    });
    moments m{std::vector<double>(keys), std::vector<double>(keys), std::vector<double>(keys)};
    for (std::size_t k = 0; k < keys; ++k) m.mean[k] = sum[k] / count[k];
    nf_test::for_each_index(space, [&](const named_index& i) {
        const double d = ref(x, i) - m.mean[key(i)];
        sq[key(i)] += d * d;
    });
    for (std::size_t k = 0; k < keys; ++k) {
        m.biased[k] = sq[k] / count[k];
        m.unbiased[k] = sq[k] / (count[k] - 1);
    }
    return m;
}

template <class A, class B>
bool same_bits(const A& a, const B& b) {
    return static_cast<bool>(nf_test::same_values(a, b));
}

} // namespace

TEMPLATE_TEST_CASE("functional: batch_norm in eval over read-only views, against double and the layer",
                   "[functional][batch_norm]", float, double) {
    using T = TestType;
    const auto x = data<T>(1);
    const auto rm = values<T>(2, 4, -0.5, 0.5), rv = values<T>(3, 4, 0.5, 2.0), w = values<T>(4, 4, 0.5, 1.5),
               b = values<T>(5, 4, -1, 1);
    nf::tensor<T, nchw> y(x.extents(), std::numeric_limits<T>::quiet_NaN());
    F::batch_norm(x, y, cview(rm), cview(rv), cview(w), cview(b), false, 0.1, 1e-3);
    // Eval: (x - rm) * scale + b, scale = w / sqrt(rv + eps) rounded once: 4 roundings, each at most
    // one unit of the largest intermediate |(x - rm) * scale| + |b|.
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const std::size_t c = i["C"];
            const double a = w[c] / std::sqrt(double(rv[c]) + 1e-3), d = (ref(x, i) - rm[c]) * a;
            return nf_test::ref_value{d + b[c], std::abs(d) + std::abs(b[c])};
        },
        4));

    // The layer with the same state gives the same bits: it runs this function.
    nf::nn::batch_norm2d<T> bn(4, {.eps = 1e-3});
    std::copy(rm.begin(), rm.end(), bn.running_mean().data());
    std::copy(rv.begin(), rv.end(), bn.running_var().data());
    std::copy(w.begin(), w.end(), bn.weight().data());
    std::copy(b.begin(), b.end(), bn.bias().data());
    bn.eval();
    CHECK(same_bits(std::as_const(bn)(x), y));

    // Optional parameters: std::nullopt or an empty std::optional mean weight 1 and bias 0; any
    // layout of x and out.
    nf::tensor<T, nhwc> y_last({3, 5, 6, 4});
    std::optional<nf::view<const T, cvec>> none;
    F::batch_norm(x, y_last, cview(rm), cview(rv), none, std::nullopt);
    CHECK(nf_test::near(
        y_last,
        [&](const named_index& i) {
            const std::size_t c = i["C"];
            const double d = (ref(x, i) - rm[c]) / std::sqrt(double(rv[c]) + 1e-5);
            return nf_test::ref_value{d, std::abs(d)};
        },
        4));
}

TEMPLATE_TEST_CASE("functional: batch_norm in training updates writable running statistics", "[functional][batch_norm]",
                   float, double) {
    using T = TestType;
    const auto x = data<T>(6, 2, 4, 1, 3); // M = 6 values per channel
    const moments s = moments_by(x, 4, [](const named_index& i) { return i["C"]; });
    std::vector<T> rm(4, T(0.25)), rv(4, T(2)); // the program's own memory
    nf::view<T, cvec> rmv(rm.data(), {4}), rvv(rv.data(), {4});
    nf::tensor<T, nchw> y(x.extents());
    F::batch_norm(x, y, rmv, rvv, std::nullopt, std::nullopt, true, 0.3, 1e-5);
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const std::size_t c = i["C"];
            return (ref(x, i) - s.mean[c]) / std::sqrt(s.biased[c] + 1e-5);
        },
        out_steps<T>));
    for (std::size_t c = 0; c < 4; ++c) {
        // (1 - m) * old + m * new in double, rounded once to T: half an ulp of T. Plus the error of
        // the double computations, ours and the reference's, whose summation order differs by ISA:
        // the 6 values are within [-2, 3], so every sum, square and product of the statistics and
        // of the update is at most 6 * 9 and rounds with at most one double unit of that; 12 such
        // steps on each side is 24 * 2^-53 * 54 < 16 * 9 double eps, divided by M - 1 = 5 or
        // more. (Fails on SSE2 and AVX2 without this term for T = double.)
        const double want_m = 0.7 * 0.25 + 0.3 * s.mean[c], want_v = 0.7 * 2 + 0.3 * s.unbiased[c];
        const double sums = 16 * 9 * nf_test::epsilon<double>;
        CHECK(std::abs(rm[c] - want_m) <= nf_test::epsilon<T> * std::max(1.0, std::abs(want_m)) + sums);
        CHECK(std::abs(rv[c] - want_v) <= nf_test::epsilon<T> * std::max(1.0, std::abs(want_v)) + sums);
    }
    // The layer in training mode: same output and running statistics, bit for bit.
    nf::nn::batch_norm2d<T> bn(4, {.momentum = 0.3});
    bn.running_mean() = T(0.25);
    bn.running_var() = T(2);
    CHECK(same_bits(bn(x), y));
    CHECK(same_bits(bn.running_mean(), rmv));
    CHECK(same_bits(bn.running_var(), rvv));

    // Without running statistics, training normalizes with the batch's and updates nothing.
    nf::tensor<T, nchw> y2(x.extents());
    F::batch_norm(x, y2, std::nullopt, std::nullopt, std::nullopt, std::nullopt, true);
    CHECK(same_bits(y2, y));
}

TEST_CASE("functional: batch_norm rejects bad arguments before writing anything", "[functional][batch_norm]") {
    const auto x = data<float>(7);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    nf::tensor<float, nchw> y(x.extents(), nan);
    const std::vector<float> rm(4, 0.f), rv(4, 1.f), three(3, 1.f);
    std::vector<float> wm(4, 0.f), wv(4, 1.f);
    // Training would update read-only running statistics.
    CHECK_THROWS_WITH(F::batch_norm(x, y, cview(rm), cview(rv), std::nullopt, std::nullopt, true),
                      Catch::Contains("read-only"));
    // Eval needs running statistics.
    CHECK_THROWS_AS(F::batch_norm(x, y, std::nullopt, std::nullopt), std::invalid_argument);
    // PyTorch's channel-count messages, the input's C first.
    CHECK_THROWS_WITH(F::batch_norm(x, y, cview(three), cview(rv)),
                      Catch::Contains("running_mean should contain 4 elements not 3"));
    CHECK_THROWS_WITH(F::batch_norm(x, y, cview(rm), cview(rv), cview(three)),
                      Catch::Contains("weight should contain 4 elements not 3"));
    // One value per channel in training.
    const auto one = data<float>(8, 1, 4, 1, 1);
    nf::tensor<float, nchw> y1(one.extents(), nan);
    nf::view<float, cvec> wmv(wm.data(), {4}), wvv(wv.data(), {4});
    CHECK_THROWS_WITH(F::batch_norm(one, y1, wmv, wvv, std::nullopt, std::nullopt, true),
                      Catch::Contains("expected more than 1 value per channel when training"));
    CHECK(nf_test::all_equal(y, nan));
    CHECK(nf_test::all_equal(y1, nan));
    CHECK(wm == std::vector<float>(4, 0.f));
    CHECK(wv == std::vector<float>(4, 1.f));
}

TEMPLATE_TEST_CASE("functional: fold_batch_norm gives y = x * scale + shift of the eval layer",
                   "[functional][batch_norm][fold]", float, double) {
    using T = TestType;
    nf::nn::batch_norm2d<T> bn(4, {.eps = 1e-4});
    const auto rm = values<T>(9, 4, -3, 3), rv = values<T>(10, 4, 0.25, 4), w = values<T>(11, 4, -2, 2),
               b = values<T>(12, 4, -1, 1);
    std::copy(rm.begin(), rm.end(), bn.running_mean().data());
    std::copy(rv.begin(), rv.end(), bn.running_var().data());
    std::copy(w.begin(), w.end(), bn.weight().data());
    std::copy(b.begin(), b.end(), bn.bias().data());
    const auto f = nf::nn::fold_batch_norm(bn);
    // Each coefficient is its double formula rounded once to T (the formula's own double rounding
    // is far below): within one ulp of a long double evaluation.
    for (std::size_t c = 0; c < 4; ++c) {
        const long double a = static_cast<long double>(w[c]) / std::sqrt(static_cast<long double>(rv[c]) + 1e-4L);
        const long double sh = static_cast<long double>(b[c]) - static_cast<long double>(rm[c]) * a;
        CHECK(std::abs(static_cast<long double>(f.scale(c)) - a) <= nf_test::epsilon<T> * std::abs(a));
        CHECK(std::abs(static_cast<long double>(f.shift(c)) - sh) <=
              nf_test::epsilon<T> * (std::abs(sh) + std::abs(static_cast<long double>(rm[c]) * a)));
    }
    // Writing into caller-owned views gives the same values.
    std::vector<T> scale(4), shift(4);
    nf::nn::fold_batch_norm(cview(rm), cview(rv), cview(w), cview(b), 1e-4, nf::view<T, cvec>(scale.data(), {4}),
                            nf::view<T, cvec>(shift.data(), {4}));
    for (std::size_t c = 0; c < 4; ++c) CHECK((scale[c] == f.scale(c) && shift[c] == f.shift(c)));

    // Against the layer: x * scale + shift rounds the product, the sum and both coefficients (4
    // units of the largest intermediate, |x * scale| + |rm * scale| + |b|), the layer 4 more.
    const auto x = data<T>(13);
    bn.eval();
    const auto y = std::as_const(bn)(x);
    nf::tensor<T, nchw> folded(x.extents());
    const nf::view<const T, cvec> sv(f.scale.data(), {4}), hv(f.shift.data(), {4});
    folded = x * sv + hv;
    CHECK(nf_test::near(
        folded,
        [&](const named_index& i) {
            const std::size_t c = i["C"];
            const double a = double(f.scale(c));
            return nf_test::ref_value{ref(y, i), std::abs(ref(x, i) * a) + std::abs(rm[c] * a) + std::abs(b[c])};
        },
        4));
    // A layer without running statistics has nothing to fold.
    nf::nn::batch_norm2d<T> untracked(4, {.track_running_stats = false});
    CHECK_THROWS_AS(nf::nn::fold_batch_norm(untracked), std::invalid_argument);
}

TEST_CASE("functional: instance_norm against double and the layer", "[functional][instance_norm]") {
    const auto x = data<float>(14);
    const moments s = moments_by(x, 12, [](const named_index& i) { return i["N"] * 4 + i["C"]; });
    const auto w = values<float>(15, 4, 0.5, 2), b = values<float>(16, 4, -1, 1);
    std::vector<float> rm(4, 0.f), rv(4, 1.f);
    nf::tensor<float, nhwc> y({3, 5, 6, 4});
    F::instance_norm(x, y, nf::view<float, cvec>(rm.data(), {4}), nf::view<float, cvec>(rv.data(), {4}), cview(w),
                     cview(b), true, 0.2, 1e-5);
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const std::size_t k = i["N"] * 4 + i["C"], c = i["C"];
            return (ref(x, i) - s.mean[k]) / std::sqrt(s.biased[k] + 1e-5) * w[c] + b[c];
        },
        out_steps<float>));
    for (std::size_t c = 0; c < 4; ++c) {
        double mean = 0, var = 0;
        for (std::size_t n = 0; n < 3; ++n) {
            mean += s.mean[n * 4 + c] / 3;
            var += s.unbiased[n * 4 + c] / 3;
        }
        CHECK(std::abs(rm[c] - 0.2 * mean) <= nf_test::epsilon<float> * std::max(1.0, std::abs(0.2 * mean)));
        CHECK(std::abs(rv[c] - (0.8 + 0.2 * var)) <= nf_test::epsilon<float> * (0.8 + 0.2 * var));
    }
    nf::nn::instance_norm2d<float> in(4, {.momentum = 0.2, .affine = true, .track_running_stats = true});
    std::copy(w.begin(), w.end(), in.weight().data());
    std::copy(b.begin(), b.end(), in.bias().data());
    CHECK(same_bits(in(x), y));
    CHECK(std::equal(rm.begin(), rm.end(), in.running_mean().data()));
    // Eval: the running statistics, read-only.
    const std::vector<float> crm(rm), crv(rv);
    nf::tensor<float, nchw> ye(x.extents());
    F::instance_norm(x, ye, cview(crm), cview(crv), cview(w), cview(b), false);
    in.eval();
    CHECK(same_bits(std::as_const(in)(x), ye));
    CHECK(nf_test::near(
        ye,
        [&](const named_index& i) {
            const std::size_t c = i["C"];
            const double d = (ref(x, i) - crm[c]) * (w[c] / std::sqrt(double(crv[c]) + 1e-5));
            return nf_test::ref_value{d + b[c], std::abs(d) + std::abs(b[c])};
        },
        4));
    // Unbatched (C, H, W), no parameters.
    nf::tensor<float, nf::shape<C<>, H<>, W<>>> img({4, 5, 6}), img_out({4, 5, 6});
    nf_test::fill_uniform(img, 17, -1, 1);
    F::instance_norm(img, img_out);
    const moments si = moments_by(img, 4, [](const named_index& i) { return i["C"]; });
    CHECK(nf_test::near(
        img_out,
        [&](const named_index& i) { return (ref(img, i) - si.mean[i["C"]]) / std::sqrt(si.biased[i["C"]] + 1e-5); },
        out_steps<float>));
    // PyTorch counts N * C in the messages.
    const std::vector<float> three(3, 1.f);
    CHECK_THROWS_WITH(F::instance_norm(x, y, std::nullopt, std::nullopt, cview(three)),
                      Catch::Contains("weight should contain 12 elements not 9"));
}

TEST_CASE("functional: layer_norm over views of the normalized shape, any subset of affine parameters",
          "[functional][layer_norm]") {
    const auto x = data<float>(18);
    using hw = nf::shape<H<>, W<>>;
    const nf::extents<hw> ns({5, 6});
    const auto w = values<float>(19, 30, 0.5, 2), b = values<float>(20, 30, -1, 1);
    const nf::view<const float, hw> wv(w.data(), ns), bv(b.data(), ns);
    const moments s = moments_by(x, 12, [](const named_index& i) { return i["N"] * 4 + i["C"]; });
    auto want = [&](bool has_w, bool has_b) {
        return [&, has_w, has_b](const named_index& i) {
            const std::size_t k = i["N"] * 4 + i["C"], e = i["H"] * 6 + i["W"];
            const double v = (ref(x, i) - s.mean[k]) / std::sqrt(s.biased[k] + 1e-5);
            return v * (has_w ? w[e] : 1.0) + (has_b ? b[e] : 0.0);
        };
    };
    nf::tensor<float, nchw> y(x.extents());
    F::layer_norm(x, y, ns, wv, bv);
    CHECK(nf_test::near(y, want(true, true), out_steps<float>));
    nf::nn::layer_norm<float, hw> ln(ns);
    std::copy(w.begin(), w.end(), ln.weight().data());
    std::copy(b.begin(), b.end(), ln.bias().data());
    CHECK(same_bits(std::as_const(ln)(x), y));
    F::layer_norm(x, y, ns, wv);
    CHECK(nf_test::near(y, want(true, false), out_steps<float>));
    F::layer_norm(x, y, ns, std::nullopt, bv);
    CHECK(nf_test::near(y, want(false, true), out_steps<float>));
    F::layer_norm(x, y, ns);
    CHECK(nf_test::near(y, want(false, false), out_steps<float>));
    // Over C of channels-last data (a strided slot in NCHW order, a row in NHWC order).
    const nf::extents<cvec> nc({4});
    const auto wc = values<float>(21, 4, 0.5, 2);
    const moments sc = moments_by(x, 90, [](const named_index& i) { return (i["N"] * 5 + i["H"]) * 6 + i["W"]; });
    nf::tensor<float, nhwc> yl({3, 5, 6, 4});
    F::layer_norm(x, yl, nc, cview(wc), std::nullopt, 1e-3);
    auto want_c = [&](const named_index& i) {
        const std::size_t k = (i["N"] * 5 + i["H"]) * 6 + i["W"];
        return (ref(x, i) - sc.mean[k]) / std::sqrt(sc.biased[k] + 1e-3) * wc[i["C"]];
    };
    CHECK(nf_test::near(yl, want_c, out_steps<float>));
    F::layer_norm(yl, yl, nc, cview(wc), std::nullopt, 1e-3); // rows: in place on NHWC
    // Errors: parameters of another size, before anything is written.
    const std::vector<float> short_w(29, 1.f);
    const nf::view<const float, hw> bad(short_w.data(), {29, 1});
    nf::tensor<float, nchw> untouched(x.extents(), 5.f);
    CHECK_THROWS_AS(F::layer_norm(x, untouched, ns, bad), nf::extent_error);
    CHECK(nf_test::all_equal(untouched, 5.f));
}

TEST_CASE("functional: group_norm against double and the layer", "[functional][group_norm]") {
    const auto x = data<float>(22, 2, 6, 3, 4);
    const auto w = values<float>(23, 6, 0.5, 2), b = values<float>(24, 6, -1, 1);
    const moments s = moments_by(x, 4, [](const named_index& i) { return i["N"] * 2 + i["C"] / 3; });
    nf::tensor<float, nhwc> y({2, 3, 4, 6});
    F::group_norm(x, y, 2, cview(w), cview(b), 1e-4);
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const std::size_t k = i["N"] * 2 + i["C"] / 3, c = i["C"];
            return (ref(x, i) - s.mean[k]) / std::sqrt(s.biased[k] + 1e-4) * w[c] + b[c];
        },
        out_steps<float>));
    nf::nn::group_norm<float> gn(2, 6, {.eps = 1e-4});
    std::copy(w.begin(), w.end(), gn.weight().data());
    std::copy(b.begin(), b.end(), gn.bias().data());
    nf::tensor<float, nhwc> y2({2, 3, 4, 6});
    std::as_const(gn).forward(x, y2);
    CHECK(same_bits(y2, y));
    CHECK_THROWS_WITH(F::group_norm(x, y, 4), Catch::Contains("divisible by num_groups"));
}

TEST_CASE("functional: rms_norm against double and the layer", "[functional][rms_norm]") {
    const auto x = data<float>(25);
    const nf::extents<cvec> ns({4});
    const auto w = values<float>(26, 4, 0.5, 2);
    std::vector<double> ms(90);
    nf_test::for_each_index(nf_test::space_of(x), [&](const named_index& i) {
        ms[(i["N"] * 5 + i["H"]) * 6 + i["W"]] += ref(x, i) * ref(x, i) / 4;
    });
    const double eps = std::numeric_limits<float>::epsilon();
    nf::tensor<float, nchw> y(x.extents());
    F::rms_norm(x, y, ns, cview(w));
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            return ref(x, i) / std::sqrt(ms[(i["N"] * 5 + i["H"]) * 6 + i["W"]] + eps) * w[i["C"]];
        },
        out_steps<float>));
    nf::nn::rms_norm<float, cvec> rn(ns);
    std::copy(w.begin(), w.end(), rn.weight().data());
    CHECK(same_bits(std::as_const(rn)(x), y));
    nf::tensor<float, nhwc> yl({3, 5, 6, 4});
    F::rms_norm(x, yl, ns, std::nullopt, 0.5);
    CHECK(nf_test::near(
        yl, [&](const named_index& i) { return ref(x, i) / std::sqrt(ms[(i["N"] * 5 + i["H"]) * 6 + i["W"]] + 0.5); },
        out_steps<float>));
}

TEST_CASE("functional: normalize is the layer's (x - mean) / std, bit for bit", "[functional][normalize]") {
    const auto x = data<float>(27);
    const std::vector<float> mean{0.485f, 0.456f, 0.406f, 0.5f}, sd{0.229f, 0.224f, 0.225f, 0.25f}, one{0.5f};
    nf::tensor<float, nchw> y(x.extents());
    F::normalize(x, y, cview(mean), cview(sd));
    // Two correctly rounded operations, as torchvision's sub_ then div_: exact.
    CHECK(nf_test::exact(
        y, [&](const named_index& i) { return (x(i["N"], i["C"], i["H"], i["W"]) - mean[i["C"]]) / sd[i["C"]]; }));
    nf::nn::normalize<float> layer({0.485, 0.456, 0.406, 0.5}, {0.229, 0.224, 0.225, 0.25});
    CHECK(same_bits(std::as_const(layer)(x), y));
    // One value for all channels, on either side.
    F::normalize(x, y, cview(one), cview(sd));
    CHECK(nf_test::exact(
        y, [&](const named_index& i) { return (x(i["N"], i["C"], i["H"], i["W"]) - 0.5f) / sd[i["C"]]; }));
    F::normalize(x, y, cview(mean), cview(one));
    CHECK(nf_test::exact(
        y, [&](const named_index& i) { return (x(i["N"], i["C"], i["H"], i["W"]) - mean[i["C"]]) / 0.5f; }));
    const std::vector<float> zero{1.f, 0.f, 1.f, 1.f};
    nf::tensor<float, nchw> untouched(x.extents(), 3.f);
    CHECK_THROWS_WITH(F::normalize(x, untouched, cview(mean), cview(zero)), Catch::Contains("std evaluated to zero"));
    CHECK(nf_test::all_equal(untouched, 3.f));
}
