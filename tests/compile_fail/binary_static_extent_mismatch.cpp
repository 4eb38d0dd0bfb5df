// expect: operator\*: axis C has extent 3 on the left and 16 on the right|axis_extent_mismatch<.*nf::op::multiplies, nf::axes::C<3>, nf::axes::C<16>
// Rule: the two operands of a binary operation must agree on the static extent of every axis they
// share. Here x has C<3> and g has C<16>.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> x({1, 2, 2});
    nf::tensor<float, nf::shape<C<16>>> g;
    auto e = x * g;
    (void)e;
}
