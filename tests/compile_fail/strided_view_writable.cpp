// expect: strided views are read-only in this version: T must be const
// Rule: nf::strided_view is read-only; writes go into a contiguous nf::view or nf::tensor.
#include <normfuse/core/strided_view.hpp>

using namespace nf::axes;

void misuse(float* rows) {
    using hw = nf::shape<H<>, W<>>;
    nf::strided_view<float, hw> x(rows, nf::extents<hw>({4, 6}), {8, 1}); // <- rejected here
    (void)x;
}
