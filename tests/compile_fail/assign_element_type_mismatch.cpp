// expect: assignment: element types differ \(float and double\)|in<nf::detail::assignment_call>::element_types_differ<float, double>
// Rule: an expression of doubles is not assigned to a float tensor by silent rounding.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<double, nf::shape<N<>, C<3>>> x({2});
    nf::tensor<float, nf::shape<N<>, C<3>>> y({2});
    y = x * 2.0; // <- rejected here
}
