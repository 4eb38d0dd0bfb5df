// The ODR test's AVX2 translation unit (compiled with -mavx2 -mfma -mno-avx512f).
#include "workload.hpp"

namespace {
struct avx2_unit {};
} // namespace

nf_odr::results run_avx2() {
    return nf_odr::compute<avx2_unit>();
}
