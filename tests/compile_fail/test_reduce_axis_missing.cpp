// expect: nf::mean: axis H is not an axis of the operand|in<nf::detail::mean_call>::axis<nf::axes::H>::is_not_an_axis_of_the_operand<nf::error::axes<nf::axes::N, nf::axes::C, nf::axes::L> ?>
// Misuse: a mean over H of an (N, C, L) tensor, which has no H. The reduction must name the rule
// (nf::error::reduce_axis_missing) and the call (nf::mean) instead of failing deep in the loop code.
#include <normfuse/core/tensor.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

void misuse(const nf::tensor<float, nf::shape<N<>, C<>, L<>>>& x) {
    nf::tensor<float, nf::shape<N<>, C<>>> m({2, 3});
    m = nf::mean<H>(x); // <- rejected here
}
