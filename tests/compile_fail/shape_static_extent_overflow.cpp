// expect: nf::extents: the product of the shape's static extents overflows std::size_t
// Rule: the number of elements of an array must fit in std::size_t. With static extents the
// product is known to the compiler: 2^32 x 2^32 would wrap to 0 (a tensor that reports size 0 and
// allocates nothing); dynamic extents are checked at run time (std::length_error).
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<float, nf::shape<N<(std::size_t{1} << 32)>, C<(std::size_t{1} << 32)>>> t; // <- rejected here
    (void)t;
}
