// expect: nn::functional::rms_norm: axis W has extent 8 on the left and 7 on the right|axis_extent_mismatch<.*functional_rms_norm_call, nf::axes::W<8>, nf::axes::W<7>|in<nf::nn::detail::functional_rms_norm_call>::axis<nf::axes::W>::has_extent<8>::on_the_left_and<7>::on_the_right
// Misuse: nn::functional::rms_norm over (C, W) with W = 8 in the normalized shape's type, on an
// input whose type fixes W<7>. Rejected at compile time, as the layer's call is.
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/rms_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<>, W<7>>>& x) {
    nf::nn::functional::rms_norm(x, x, nf::extents<nf::shape<C<>, W<8>>>({16}));
}
