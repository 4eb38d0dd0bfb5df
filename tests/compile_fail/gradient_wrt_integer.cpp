// expect: nf::wrt\(x\): x has integer elements, and a gradient with respect to integers is not defined
// Misuse: a gradient with respect to uint8 pixels, which are read through an integer cast: the
// derivative of a conversion from integers is not defined.
#include <cstdint>

#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>

using namespace nf::axes;

void misuse(const nf::tensor<std::uint8_t, nf::shape<H<>, W<>>>& pixels,
            const nf::tensor<float, nf::shape<H<>, W<>>>& dy) {
    auto y = nf::cast<float>(pixels) / 255.f;
    auto [dp] = nf::gradient(y, dy, nf::wrt(pixels)); // <- rejected here
    (void)dp;
}
