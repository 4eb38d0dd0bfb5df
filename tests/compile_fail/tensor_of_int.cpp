// expect: nf::tensor<T, Shape>: T must be an element type
// Rule: tensors hold float, double, nf::bf16, nf::fp16 or 8- and 16-bit integers, not int.
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<int, nf::shape<C<3>>> t; // <- rejected here
    (void)t;
}
