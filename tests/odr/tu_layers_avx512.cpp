// The ODR layer test's AVX-512 translation unit (compiled like tu_avx512.cpp).
#include "layers.hpp"

namespace {
struct avx512_unit {};
} // namespace

nf_odr_layers::results run_layers_avx512() {
    return nf_odr_layers::compute<avx512_unit>();
}
