// The ODR test's AVX-512 translation unit (compiled with -mavx512f -mavx512cd -mavx512dq
// -mavx512bw -mfma).
#include "workload.hpp"

namespace {
struct avx512_unit {};
} // namespace

float run_avx512() {
    return nf_odr::normalized_checksum<avx512_unit>();
}
