// expect: reductions over an nf::strided_view are not supported in this version; copy the view into a tensor first
// Rule: reductions read their operands as contiguous row-major memory; a strided view is an
// operand of element-wise expressions only, and a reduction over it is rejected where it is built.
#include <cstddef>

#include <normfuse/core/strided_view.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

void misuse(const float* rows) {
    using hw = nf::shape<H<>, W<>>;
    const nf::strided_view<const float, hw> x(rows, nf::extents<hw>({4, 6}), {8, 1});
    auto m = nf::mean<W>(x); // <- rejected here
    (void)m;
}
