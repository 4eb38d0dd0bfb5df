// expect: operator/: std::uint8_t elements are not computed on; widen them with nf::cast<float>|elements_are_integers_cast_them_with_nf_cast<unsigned char>
// Rule: integer elements are read through nf::cast (exact widening); arithmetic on them directly
// (whose PyTorch semantics would be integer arithmetic) is rejected.
#include <cstdint>

#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse(const std::uint8_t* pixels) {
    nf::view<const std::uint8_t, nf::shape<H<>, W<>, C<3>>> x(pixels, {4, 4});
    auto e = x / 255.f; // <- rejected here
    (void)e;
}
