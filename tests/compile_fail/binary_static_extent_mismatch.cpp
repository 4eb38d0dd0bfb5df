// expect: operator\*: axis C has extent 3 on the left and 16 on the right|in<nf::op::multiplies>::axis<nf::axes::C>::has_extent<3>::on_the_left_and<16>::on_the_right
// Rule: the two operands of a binary operation must agree on the static extent of every axis they
// share. Here x has C<3> and g has C<16>.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> x({1, 2, 2});
    nf::tensor<float, nf::shape<C<16>>> g;
    auto e = x * g; // <- rejected here
    (void)e;
}
