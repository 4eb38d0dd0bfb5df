// Static tests (compiling is the test) of the normalization layers' types: static group and
// channel counts, default constructibility where the type fixes every count, the types of the
// reductions' results, and that forward instantiates for every layout the layers accept. The
// misuses that a normfuse diagnostic rejects are compile-fail tests (tests/compile_fail/test_layers_*).
#include <cstddef>
#include <type_traits>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

namespace {
using nchw6 = nf::shape<N<>, C<6>, H<>, W<>>;
using nhwc6 = nf::shape<N<>, H<>, W<>, C<6>>;
using ncl = nf::shape<N<>, C<>, L<>>;
} // namespace

// group_norm<float, 2, 6>: 6 channels in 2 groups of 3. The type fixes G and C, so it is default
// constructible and its within-group axis is static.
static_assert(std::is_default_constructible_v<nf::nn::group_norm<float, 2, 6>>);
static_assert(std::is_same_v<nf::nn::group_norm<float, 2, 6>::group_axis, G<2>>);
static_assert(std::is_same_v<nf::nn::group_norm<float, 2, 6>::within_axis, K<3>>);
static_assert(std::is_same_v<nf::nn::group_norm<float, 2, 6>::channel_vector, nf::tensor<float, nf::shape<C<6>>>>);
static_assert(std::is_same_v<nf::nn::group_norm<double, 6, 6>::within_axis, K<1>>);
static_assert(std::is_same_v<nf::nn::group_norm<float, 1, 6>::within_axis, K<6>>);
// Misuse: a dynamic group_norm has no default: G and C must be given.
static_assert(!std::is_default_constructible_v<nf::nn::group_norm<float>>);
static_assert(std::is_constructible_v<nf::nn::group_norm<float>, std::size_t, std::size_t>);

// batch_norm / instance_norm: a static channel count makes the layer default constructible.
static_assert(std::is_default_constructible_v<nf::nn::batch_norm2d<float, 3>>);
// Misuse: a dynamic batch_norm needs num_features.
static_assert(!std::is_default_constructible_v<nf::nn::batch_norm2d<float>>);
// Misuse: num_features is not implicitly a layer.
static_assert(!std::is_convertible_v<std::size_t, nf::nn::batch_norm2d<float>>);
static_assert(!std::is_convertible_v<std::size_t, nf::nn::instance_norm2d<float>>);
static_assert(std::is_same_v<nf::nn::batch_norm1d<float>, nf::nn::batch_norm<float, 1>>);
static_assert(std::is_same_v<nf::nn::batch_norm3d<double, 4>, nf::nn::batch_norm<double, 3, 4>>);
static_assert(std::is_same_v<nf::nn::batch_norm2d<float, 3>::channel_vector, nf::tensor<float, nf::shape<C<3>>>>);

// layer_norm / rms_norm: the parameters are laid out as the normalized shape.
static_assert(std::is_same_v<nf::nn::layer_norm<float, nf::shape<C<>, L<>>>::parameter_tensor,
                             nf::tensor<float, nf::shape<C<>, L<>>>>);
static_assert(std::is_default_constructible_v<nf::nn::layer_norm<float, nf::shape<C<5>, L<7>>>>);
static_assert(!std::is_default_constructible_v<nf::nn::layer_norm<float, nf::shape<C<>, L<>>>>);
static_assert(std::is_default_constructible_v<nf::nn::rms_norm<double, nf::shape<L<8>>>>);

// Reductions: the result has the operand's other axes, in the operand's order.
static_assert(std::is_same_v<decltype(nf::mean<N, H, W>(std::declval<const nf::tensor<float, nhwc6>&>()))::axes,
                             nf::axis_list<C<6>>>);
static_assert(std::is_same_v<decltype(nf::var<C>(std::declval<const nf::tensor<float, nhwc6>&>()))::axes,
                             nf::axis_list<N<>, H<>, W<>>>);
static_assert(std::is_same_v<decltype(nf::sum<N, C, H, W>(std::declval<const nf::tensor<double, nchw6>&>()))::axes,
                             nf::axis_list<>>);
static_assert(std::is_same_v<decltype(nf::moments<H, W>(std::declval<const nf::tensor<float, nhwc6>&>()).mean),
                             nf::tensor<float, nf::shape<N<>, C<6>>>>);

// forward instantiates for static C in NCHW and NHWC, views and in place. These functions are
// compiled, never called.
void group_norm_static_counts(nf::tensor<float, nchw6>& x, nf::tensor<float, nhwc6>& xl,
                              nf::view<const float, nhwc6> xv, nf::view<float, nhwc6> yv) {
    nf::nn::group_norm<float, 2, 6> gn;
    gn.forward(x, x);
    gn.forward(xl, xl);
    gn.forward(xv, yv);
    gn(xl, nf::nn::in_place);
    nf::tensor<float, nchw6> y = gn(x);
    (void)y;
}
void batch_norm_static_channels(nf::tensor<float, nhwc6>& x, nf::view<float, nchw6> y) {
    nf::nn::batch_norm2d<float, 6> bn;
    bn.forward(x, y);
    nf::nn::instance_norm2d<float, 6> in(6);
    in.forward(x, y);
}
void layer_norm_dynamic(const nf::tensor<double, ncl>& x, nf::tensor<double, nf::shape<N<>, L<>, C<>>>& y) {
    nf::nn::layer_norm<double, nf::shape<C<>, L<>>> ln({5, 7});
    ln.forward(x, y);
    nf::nn::rms_norm<double, nf::shape<L<>>> rn({7});
    rn.forward(x, y);
}
