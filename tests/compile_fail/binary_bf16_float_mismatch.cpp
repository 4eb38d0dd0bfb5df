// expect: operator\*: element types differ \(nf::bf16 and float\); convert one side with nf::cast|in<nf::op::multiplies>::element_types_differ<nf::bf16, float>.*Fix: convert one side with nf::cast
// Rule: bf16 activations and float weights are not combined silently (the result's element type
// would be a guess); nf::cast<nf::bf16>(w) or nf::cast<float>(x) says which.
#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<nf::bf16, nf::shape<N<>, C<4>>> x({2});
    nf::tensor<float, nf::shape<C<4>>> w;
    auto e = x * w; // <- rejected here
    (void)e;
}
