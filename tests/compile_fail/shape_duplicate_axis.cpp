// expect: nf::shape: axis C appears twice|duplicate_axis<.*nf::detail::shape_call, nf::axes::C<
// Rule: every axis of a shape is distinct (the same axis twice, even with different extents, has no
// meaning for broadcasting by name).
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<C<3>, H<>, C<>>> t({2, 3});
    (void)t;
}
