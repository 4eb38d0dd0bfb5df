// expect: nn::batch_norm::forward: axis C has extent 3 on the left and 4 on the right|in<nf::nn::detail::batch_norm_call>::axis<nf::axes::C>::has_extent<3>::on_the_left_and<4>::on_the_right
// Misuse: a batch_norm2d whose type fixes 3 channels, run on an input whose type fixes C<4>.
// PyTorch only finds this at run time ("running_mean should contain 4 elements not 3"); with both
// extents static, normfuse rejects it at compile time, naming the call, the axis and the extents.
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/batch_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<4>, H<>, W<>>>& x) {
    nf::nn::batch_norm2d<float, 3> bn;
    bn.forward(x, x); // <- rejected here
}
