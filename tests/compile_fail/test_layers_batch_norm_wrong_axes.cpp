// expect: batch_norm::forward: the input must have the axes .*\(N, C, H, W\) for batch_norm2d
// Misuse: batch_norm2d on an (N, C, L) input. PyTorch says "expected 4D input (got 3D input)";
// normfuse checks the axis NAMES at compile time and lists the axes each batch_norm accepts.
#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/batch_norm.hpp>

using namespace nf::axes;

void misuse(nf::tensor<float, nf::shape<N<>, C<>, L<>>>& x) {
    nf::nn::batch_norm2d<float> bn(3);
    bn.forward(x, x); // <- rejected here
}
