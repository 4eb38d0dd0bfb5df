// Runtime tests of the layers at PyTorch 1.13's edges (issue 15, defects 3, 6 and 11): parameters
// that have the right number of elements but not the normalized shape's extents, eps = 0, groups
// of one value, empty inputs, and NaN / Inf inputs and statistics.
//
// The expected values were measured with PyTorch 1.13.1 on CPU (Debian python3-torch), float32,
// e.g. for BatchNorm1d on {4, Inf, 6}:
//   bn = nn.BatchNorm1d(2); y = bn(torch.tensor([[[4., inf, 6.], [1., 2., 3.]]]))
//   y[0, 0] = [nan, nan, nan], y[0, 1] = [-1.2247356, 0, 1.2247356]
//   bn.running_mean = [inf, 0.2], bn.running_var = [nan, 1.0]
// Finite values are compared with the layers' float tolerance (tests/support/test_layers_util.hpp:
// 16 units of 2^-24 of the output's scale); NaN must be NaN and an infinity the same infinity.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;
using Catch::Matchers::Contains;

namespace {

constexpr double pinf = std::numeric_limits<double>::infinity();
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

using nc = nf::shape<N<>, C<>>;
using ncl = nf::shape<N<>, C<>, L<>>;
using cl = nf::shape<C<>, L<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

/// A float tensor of shape S with extents `e`, holding `v` in its own (row-major) order.
template <class S>
nf::tensor<float, S> make(const std::array<std::size_t, S::rank>& e, const std::vector<double>& v = {}) {
    nf::tensor<float, S> t(nf::extents<S>::from_all(e));
    if (!v.empty()) {
        REQUIRE(v.size() == t.size());
        for (std::size_t i = 0; i < v.size(); ++i) t.data()[i] = static_cast<float>(v[i]);
    }
    return t;
}

template <class S>
nf::tensor<float, S> sentinel(const nf::extents<S>& e) {
    return nf::tensor<float, S>(e, -12345.0f);
}
template <class X>
bool untouched(const X& y) {
    for (std::size_t i = 0; i < y.size(); ++i)
        if (y.data()[i] != -12345.0f) return false;
    return true;
}

template <class X>
std::vector<double> values(const X& x) {
    std::vector<double> v(x.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(x.data()[i]);
    return v;
}

/// Element by element: NaN where `want` is NaN, the same infinity where it is infinite, and within
/// the float tolerance of the finite values' scale elsewhere.
void check_like(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
    REQUIRE(got.size() == want.size());
    double scale = 1;
    for (double w : want)
        if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
    const double tol = output_tolerance<float>(scale);
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO(what << ": element " << i << ": got " << got[i] << ", want " << want[i] << " (tolerance " << tol << ")");
        if (std::isnan(want[i]))
            CHECK(std::isnan(got[i]));
        else if (std::isinf(want[i]))
            CHECK(got[i] == want[i]);
        else
            CHECK(std::abs(got[i] - want[i]) <= tol);
    }
}

/// The same logical values laid out as Shape (by assignment), checked by name with NaN equal to
/// NaN (support's relayout compares with ==, which NaN never passes).
template <class Shape, class X>
nf::tensor<float, Shape> relayout_nan(const X& x) {
    nf::tensor<float, Shape> y(nf::extents<Shape>::from_all(extents_in(x, typename Shape::axes{})));
    y = x;
    const auto a = to_logical(y, axis_names<X>()), b = to_logical(x, axis_names<X>());
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
    return y;
}

template <class P>
void set(P& p, const std::vector<double>& v) {
    REQUIRE(p.size() == v.size());
    for (std::size_t i = 0; i < v.size(); ++i) p.data()[i] = static_cast<float>(v[i]);
}

} // namespace

// --- Defect 6: parameters match the normalized shape by axis and extent, not by count ----------

