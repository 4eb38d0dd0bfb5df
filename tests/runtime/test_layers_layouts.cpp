// Runtime tests of the layers on layouts the PyTorch reference tests do not use: the layers run on
// a canonical four-group view of their input when it has one (core/slot_layout.hpp) and on the
// input's own layout otherwise (more than four groups of kept and reduced axes, or an output in
// another axis order than the input). Both roads are checked against a float64 reference
// computed here, per slot, from the logical (PyTorch-ordered) values.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <normfuse/core/slot_layout.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using ncdhw = nf::shape<N<>, C<>, D<>, H<>, W<>>;

// Which road each layout takes (the same grouping rule the layers use).
static_assert(nf::detail::slot_canonical_ok<nf::shape<D<>, N<>, H<>, C<>, W<>>::axes, nf::axis_list<N<>, C<>>> ==
              false);
static_assert(nf::detail::slot_canonical_ok<nf::shape<N<>, H<>, C<>, W<>>::axes, nf::axis_list<C<>>>);
static_assert(nf::detail::slot_canonical_ok<nf::shape<H<>, N<>, W<>, G<>, K<>>::axes, nf::axis_list<N<>, G<>>> ==
              false);
static_assert(
    std::is_same_v<nf::detail::slot_canonical_axes<nchw::axes, nf::axis_list<C<>>>, nf::detail::slot_ends_reduced>);
static_assert(std::is_same_v<nf::detail::slot_canonical_axes<nf::shape<N<>, H<>, W<>, C<>>::axes, nf::axis_list<C<>>>,
                             nf::detail::slot_ends_kept>);

/// Deterministic data with an offset per channel, so that a slot mix-up shows.
std::vector<double> make_input(std::size_t n, std::size_t c, std::size_t spatial) {
    std::vector<double> v(n * c * spatial);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::size_t ch = i / spatial % c;
        v[i] = static_cast<double>(static_cast<int>((i * 7919) % 101) - 50) / 25.0 + 3.0 * static_cast<double>(ch);
    }
    return v;
}

/// `(x - mean) / sqrt(var + eps) * w[c] + b[c]` in float64 over logical (N, C, spatial) data, with
/// biased statistics per slot, slot_of(n, c) giving the slot.
template <class SlotOf>
std::vector<double> reference(const std::vector<double>& x, std::size_t c, std::size_t spatial, std::size_t slots,
                              SlotOf slot_of, const std::vector<double>& w, const std::vector<double>& b, double eps) {
    std::vector<double> sum(slots), sq(slots), count(slots);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t s = slot_of(i / (c * spatial), i / spatial % c);
        sum[s] += x[i];
        count[s] += 1;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t s = slot_of(i / (c * spatial), i / spatial % c);
        const double d = x[i] - sum[s] / count[s];
        sq[s] += d * d;
    }
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = i / spatial % c;
        const std::size_t s = slot_of(i / (c * spatial), ch);
        y[i] = (x[i] - sum[s] / count[s]) / std::sqrt(sq[s] / count[s] + eps) * w[ch] + b[ch];
    }
    return y;
}

/// A float tensor laid out as `Shape` holding logical (PyTorch-ordered) values.
template <class Logical, class Shape>
nf::tensor<float, Shape> laid_out(const std::vector<double>& logical, const std::array<std::size_t, Logical::rank>& e) {
    nf::tensor<float, Logical> t(nf::extents<Logical>::from_all(e));
    for (std::size_t i = 0; i < logical.size(); ++i) t.data()[i] = static_cast<float>(logical[i]);
    return relayout<Shape>(t);
}

std::vector<double> weights(std::size_t c, double base) {
    std::vector<double> w(c);
    for (std::size_t i = 0; i < c; ++i) w[i] = base + 0.125 * static_cast<double>(i);
    return w;
}

template <class P>
void set(P& p, const std::vector<double>& v) {
    for (std::size_t i = 0; i < v.size(); ++i) p.data()[i] = static_cast<float>(v[i]);
}

