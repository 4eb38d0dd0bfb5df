// expect: nn::layer_norm::forward: axis C has extent 5 on the left and 4 on the right|axis_extent_mismatch<.*layer_norm_call, nf::axes::C<5>, nf::axes::C<4>|in<nf::nn::detail::layer_norm_call>::axis<nf::axes::C>::has_extent<5>::on_the_left_and<4>::on_the_right
// Misuse: a LayerNorm whose normalized shape fixes C = 5 in its type, run on an input whose type
// fixes C<4>. PyTorch finds this at run time ("Given normalized_shape=[5], expected input with
// shape [*, 5], but got input of size[2, 4]"); with both extents static, normfuse rejects it at
// compile time, as it does for BatchNorm's channels, naming the call, the axis and both extents
// (the layer's on the left, the input's on the right).
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/layer_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<4>>>& x) {
    nf::nn::layer_norm<float, nf::shape<C<5>>> ln;
    ln.forward(x, x);
}
