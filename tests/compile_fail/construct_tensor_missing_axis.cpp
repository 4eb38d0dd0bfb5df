// expect: tensor construction from an expression: the expression lacks an axis of the tensor
// Rule: a tensor built from an expression takes its extents from it, so the expression must have
// every axis of the tensor; here H and W are unknown.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>>> x({2});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> y = x * 2.f; // <- rejected here
    (void)y;
}