/// An affine InstanceNorm over c channels with weight weights(c, 0.5) and bias weights(c, -1).
template <std::size_t Dims>
nf::nn::instance_norm<float, Dims> affine_instance_norm(std::size_t c, bool track) {
    nf::nn::instance_norm_options o;
    o.affine = true;
    o.track_running_stats = track;
    nf::nn::instance_norm<float, Dims> layer(c, o);
    set(layer.weight(), weights(c, 0.5));
    set(layer.bias(), weights(c, -1.0));
    return layer;
}

/// What affine_instance_norm gives on logical (N, C, spatial) data, in float64.
std::vector<double> instance_reference(const std::vector<double>& x, std::size_t c, std::size_t spatial) {
    const std::size_t slots = x.size() / spatial;
    return reference(
        x, c, spatial, slots, [&](std::size_t i, std::size_t ch) { return i * c + ch; }, weights(c, 0.5),
        weights(c, -1.0), 1e-5);
}
} // namespace

TEST_CASE("layouts: instance_norm3d on (D, N, H, C, W), five groups, matches float64", "[layers][layouts]") {
    const std::size_t n = 2, c = 3, d = 2, h = 3, w = 5, spatial = d * h * w;
    const auto x = make_input(n, c, spatial);
    auto layer = affine_instance_norm<3>(c, false);
    const auto want = instance_reference(x, c, spatial);
    const double tol = output_tolerance<float>(scale_of(want));
    const std::array<std::size_t, 5> e{n, c, d, h, w};
    const auto odd = laid_out<ncdhw, nf::shape<D<>, N<>, H<>, C<>, W<>>>(x, e);
    const auto y = layer(odd);
    check_values(to_logical(y, axis_names<nf::tensor<float, ncdhw>>()), want, tol, "(D, N, H, C, W)", "layouts");
    const auto plain = laid_out<ncdhw, ncdhw>(x, e);
    check_values(to_logical(layer(plain), axis_names<nf::tensor<float, ncdhw>>()), want, tol, "NCDHW", "layouts");
}

TEST_CASE("layouts: group_norm on (H, N, W, C), five groups once C is split, matches float64", "[layers][layouts]") {
    const std::size_t n = 2, c = 6, groups = 3, h = 3, w = 7, spatial = h * w;
    const auto x = make_input(n, c, spatial);
    nf::nn::group_norm<float> layer(groups, c);
    const auto wv = weights(c, 0.75), bv = weights(c, 0.25);
    set(layer.weight(), wv);
    set(layer.bias(), bv);
    const auto want = reference(
        x, c, spatial, n * groups, [&](std::size_t i, std::size_t ch) { return i * groups + ch / (c / groups); }, wv,
        bv, 1e-5);
    const double tol = output_tolerance<float>(scale_of(want));
    const std::array<std::size_t, 4> e{n, c, h, w};
    const auto names = axis_names<nf::tensor<float, nchw>>();
    check_values(to_logical(layer(laid_out<nchw, nf::shape<H<>, N<>, W<>, C<>>>(x, e)), names), want, tol,
                 "(H, N, W, C)", "layouts");
    check_values(to_logical(layer(laid_out<nchw, nf::shape<N<>, H<>, W<>, C<>>>(x, e)), names), want, tol, "NHWC",
                 "layouts");
}

TEST_CASE("layouts: batch_norm2d and instance_norm2d into an output of another axis order", "[layers][layouts]") {
    const std::size_t n = 3, c = 4, h = 5, w = 3, spatial = h * w;
    const auto x = make_input(n, c, spatial);
    const std::array<std::size_t, 4> e{n, c, h, w};
    const auto xt = laid_out<nchw, nchw>(x, e);
    const auto names = axis_names<nf::tensor<float, nchw>>();
    const auto wv = weights(c, 1.5), bv = weights(c, -0.5);
    nf::tensor<float, nf::shape<N<>, H<>, W<>, C<>>> out({n, h, w, c});

    nf::nn::batch_norm2d<float> bn(c);
    set(bn.weight(), wv);
    set(bn.bias(), bv);
    bn.forward(xt, out);
    const auto want_bn = reference(
        x, c, spatial, c, [](std::size_t, std::size_t ch) { return ch; }, wv, bv, 1e-5);
    check_values(to_logical(out, names), want_bn, output_tolerance<float>(scale_of(want_bn)), "batch_norm2d",
                 "layouts");

    auto in = affine_instance_norm<2>(c, false);
    in.forward(xt, out);
    const auto want_in = instance_reference(x, c, spatial);
    check_values(to_logical(out, names), want_in, output_tolerance<float>(scale_of(want_in)), "instance_norm2d",
                 "layouts");
}

