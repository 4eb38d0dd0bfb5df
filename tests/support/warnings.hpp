// tests/support/warnings.hpp: include FIRST in a test file that evaluates nf::sqrt, rsqrt, exp, log,
// tanh or sigmoid. It silences one known false positive of the toolchain, nothing of normfuse.
//
// g++ 12 (seen with Debian's 12.2.0) with AVX-512 enabled (-march=native on an AVX-512 machine)
// warns "'__Y' is used uninitialized" / "may be used uninitialized" inside avx512fintrin.h wherever
// _mm512_sqrt_ps and friends are inlined: _mm512_undefined_ps() is written `__m512 __Y = __Y;`
// (GCC bug 105593). Under -Werror that breaks the build of any code that evaluates these functions,
// so users of normfuse hit it too (reported). The pragma has to precede <immintrin.h>, hence
// "include first"; it applies to the whole translation unit, which is why it is limited to the
// affected compiler.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
