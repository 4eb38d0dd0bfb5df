// expect: operator\+: element types differ \(float and double\); convert one side with nf::cast|in<nf::op::plus>::element_types_differ<float, double>.*Fix: convert one side with nf::cast
// Rule: normfuse never converts element types silently; a float tensor and a double tensor cannot
// be combined without an nf::cast, which the diagnostic names as the fix.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>>> x({2});
    nf::tensor<double, nf::shape<C<3>>> m{1.0, 2.0, 3.0};
    auto e = x + m; // <- rejected here
    (void)e;
}