TEST_CASE("layouts: layer_norm over (H, W) of NHWC keeps (N, C): kept groups on both ends", "[layers][layouts]") {
    const std::size_t n = 2, c = 5, h = 4, w = 6, spatial = h * w;
    const auto x = make_input(n, c, spatial);
    nf::nn::layer_norm_options o;
    o.elementwise_affine = false;
    nf::nn::layer_norm<float, nf::shape<H<>, W<>>> layer({h, w}, o);
    const std::vector<double> ones(c, 1.0), zeros(c, 0.0);
    const auto want = reference(
        x, c, spatial, n * c, [&](std::size_t i, std::size_t ch) { return i * c + ch; }, ones, zeros, o.eps);
    const auto y = layer(laid_out<nchw, nf::shape<N<>, H<>, W<>, C<>>>(x, {n, c, h, w}));
    check_values(to_logical(y, axis_names<nf::tensor<float, nchw>>()), want, output_tolerance<float>(scale_of(want)),
                 "NHWC", "layouts");
}

namespace {
/// Logical values of (rows, cols) data: rows offset from each other, so that a row mix-up shows.
std::vector<double> make_rows(std::size_t rows, std::size_t cols) {
    std::vector<double> v(rows * cols);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<double>(static_cast<int>((i * 7919) % 97) - 48) / 16.0 +
               0.5 * static_cast<double>(i / cols % 13);
    return v;
}

/// Per row of `cols` values: `(x - mean) / sqrt(var + eps) * w[j] + b[j]` (centered) or
/// `x / sqrt(mean(x^2) + eps) * w[j]` (RMS), in float64, j the position in the row.
std::vector<double> row_reference(const std::vector<double>& x, std::size_t cols, bool centered,
                                  const std::vector<double>& w, const std::vector<double>& b, double eps) {
    std::vector<double> y(x.size());
    for (std::size_t r = 0; r < x.size() / cols; ++r) {
        const double* p = x.data() + r * cols;
        double mean = 0, m2 = 0;
        for (std::size_t j = 0; j < cols; ++j) mean += p[j];
        mean = centered ? mean / static_cast<double>(cols) : 0.0;
        for (std::size_t j = 0; j < cols; ++j) m2 += (p[j] - mean) * (p[j] - mean);
        const double inv = 1.0 / std::sqrt(m2 / static_cast<double>(cols) + eps);
        for (std::size_t j = 0; j < cols; ++j) y[r * cols + j] = (p[j] - mean) * inv * w[j] + (centered ? b[j] : 0.0);
    }
    return y;
}

template <class Layer, class S>
std::vector<double> run_rows(Layer& layer, const std::vector<double>& x, const nf::extents<S>& e) {
    nf::tensor<float, S> t(e);
    for (std::size_t i = 0; i < x.size(); ++i) t.data()[i] = static_cast<float>(x[i]);
    nf::tensor<float, S> y(e);
    layer.forward(t, y);
    return std::vector<double>(y.data(), y.data() + y.size());
}
} // namespace

