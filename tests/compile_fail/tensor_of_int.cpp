// expect: nf::tensor<T, Shape>: T must be float or double
// Rule: tensors hold float or double.
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<int, nf::shape<C<3>>> t; // <- rejected here
    (void)t;
}
