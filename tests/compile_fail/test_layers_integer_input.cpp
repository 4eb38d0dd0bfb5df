// expect: nn layers take float, double, nf::bf16 or nf::fp16 inputs \(integer inputs are not normalized by the layers\)
// Misuse: a LayerNorm run directly on uint8 pixels. The layers take the floating element types
// (float, double, nf::bf16, nf::fp16); integers are read through nf::cast first. Rejected at
// compile time, and the message names the fix.
#include <cstdint>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/nn/layer_norm.hpp>

using namespace nf::axes;

void misuse(nf::view<const std::uint8_t, nf::shape<N<>, C<>>> x, nf::tensor<float, nf::shape<N<>, C<>>>& out) {
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({8});
    ln.forward(x, out);
}
