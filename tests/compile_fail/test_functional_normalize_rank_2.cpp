// expect: nn::normalize: the input must have at least 3 axes
// Misuse: torchvision's functional normalize on a 2-D (C, W) tensor. torchvision rejects it
// ("Expected tensor to be a tensor image of size (..., C, H, W)"); the rank is in the type, so
// nn::functional::normalize rejects it at compile time, as the layer does.
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/normalize.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<C<>, W<>>>& x, const nf::tensor<float, nf::shape<C<>>>& mean,
            const nf::tensor<float, nf::shape<C<>>>& sd) {
    nf::nn::functional::normalize(x, x, mean, sd);
}
