// expect: nf::shape: axis C appears twice|in<nf::detail::shape_call>::axis<nf::axes::C>::appears_twice_in<nf::error::axes<nf::axes::C, nf::axes::H, nf::axes::C> ?>
// Rule: every axis of a shape is distinct (the same axis twice, even with different extents, has no
// meaning for broadcasting by name).
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<C<3>, H<>, C<>>> t({2, 3}); // <- rejected here
    (void)t;
}
