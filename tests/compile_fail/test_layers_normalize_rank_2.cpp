// expect: nn::normalize: the input must have at least 3 axes
// Misuse: torchvision's Normalize on a 2-D (C, W) tensor. torchvision rejects it ("Expected tensor
// to be a tensor image of size (..., C, H, W). Got tensor.size() = torch.Size([3, 4])"); the rank is
// in the type, so normfuse rejects it at compile time.
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/normalize.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<C<>, W<>>>& x) {
    const nf::nn::normalize<float> normalizer({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    normalizer(x, nf::nn::in_place);
}
