// expect: nf::cast<T>\(x\): x computes in double and T in float, or the reverse
// Rule: a change between float and double compute types is made as tensors and views are read,
// not in the middle of a computed expression (its batches would change width).
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>>> x({2});
    auto e = nf::cast<double>(x * 2.f); // <- rejected here
    (void)e;
}
