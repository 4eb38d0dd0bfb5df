// expect: assignment: axis C has extent 3 on the left and 4 on the right|in<nf::detail::assignment_call>::axis<nf::axes::C>::has_extent<3>::on_the_left_and<4>::on_the_right
// Rule: destination and expression must agree on static extents: the destination has C<3>, the
// expression C<4>.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<>, C<4>>> x({2});
    nf::tensor<float, nf::shape<N<>, C<3>>> y({2});
    y = x + 1.f; // <- rejected here
}
