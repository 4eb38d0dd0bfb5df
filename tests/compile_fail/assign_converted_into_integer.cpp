// expect: assignment: no conversion stores into std::uint8_t elements|cannot_store_converted_values_into<unsigned char>
// Rule: values are not rounded or saturated into integers; only a copy of the same integer type
// is stored into an integer destination.
#include <cstdint>

#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    nf::tensor<std::uint8_t, nf::shape<H<>, W<>>> x({4, 4}), y({4, 4});
    y = nf::cast<float>(x) * 0.5f; // <- rejected here
}
