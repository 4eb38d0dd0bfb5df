// normfuse/core/simd.hpp: includes xsimd (and with it the intrinsic headers) for the rest of normfuse.
#pragma once

// g++ 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsic headers once they are
// inlined into xsimd's exp, log, tanh (they start from _mm512_undefined_*()). The warning is
// attached to the headers' lines, so silencing it around their first inclusion keeps user code
// built with -Wall -Werror clean without hiding anything in the user's or normfuse's own code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
