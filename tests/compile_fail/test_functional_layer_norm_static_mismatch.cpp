// expect: nn::functional::layer_norm: axis C has extent 5 on the left and 4 on the right|axis_extent_mismatch<.*functional_layer_norm_call, nf::axes::C<5>, nf::axes::C<4>|in<nf::nn::detail::functional_layer_norm_call>::axis<nf::axes::C>::has_extent<5>::on_the_left_and<4>::on_the_right
// Misuse: nn::functional::layer_norm with a normalized shape whose type fixes C = 5, on an input
// whose type fixes C<4>. Both extents are static, so the call is rejected at compile time, as the
// layer's is (test_layers_layer_norm_static_mismatch.cpp), naming the call, the axis and both
// extents (the normalized shape's on the left, the input's on the right).
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/layer_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<4>>>& x) {
    nf::nn::functional::layer_norm(x, x, nf::extents<nf::shape<C<5>>>());
}