TEST_CASE("edges: layer_norm and rms_norm reject a parameter of the right count but other extents", "[layers][edges]") {
    using cw = nf::shape<C<>, W<>>;
    using ncw = nf::shape<N<>, C<>, W<>>;
    using cnw = nf::shape<C<>, N<>, W<>>; // normalized axes not trailing: the slot road
    const auto x = make<ncw>({2, 4, 5});
    const auto xs = relayout<cnw>(x);
    SECTION("layer_norm weight (5, 4) for a normalized shape (4, 5)") {
        nf::nn::layer_norm<float, cw> ln({4, 5});
        ln.weight() = nf::tensor<float, cw>({5, 4}, 1.0f);
        auto y = sentinel(x.extents());
        CHECK_THROWS_AS(ln.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(ln.forward(x, y), Contains("nn::layer_norm: weight has extents [C=5, W=4]") &&
                                                Contains("normalized shape is [C=4, W=5]"));
        CHECK(untouched(y));
        auto ys = sentinel(xs.extents());
        CHECK_THROWS_AS(ln.forward(xs, ys), nf::extent_error);
        CHECK(untouched(ys));
        // The right extents again: accepted.
        ln.weight() = nf::tensor<float, cw>({4, 5}, 2.0f);
        CHECK_NOTHROW(ln.forward(x, y));
        CHECK_FALSE(untouched(y));
    }
    SECTION("layer_norm bias (5, 4), and (2, 10)") {
        nf::nn::layer_norm<float, cw> ln({4, 5});
        ln.bias() = nf::tensor<float, cw>({5, 4}, 0.0f);
        auto y = sentinel(x.extents());
        CHECK_THROWS_WITH(ln.forward(x, y), Contains("bias has extents [C=5, W=4]"));
        CHECK(untouched(y));
        ln.bias() = nf::tensor<float, cw>({2, 10}, 0.0f);
        CHECK_THROWS_WITH(ln.forward(x, y), Contains("bias has extents [C=2, W=10]"));
        CHECK(untouched(y));
    }
    SECTION("rms_norm weight (5, 4) for a normalized shape (4, 5)") {
        nf::nn::rms_norm<float, cw> rms({4, 5});
        rms.weight() = nf::tensor<float, cw>({5, 4}, 1.0f);
        auto y = sentinel(x.extents());
        CHECK_THROWS_AS(rms.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(rms.forward(x, y), Contains("nn::rms_norm: weight has extents [C=5, W=4]") &&
                                                 Contains("normalized shape is [C=4, W=5]"));
        CHECK(untouched(y));
        auto ys = sentinel(xs.extents());
        CHECK_THROWS_AS(rms.forward(xs, ys), nf::extent_error);
        CHECK(untouched(ys));
    }
}

// --- Defect 11: PyTorch 1.13's edges ---------------------------------------------------------

TEST_CASE("edges: eps = 0 and a constant slot", "[layers][edges]") {
    // PyTorch's batch-norm kernels take 1 / sqrt(var + eps) as 0 when var = eps = 0 (ATen's
    // InvStd), so BatchNorm and InstanceNorm give the bias there; GroupNorm and LayerNorm have their
    // own kernels, 1 / sqrt(var + eps) = pinf, and give NaN. Measured with torch 1.13.1.
    const std::vector<double> bn_want{10, 10, 10, 16.32576561, 20, 23.67423439};
    SECTION("batch_norm1d, training, and eval without running statistics") {
        nf::nn::batch_norm1d<float> bn(2, {.eps = 0.0});
        set(bn.weight(), {2, 3});
        set(bn.bias(), {10, 20});
        const auto x = make<ncl>({1, 2, 3}, {5, 5, 5, 1, 2, 3});
        check_like(values(bn(x)), bn_want, "training");
        check_like(values(bn.running_mean()), {0.5, 0.2}, "running_mean");
        check_like(values(bn.running_var()), {0.9, 1.0}, "running_var");

        nf::nn::batch_norm1d<float> plain(2, {.eps = 0.0, .track_running_stats = false});
        set(plain.weight(), {2, 3});
        set(plain.bias(), {10, 20});
        plain.eval();
        check_like(values(plain(x)), bn_want, "eval, batch statistics");
        // The same in another layout.
        const auto xl = relayout<nf::shape<L<>, C<>, N<>>>(x);
        check_like(to_logical(plain(xl), {"N", "C", "L"}), bn_want, "eval, (L, C, N)");
    }
    SECTION("batch_norm1d in eval with running_var = 0: PyTorch's folded x * a + (b - rm * a) is NaN") {
        nf::nn::batch_norm1d<float> bn(2, {.eps = 0.0});
        set(bn.weight(), {2, 3});
        set(bn.bias(), {10, 20});
        set(bn.running_mean(), {5, 5});
        set(bn.running_var(), {0, 0});
        bn.eval();
        const auto x = make<ncl>({1, 2, 3}, {5, 5, 5, 1, 2, 3});
        check_like(values(bn(x)), std::vector<double>(6, qnan), "eval, running_var 0");
    }
    SECTION("instance_norm1d") {
        nf::nn::instance_norm1d<float> in(2, {.eps = 0.0, .affine = true});
        set(in.weight(), {2, 3});
        set(in.bias(), {10, 20});
        const auto x = make<ncl>({2, 2, 3}, {5, 5, 5, 1, 2, 3, 1, 2, 3, 7, 7, 7});
        check_like(values(in(x)), {10, 10, 10, 16.32576561, 20, 23.67423439, 7.55051041, 10, 12.44948959, 20, 20, 20},
                   "instance_norm1d");
    }
    SECTION("group_norm and layer_norm give NaN, as PyTorch") {
        nf::nn::group_norm<float> gn(2, 2, {.eps = 0.0});
        set(gn.weight(), {2, 3});
        set(gn.bias(), {10, 20});
        const auto x = make<ncl>({1, 2, 3}, {5, 5, 5, 1, 2, 3});
        check_like(values(gn(x)), {qnan, qnan, qnan, 16.32576561, 20, 23.67423439}, "group_norm");
        nf::nn::layer_norm<float, nf::shape<L<>>> ln({3}, {.eps = 0.0});
        check_like(values(ln(x)), {qnan, qnan, qnan, -1.22474480, 0, 1.22474480}, "layer_norm");
    }
}

TEST_CASE("edges: group_norm with groups of one value and N >= 2 normalizes them", "[layers][edges]") {
    // PyTorch checks N * C / G * spatial > 1 only: GroupNorm(3, 3) on [2, 3] gives the bias (up to
    // its own rounding: [-1.5e-08, 9.9999952, 19.999996], [-1.2e-05, 9.9999981, 20.000055]).
    nf::nn::group_norm<float> gn(3, 3);
    set(gn.weight(), {1, 2, 3});
    set(gn.bias(), {0, 10, 20});
    const auto x = make<nc>({2, 3}, {0.3, -1.7, 2.5, 4, 5, 6});
    check_like(values(gn(x)), {0, 10, 20, 0, 10, 20}, "[2, 3]");
    const auto xc = relayout<nf::shape<C<>, N<>>>(x);
    check_like(to_logical(gn(xc), {"N", "C"}), {0, 10, 20, 0, 10, 20}, "(C, N)");
    const auto x3 = make<ncl>({2, 3, 1}, {0.3, -1.7, 2.5, 4, 5, 6});
    check_like(values(gn(x3)), {0, 10, 20, 0, 10, 20}, "[2, 3, 1]");
    // One value in all (N * C / G * spatial = 1): rejected, as PyTorch.
    for (const bool training : {true, false}) {
        gn.train(training);
        const auto x1 = make<ncl>({1, 3, 1}, {1, 2, 3});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_AS(gn.forward(x1, y1), std::invalid_argument);
        CHECK_THROWS_WITH(gn.forward(x1, y1), Contains("more than 1 value per group"));
        CHECK(untouched(y1));
    }
}

TEST_CASE("edges: empty inputs give the empty output, as PyTorch", "[layers][edges]") {
    SECTION("batch_norm: N = 0 or a zero spatial extent; the batch counts, the running statistics stay") {
        for (const std::optional<double> momentum : {std::optional<double>(0.1), std::optional<double>()}) {
            auto run = [&]<class S, std::size_t Dims>(const std::array<std::size_t, S::rank>& e,
                                                      std::integral_constant<std::size_t, Dims>) {
                nf::nn::batch_norm<float, Dims> bn(3, {.momentum = momentum});
                set(bn.running_mean(), {0.3, 0.3, 0.3});
                set(bn.running_var(), {0.7, 0.7, 0.7});
                const auto x = make<S>(e);
                auto y = sentinel(x.extents());
                CHECK_NOTHROW(bn.forward(x, y));
                CHECK(bn.num_batches_tracked() == 1);
                CHECK(values(bn.running_mean()) == std::vector<double>(3, static_cast<double>(0.3f)));
                CHECK(values(bn.running_var()) == std::vector<double>(3, static_cast<double>(0.7f)));
                bn.eval();
                CHECK_NOTHROW(bn.forward(x, y));
                CHECK(bn.num_batches_tracked() == 1);
            };
            using one = std::integral_constant<std::size_t, 1>;
            run.operator()<nc>({0, 3}, one{});
            run.operator()<ncl>({0, 3, 4}, one{});
            run.operator()<ncl>({2, 3, 0}, one{});
            run.operator()<nf::shape<L<>, N<>, C<>>>({0, 2, 3}, one{});
            run.operator()<nchw>({2, 3, 0, 4}, std::integral_constant<std::size_t, 2>{});
        }
        nf::nn::batch_norm1d<float> plain(3, {.track_running_stats = false});
        plain.eval();
        const auto x = make<nc>({0, 3});
        auto y = sentinel(x.extents());
        CHECK_NOTHROW(plain.forward(x, y));
        // Exactly one value per channel is still an error.
        nf::nn::batch_norm1d<float> bn(3);
        const auto x1 = make<ncl>({1, 3, 1}, {1, 2, 3});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_WITH(bn.forward(x1, y1), Contains("more than 1 value per channel"));
        CHECK(untouched(y1));
        CHECK(bn.num_batches_tracked() == 0);
    }
    SECTION("instance_norm: N = 0 and a zero spatial extent") {
        // PyTorch 1.13: N = 0 without affine gives the empty output and, with running statistics,
        // sets them to NaN (the mean over no instance). With affine it raises an IndexError from
        // its reshaping (weight.repeat(0)[0]); normfuse gives the empty output (docs/guide.md).
        for (const bool affine : {false, true}) {
            CAPTURE(affine);
            nf::nn::instance_norm1d<float> plain(3, {.affine = affine});
            const auto x = make<ncl>({0, 3, 4});
            auto y = sentinel(x.extents());
            CHECK_NOTHROW(plain.forward(x, y));
            plain.eval();
            CHECK_NOTHROW(plain.forward(x, y));

            nf::nn::instance_norm1d<float> tracked(3, {.affine = affine, .track_running_stats = true});
            set(tracked.running_mean(), {0.3, 0.3, 0.3});
            set(tracked.running_var(), {0.7, 0.7, 0.7});
            // A zero spatial extent: the running statistics stay (PyTorch: [0.3, ...], [0.7, ...]).
            const auto x0 = make<ncl>({2, 3, 0});
            auto y0 = sentinel(x0.extents());
            CHECK_NOTHROW(tracked.forward(x0, y0));
            CHECK(values(tracked.running_mean()) == std::vector<double>(3, static_cast<double>(0.3f)));
            CHECK(values(tracked.running_var()) == std::vector<double>(3, static_cast<double>(0.7f)));
            const auto xu = make<cl>({3, 0});
            auto yu = sentinel(xu.extents());
            CHECK_NOTHROW(tracked.forward(xu, yu));
            CHECK(values(tracked.running_mean()) == std::vector<double>(3, static_cast<double>(0.3f)));
            // In eval, the running statistics are not touched (PyTorch overwrites them with NaN
            // even in eval: a side effect of its reshaping, see docs/guide.md).
            tracked.eval();
            CHECK_NOTHROW(tracked.forward(x, y));
            CHECK(values(tracked.running_mean()) == std::vector<double>(3, static_cast<double>(0.3f)));
            // Training with N = 0: NaN.
            tracked.train();
            CHECK_NOTHROW(tracked.forward(x, y));
            check_like(values(tracked.running_mean()), {qnan, qnan, qnan}, "running_mean after N = 0");
            check_like(values(tracked.running_var()), {qnan, qnan, qnan}, "running_var after N = 0");
        }
        // One spatial element is an error whatever N is (PyTorch: "Expected more than 1 spatial
        // element when training, got input size torch.Size([0, 3, 1])").
        nf::nn::instance_norm1d<float> in(3);
        const auto x1 = make<ncl>({0, 3, 1});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_WITH(in.forward(x1, y1), Contains("more than 1 spatial element"));
    }
    SECTION("group_norm, layer_norm, rms_norm") {
        nf::nn::group_norm<float> gn(3, 3);
        for (const auto& e : {std::array<std::size_t, 3>{0, 3, 4}, std::array<std::size_t, 3>{2, 3, 0}}) {
            const auto x = make<ncl>(e);
            auto y = sentinel(x.extents());
            CHECK_NOTHROW(gn.forward(x, y));
        }
        const auto x2 = make<nc>({0, 3});
        auto y2 = sentinel(x2.extents());
        CHECK_NOTHROW(gn.forward(x2, y2));

        const auto x = make<ncl>({0, 3, 5});
        auto y = sentinel(x.extents());
        nf::nn::layer_norm<float, nf::shape<L<>>> ln({5});
        CHECK_NOTHROW(ln.forward(x, y));
        nf::nn::layer_norm<float, nf::shape<C<>>> lnc({3});
        CHECK_NOTHROW(lnc.forward(x, y));
        nf::nn::rms_norm<float, nf::shape<L<>>> rms({5});
        CHECK_NOTHROW(rms.forward(x, y));
        nf::nn::rms_norm<float, nf::shape<C<>>> rmsc({3});
        CHECK_NOTHROW(rmsc.forward(x, y));
    }
}

// --- Defect 3: NaN and Inf propagate as in PyTorch ---------------------------------------------

TEST_CASE("edges: batch_norm with NaN and Inf, outputs and running statistics", "[layers][edges]") {
    const std::vector<double> finite{-1.2247356176376343, 0.0, 1.2247356176376343};
    struct row {
        std::vector<double> v;
        double running_mean;
    };
    // Channel 0 holds v, channel 1 holds {1, 2, 3}; PyTorch gives NaN for all of channel 0, a
    // running_var of NaN, and a running_mean of 0.1 * mean(v).
    for (const row& r :
         {row{{4, pinf, 6}, pinf}, row{{pinf, 4, 6}, pinf}, row{{-pinf, 4, pinf}, qnan}, row{{4, qnan, 6}, qnan},
          row{{pinf, pinf, pinf}, pinf}, row{{-pinf, -pinf, -pinf}, -pinf}, row{{qnan, 1, 2}, qnan}}) {
        CAPTURE(r.v[0], r.v[1], r.v[2]);
        std::vector<double> v = r.v;
        v.insert(v.end(), {1, 2, 3});
        std::vector<double> want(3, qnan);
        want.insert(want.end(), finite.begin(), finite.end());
        nf::nn::batch_norm1d<float> bn(2);
        const auto x = make<ncl>({1, 2, 3}, v);
        check_like(values(bn(x)), want, "batch_norm1d (N, C, L)");
        check_like(values(bn.running_mean()), {r.running_mean, 0.2}, "running_mean");
        check_like(values(bn.running_var()), {qnan, 1.0}, "running_var");
        // The same in (L, N, C) and in place.
        nf::nn::batch_norm1d<float> bl(2);
        auto xl = relayout_nan<nf::shape<L<>, N<>, C<>>>(x);
        bl(xl, nf::nn::in_place);
        check_like(to_logical(xl, {"N", "C", "L"}), want, "batch_norm1d (L, N, C) in place");
        check_like(values(bl.running_mean()), {r.running_mean, 0.2}, "running_mean (L, N, C)");
        check_like(values(bl.running_var()), {qnan, 1.0}, "running_var (L, N, C)");
    }
    SECTION("momentum 0 and momentum None: NaN reaches the running statistics too") {
        const auto x = make<ncl>({1, 2, 3}, {4, qnan, 6, 1, 2, 3});
        nf::nn::batch_norm1d<float> zero(2, {.momentum = 0.0});
        zero(x);
        check_like(values(zero.running_mean()), {qnan, 0.0}, "momentum 0");
        check_like(values(zero.running_var()), {qnan, 1.0}, "momentum 0");
        nf::nn::batch_norm1d<float> cumulative(2, {.momentum = std::nullopt});
        cumulative(x);
        check_like(values(cumulative.running_mean()), {qnan, 2.0}, "momentum None");
        check_like(values(cumulative.running_var()), {qnan, 1.0}, "momentum None");
    }
    SECTION("eval: NaN and Inf inputs stay where they are; NaN or Inf statistics spread over the channel") {
        nf::nn::batch_norm1d<float> bn(2);
        set(bn.running_mean(), {1, 0});
        set(bn.running_var(), {4, 1});
        bn.eval();
        const auto x = make<ncl>({1, 2, 4}, {4, qnan, pinf, -pinf, 1, 2, 3, 4});
        const double s = 1 / std::sqrt(4 + 1e-5), t = 1 / std::sqrt(1 + 1e-5);
        check_like(values(bn(x)), {3 * s, qnan, pinf, -pinf, t, 2 * t, 3 * t, 4 * t}, "eval");
        set(bn.running_var(), {qnan, 1});
        const auto x2 = make<ncl>({1, 2, 3}, {1, 2, 3, 1, 2, 3});
        check_like(values(bn(x2)), {qnan, qnan, qnan, t, 2 * t, 3 * t}, "running_var NaN");
        set(bn.running_var(), {1, 1});
        set(bn.running_mean(), {pinf, 0});
        check_like(values(bn(x2)), {-pinf, -pinf, -pinf, t, 2 * t, 3 * t}, "running_mean Inf");
    }
}

TEST_CASE("edges: instance_norm, group_norm, layer_norm and rms_norm with NaN and Inf", "[layers][edges]") {
    const double a = 1.2247356176376343; // PyTorch's float32 (x - 2) / sqrt(2/3 + 1e-5) for {1, 2, 3}
    SECTION("instance_norm1d with running statistics") {
        nf::nn::instance_norm1d<float> in(2, {.track_running_stats = true});
        const auto x = make<ncl>({2, 2, 3}, {4, pinf, 6, 1, 2, 3, 1, 2, 3, qnan, 1, 2});
        const std::vector<double> want{qnan, qnan, qnan, -a, 0, a, -a, 0, a, qnan, qnan, qnan};
        check_like(values(in(x)), want, "instance_norm1d");
        check_like(values(in.running_mean()), {pinf, qnan}, "running_mean");
        check_like(values(in.running_var()), {qnan, qnan}, "running_var");
        nf::nn::instance_norm1d<float> il(2, {.track_running_stats = true});
        const auto xl = relayout_nan<nf::shape<C<>, L<>, N<>>>(x);
        check_like(to_logical(il(xl), {"N", "C", "L"}), want, "instance_norm1d (C, L, N)");
        check_like(values(il.running_mean()), {pinf, qnan}, "running_mean (C, L, N)");
        check_like(values(il.running_var()), {qnan, qnan}, "running_var (C, L, N)");
    }
    SECTION("group_norm(2, 4)") {
        nf::nn::group_norm<float> gn(2, 4);
        const auto x = make<ncl>({2, 4, 2}, {4, pinf, 1, 2, 1, 2, 3, 5, 1, 2, 3, 4, qnan, 1, 0, 0});
        const std::vector<double> want{qnan,
                                       qnan,
                                       qnan,
                                       qnan,
                                       -1.183213233947754,
                                       -0.5070914030075073,
                                       0.16903042793273926,
                                       1.5212740898132324,
                                       -1.3416354656219482,
                                       -0.4472118616104126,
                                       0.4472118020057678,
                                       1.3416354656219482,
                                       qnan,
                                       qnan,
                                       qnan,
                                       qnan};
        check_like(values(gn(x)), want, "group_norm (N, C, L)");
        check_like(to_logical(gn(relayout_nan<nf::shape<L<>, C<>, N<>>>(x)), {"N", "C", "L"}), want,
                   "group_norm (L, C, N)");
    }
    // Rows of PyTorch's LayerNorm([3]) / RMSNorm test: x * rsqrt(mean(x^2, -1) + 1e-6).
    const std::vector<double> rows{4, pinf, 6, 1, 2, 3, qnan, 1, 2, -pinf, 1, pinf, pinf, pinf, pinf};
    const std::vector<double> ln_want{qnan, qnan, qnan, -a, 0, a, qnan, qnan, qnan, qnan, qnan, qnan, qnan, qnan, qnan};
    const std::vector<double> rms_want{
        0,    qnan, 0,   0.462909996509552, 0.925819993019104, 1.3887300491333008, qnan, qnan, qnan, qnan, 0, qnan,
        qnan, qnan, qnan};
    SECTION("layer_norm over a trailing axis (the row road) and a leading one (the slot road)") {
        const auto x = make<nf::shape<N<>, L<>>>({5, 3}, rows);
        nf::nn::layer_norm<float, nf::shape<L<>>> ln({3});
        check_like(values(ln(x)), ln_want, "layer_norm (N, L)");
        check_like(to_logical(ln(relayout_nan<nf::shape<L<>, N<>>>(x)), {"N", "L"}), ln_want, "layer_norm (L, N)");
    }
    SECTION("rms_norm over a trailing axis and a leading one") {
        const auto x = make<nf::shape<N<>, L<>>>({5, 3}, rows);
        nf::nn::rms_norm<float, nf::shape<L<>>> rms({3}, {.eps = 1e-6});
        check_like(values(rms(x)), rms_want, "rms_norm (N, L)");
        check_like(to_logical(rms(relayout_nan<nf::shape<L<>, N<>>>(x)), {"N", "L"}), rms_want, "rms_norm (L, N)");
    }
}

// --- The functional API: the same checks and edges as the layers (they share the bodies) -------

TEST_CASE("edges: the functional API rejects layer_norm / rms_norm parameters of other extents",
          "[layers][edges][functional]") {
    namespace F = nf::nn::functional;
    using cw = nf::shape<C<>, W<>>;
    using ncw = nf::shape<N<>, C<>, W<>>;
    using cnw = nf::shape<C<>, N<>, W<>>; // normalized axes not trailing: the slot road
    const auto x = make<ncw>({2, 4, 5});
    const auto xs = relayout<cnw>(x);
    const nf::extents<cw> ns({4, 5});
    // The axis order (C, W) is right, so the call compiles; the extents are transposed.
    const nf::tensor<float, cw> transposed({5, 4}, 1.0f), other({2, 10}, 0.0f), right({4, 5}, 2.0f);
    const nf::view<const float, cw> transposed_view(transposed.data(), transposed.extents());
    SECTION("layer_norm") {
        auto y = sentinel(x.extents());
        CHECK_THROWS_AS(F::layer_norm(x, y, ns, transposed), nf::extent_error);
        CHECK_THROWS_WITH(F::layer_norm(x, y, ns, transposed),
                          Contains("nn::functional::layer_norm: weight has extents [C=5, W=4]") &&
                              Contains("normalized shape is [C=4, W=5]"));
        CHECK_THROWS_WITH(F::layer_norm(x, y, ns, transposed_view), Contains("weight has extents [C=5, W=4]"));
        CHECK_THROWS_WITH(F::layer_norm(x, y, ns, std::nullopt, transposed), Contains("bias has extents [C=5, W=4]"));
        CHECK_THROWS_WITH(F::layer_norm(x, y, ns, right, other), Contains("bias has extents [C=2, W=10]"));
        CHECK_THROWS_WITH(F::layer_norm(x, y, ns, std::optional<nf::tensor<float, cw>>(transposed)),
                          Contains("weight has extents [C=5, W=4]"));
        CHECK(untouched(y));
        auto ys = sentinel(xs.extents());
        CHECK_THROWS_AS(F::layer_norm(xs, ys, ns, transposed, right), nf::extent_error);
        CHECK(untouched(ys));
        CHECK_NOTHROW(F::layer_norm(x, y, ns, right, right));
        CHECK_FALSE(untouched(y));
    }
    SECTION("rms_norm") {
        auto y = sentinel(x.extents());
        CHECK_THROWS_AS(F::rms_norm(x, y, ns, transposed), nf::extent_error);
        CHECK_THROWS_WITH(F::rms_norm(x, y, ns, transposed_view),
                          Contains("nn::functional::rms_norm: weight has extents [C=5, W=4]") &&
                              Contains("normalized shape is [C=4, W=5]"));
        CHECK(untouched(y));
        auto ys = sentinel(xs.extents());
        CHECK_THROWS_AS(F::rms_norm(xs, ys, ns, transposed), nf::extent_error);
        CHECK(untouched(ys));
        CHECK_NOTHROW(F::rms_norm(x, y, ns, right));
        CHECK_FALSE(untouched(y));
    }
}

TEST_CASE("edges: the functional API at PyTorch's edges (empty inputs, eps = 0, folded eval)",
          "[layers][edges][functional]") {
    namespace F = nf::nn::functional;
    using cvec = nf::shape<C<>>;
    auto channels = [](const std::vector<double>& v) { return make<cvec>({v.size()}, v); };
    SECTION("batch_norm: empty inputs, and exactly one value per channel") {
        auto rm = channels({0.3, 0.3, 0.3}), rv = channels({0.7, 0.7, 0.7});
        for (const auto& e : {std::array<std::size_t, 3>{0, 3, 4}, std::array<std::size_t, 3>{2, 3, 0}}) {
            const auto x = make<ncl>(e);
            auto y = sentinel(x.extents());
            CHECK_NOTHROW(F::batch_norm(x, y, rm, rv, std::nullopt, std::nullopt, true));
            CHECK(values(rm) == std::vector<double>(3, static_cast<double>(0.3f)));
            CHECK(values(rv) == std::vector<double>(3, static_cast<double>(0.7f)));
            CHECK_NOTHROW(F::batch_norm(x, y, std::nullopt, std::nullopt, std::nullopt, std::nullopt, true));
            CHECK_NOTHROW(F::batch_norm(x, y, rm, rv));
        }
        const auto x1 = make<ncl>({1, 3, 1}, {1, 2, 3});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_WITH(F::batch_norm(x1, y1, rm, rv, std::nullopt, std::nullopt, true),
                          Contains("more than 1 value per channel"));
        CHECK(untouched(y1));
    }
    SECTION("batch_norm: eps = 0 with a constant channel gives the bias; eval with running_var 0 is NaN") {
        const auto x = make<ncl>({1, 2, 3}, {5, 5, 5, 1, 2, 3});
        const auto w = channels({2, 3}), b = channels({10, 20});
        auto y = sentinel(x.extents());
        F::batch_norm(x, y, std::nullopt, std::nullopt, w, b, true, 0.1, 0.0);
        check_like(values(y), {10, 10, 10, 16.32576561, 20, 23.67423439}, "training, eps 0");
        const auto rm = channels({5, 5}), rv = channels({0, 0});
        F::batch_norm(x, y, rm, rv, w, b, false, 0.1, 0.0);
        check_like(values(y), std::vector<double>(6, qnan), "eval, running_var 0");
    }
    SECTION("instance_norm: eps = 0, N = 0 (running statistics NaN), a zero spatial extent") {
        const auto x = make<ncl>({2, 2, 3}, {5, 5, 5, 1, 2, 3, 1, 2, 3, 7, 7, 7});
        const auto w = channels({2, 3}), b = channels({10, 20});
        auto y = sentinel(x.extents());
        F::instance_norm(x, y, std::nullopt, std::nullopt, w, b, true, 0.1, 0.0);
        check_like(values(y), {10, 10, 10, 16.32576561, 20, 23.67423439, 7.55051041, 10, 12.44948959, 20, 20, 20},
                   "instance_norm, eps 0");
        auto rm = channels({0.3, 0.3, 0.3}), rv = channels({0.7, 0.7, 0.7});
        const auto x0 = make<ncl>({2, 3, 0});
        auto y0 = sentinel(x0.extents());
        CHECK_NOTHROW(F::instance_norm(x0, y0, rm, rv));
        CHECK(values(rm) == std::vector<double>(3, static_cast<double>(0.3f)));
        const auto xn = make<ncl>({0, 3, 4});
        auto yn = sentinel(xn.extents());
        CHECK_NOTHROW(F::instance_norm(xn, yn, rm, rv, channels({2, 3, 4}), channels({10, 20, 30})));
        check_like(values(rm), {qnan, qnan, qnan}, "running_mean after N = 0");
        check_like(values(rv), {qnan, qnan, qnan}, "running_var after N = 0");
        const auto x1 = make<ncl>({0, 3, 1});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_WITH(F::instance_norm(x1, y1), Contains("more than 1 spatial element"));
    }
    SECTION("group_norm, layer_norm, rms_norm: empty inputs; group_norm with groups of one value") {
        const auto x = make<ncl>({0, 3, 5});
        auto y = sentinel(x.extents());
        CHECK_NOTHROW(F::group_norm(x, y, 3));
        CHECK_NOTHROW(F::layer_norm(x, y, nf::extents<nf::shape<L<>>>({5})));
        CHECK_NOTHROW(F::layer_norm(x, y, nf::extents<cvec>({3})));
        CHECK_NOTHROW(F::rms_norm(x, y, nf::extents<nf::shape<L<>>>({5})));
        CHECK_NOTHROW(F::rms_norm(x, y, nf::extents<cvec>({3})));
        // GroupNorm(3, 3) on [2, 3] gives the bias, also on (C, N) (defect 1's layout).
        const auto w = channels({1, 2, 3}), b = channels({0, 10, 20});
        const auto x2 = make<nc>({2, 3}, {0.3, -1.7, 2.5, 4, 5, 6});
        auto y2 = sentinel(x2.extents());
        F::group_norm(x2, y2, 3, w, b);
        check_like(values(y2), {0, 10, 20, 0, 10, 20}, "[2, 3]");
        const auto xc = relayout<nf::shape<C<>, N<>>>(x2);
        auto yc = sentinel(xc.extents());
        F::group_norm(xc, yc, 3, w, b);
        check_like(to_logical(yc, {"N", "C"}), {0, 10, 20, 0, 10, 20}, "(C, N)");
        const auto x1 = make<ncl>({1, 3, 1}, {1, 2, 3});
        auto y1 = sentinel(x1.extents());
        CHECK_THROWS_WITH(F::group_norm(x1, y1, 3), Contains("more than 1 value per group"));
        CHECK(untouched(y1));
    }
}
