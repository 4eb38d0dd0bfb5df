// expect: assignment: axis C is in the expression but not in the destination|in<nf::detail::assignment_call>::axis<nf::axes::C>::is_in_the_expression_but_not_in_the_destination<nf::error::axes<nf::axes::N, nf::axes::H, nf::axes::W> ?>
// Rule: an expression can only be assigned to a destination that has every one of its axes; the
// values along C would have nowhere to go in an (N, H, W) tensor.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> x({1, 2, 2});
    nf::tensor<float, nf::shape<N<>, H<>, W<>>> y({1, 2, 2});
    y = x * 2.f; // <- rejected here
}