// Above 256 KiB, layers whose slots are contiguous rows work in blocks of whole rows (statistics
// of a block, then its output, while it is in cache), one block after another or spread over the
// threads: the results must not depend on it.
TEST_CASE("layouts: layers in cache-sized blocks of rows match float64, serial and threaded", "[layers][layouts]") {
    auto all = [] {
        {
            INFO("rms_norm over C of (N, L, C): rows of 96, 1200 of them");
            const std::size_t n = 4, l = 300, c = 96;
            const auto x = make_rows(n * l, c);
            nf::nn::rms_norm<float, nf::shape<C<>>> layer({c});
            const auto wv = weights(c, 0.5);
            set(layer.weight(), wv);
            const auto want = row_reference(x, c, false, wv, {}, layer.eps());
            const auto got = run_rows(layer, x, nf::extents<nf::shape<N<>, L<>, C<>>>({n, l, c}));
            check_values(got, want, output_tolerance<float>(scale_of(want)), "rms_norm", "layouts blocks");
        }
        {
            INFO("layer_norm over (C, H, W) of NCHW: rows of 100000 values, longer than a block");
            const std::size_t n = 3, c = 4, h = 100, w = 250, cols = c * h * w;
            const auto x = make_rows(n, cols);
            nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> layer({c, h, w});
            std::vector<double> wv(cols), bv(cols);
            for (std::size_t j = 0; j < cols; ++j) {
                wv[j] = 0.5 + static_cast<double>(j % 7) * 0.25;
                bv[j] = static_cast<double>(j % 5) - 2.0;
            }
            set(layer.weight(), wv);
            set(layer.bias(), bv);
            const auto want = row_reference(x, cols, true, wv, bv, 1e-5);
            const auto got = run_rows(layer, x, nf::extents<nchw>({n, c, h, w}));
            check_values(got, want, output_tolerance<float>(scale_of(want)), "layer_norm", "layouts blocks");
        }
        {
            INFO("instance_norm2d on NCHW: rows of 1600, 128 of them, running statistics");
            const std::size_t n = 8, c = 16, h = 40, w = 40, spatial = h * w;
            const auto x = make_input(n, c, spatial);
            auto layer = affine_instance_norm<2>(c, true);
            const auto want = instance_reference(x, c, spatial);
            const auto got = run_rows(layer, x, nf::extents<nchw>({n, c, h, w}));
            check_values(got, want, output_tolerance<float>(scale_of(want)), "instance_norm2d", "layouts blocks");
            // Running mean: momentum 0.1 from 0 towards the mean over instances of each channel.
            for (std::size_t ch = 0; ch < c; ++ch) {
                double mean = 0;
                for (std::size_t i = 0; i < n; ++i)
                    for (std::size_t s = 0; s < spatial; ++s) mean += x[(i * c + ch) * spatial + s];
                mean /= static_cast<double>(n * spatial);
                const double got_mean = layer.running_mean().data()[ch];
                INFO("channel " << ch);
                CHECK(std::abs(got_mean - 0.1 * mean) <= 4 * ulp<float>(0.1 * mean));
            }
        }
    };
    const int threads_before = nf::num_threads();
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        INFO("threads: " << threads);
        all();
    }
    nf::set_num_threads(threads_before);
}

TEST_CASE("layouts: group_norm on NCHW in blocks of groups (input above 256 KiB), serial and threaded",
          "[layers][layouts]") {
    const std::size_t n = 3, c = 64, groups = 16, h = 24, w = 24, spatial = h * w; // 432 KiB, groups of 9 KiB
    const auto x = make_input(n, c, spatial);
    const auto wv = weights(c, 0.75), bv = weights(c, 0.25);
    const auto want = reference(
        x, c, spatial, n * groups, [&](std::size_t i, std::size_t ch) { return i * groups + ch / (c / groups); }, wv,
        bv, 1e-5);
    const int threads_before = nf::num_threads();
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        INFO("threads: " << threads);
        nf::nn::group_norm<float> layer(groups, c);
        set(layer.weight(), wv);
        set(layer.bias(), bv);
        const auto got = run_rows(layer, x, nf::extents<nchw>({n, c, h, w}));
        check_values(got, want, output_tolerance<float>(scale_of(want)), "group_norm", "layouts blocks");
    }
    nf::set_num_threads(threads_before);
}
