// The ODR layer test's AVX2 translation unit (compiled like tu_avx2.cpp).
#include "layers.hpp"

namespace {
struct avx2_unit {};
} // namespace

nf_odr_layers::results run_layers_avx2() {
    return nf_odr_layers::compute<avx2_unit>();
}
