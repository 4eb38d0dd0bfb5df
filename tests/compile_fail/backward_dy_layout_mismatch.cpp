// expect: nn::batch_norm::backward: dy and dx must have the axes of x in the same order
// Rule: a gradient is laid out as the array it is the gradient of; dy in NHWC for an NCHW x would
// be read element by element in the wrong order, so it is rejected at compile time.
#include <normfuse/nn/batch_norm.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<>, H<>, W<>>> x({2, 3, 4, 4}), y({2, 3, 4, 4}), dx({2, 3, 4, 4});
    nf::tensor<float, nf::shape<N<>, H<>, W<>, C<>>> dy({2, 4, 4, 3});
    nf::nn::batch_norm2d<float> bn(3);
    nf::nn::saved_statistics saved;
    bn.forward(x, y, saved);
    bn.backward(x, dy, dx, saved); // <- rejected here
}
