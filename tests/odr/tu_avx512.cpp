// The ODR test's AVX-512 translation unit (compiled with -mavx512f -mavx512cd -mavx512dq
// -mavx512bw -mfma).
#include "workload.hpp"

namespace {
struct avx512_unit {};
} // namespace

nf_odr::results run_avx512() {
    return nf_odr::compute<avx512_unit>();
}
