// The ODR test's AVX2 translation unit (compiled with -mavx2 -mfma -mno-avx512f).
#include "workload.hpp"

namespace {
struct avx2_unit {};
} // namespace

float run_avx2() {
    return nf_odr::normalized_checksum<avx2_unit>();
}
