// The ODR test's driver, compiled for the baseline ISA: it checks which instruction sets the CPU
// has, runs the AVX2 and AVX-512 translation units, and requires the same checksum from both.
//
// What it catches: a normfuse inline function or template whose mangled name does not depend
// on the instruction set (say, one that uses xsimd's default architecture internally) is
// emitted by both units, each copy compiled for its own ISA, and the linker keeps only one,
// the AVX-512 unit's (see CMakeLists.txt). On a CPU without AVX-512 the AVX2 unit then runs
// AVX-512 code and crashes; on a CPU with it, a unit running the other's kernels can give a
// different answer.
#include "workload.hpp"

#include <cmath>
#include <cstdio>

float run_avx2();
#if NF_ODR_HAVE_AVX512
float run_avx512();
#endif

namespace {
struct main_unit {};

constexpr int skip_return_code = 77; // SKIP_RETURN_CODE of the CTest test

bool close_to(float value, float expected) {
    return std::fabs(value - expected) <= 1e-5f * (1.0f + std::fabs(expected));
}
} // namespace

int main() {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        std::puts("skipped: this CPU has no AVX2/FMA");
        return skip_return_code;
    }

    const float reference = nf_odr::reference_checksum<main_unit>();
    const float avx2 = run_avx2();
    std::printf("scalar reference %.9g\nAVX2 unit        %.9g\n", static_cast<double>(reference),
                static_cast<double>(avx2));
    bool ok = close_to(avx2, reference);

#if NF_ODR_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw")) {
        const float avx512 = run_avx512();
        std::printf("AVX-512 unit     %.9g\n", static_cast<double>(avx512));
        // The computation is elementwise, so both widths must agree to the last bit.
        ok = ok && avx512 == avx2;
    } else {
        std::puts("note: this CPU has no AVX-512; only the AVX2 unit ran, which still proves it "
                  "did not end up with AVX-512 code");
    }
#else
    std::puts("note: the compiler does not accept the AVX-512 flags; only the AVX2 unit was built");
#endif

    std::puts(ok ? "OK: both units give the same answer" : "FAILED: the units disagree");
    return ok ? 0 : 1;
}
