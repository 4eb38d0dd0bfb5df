// expect: nn layer forward: the input's element type is not the layer's
// Misuse: a bf16 RMSNorm run on float activations. A layer of element type T reads and writes T;
// rejected at compile time with one error that names the fix (a layer of the input's type, or a
// conversion of the input first).
#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/rms_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<>>>& x) {
    nf::nn::rms_norm<nf::bf16, nf::shape<C<>>> rms({8});
    rms(x, nf::nn::in_place);
}
