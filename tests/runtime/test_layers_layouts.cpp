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

} // namespace

TEST_CASE("layouts: instance_norm3d on (D, N, H, C, W), five groups, matches float64", "[layers][layouts]") {
    const std::size_t n = 2, c = 3, d = 2, h = 3, w = 5, spatial = d * h * w;
    const auto x = make_input(n, c, spatial);
    nf::nn::instance_norm_options o;
    o.affine = true;
    nf::nn::instance_norm3d<float> layer(c, o);
    const auto wv = weights(c, 0.5), bv = weights(c, -1.0);
    set(layer.weight(), wv);
    set(layer.bias(), bv);
    const auto want = reference(
        x, c, spatial, n * c, [&](std::size_t i, std::size_t ch) { return i * c + ch; }, wv, bv, o.eps);
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

    nf::nn::instance_norm_options o;
    o.affine = true;
    nf::nn::instance_norm2d<float> in(c, o);
    set(in.weight(), wv);
    set(in.bias(), bv);
    in.forward(xt, out);
    const auto want_in = reference(
        x, c, spatial, n * c, [&](std::size_t i, std::size_t ch) { return i * c + ch; }, wv, bv, 1e-5);
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
