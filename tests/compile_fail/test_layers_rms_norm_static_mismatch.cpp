// expect: nn::rms_norm::forward: axis W has extent 8 on the left and 7 on the right|axis_extent_mismatch<.*rms_norm_call, nf::axes::W<8>, nf::axes::W<7>|in<nf::nn::detail::rms_norm_call>::axis<nf::axes::W>::has_extent<8>::on_the_left_and<7>::on_the_right
// Misuse: an RMSNorm over (C, W) whose type fixes W = 8, run on an input whose type fixes W<7>
// (C dynamic on one side, so only W can be compared). Rejected at compile time, naming the call,
// the axis and both extents (the layer's on the left, the input's on the right).
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/rms_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<>, H<>, W<7>>>& x) {
    nf::nn::rms_norm<float, nf::shape<C<16>, W<8>>> rms;
    rms(x, nf::nn::in_place);
}
