// normfuse/core/config.hpp: library-wide constants, the dynamic-extent marker and the few NF_ macros.
#pragma once

#include <cstddef>
#include <limits>

#define NF_VERSION_MAJOR 0
#define NF_VERSION_MINOR 1
#define NF_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define NF_ALWAYS_INLINE inline __attribute__((always_inline))
#define NF_RESTRICT __restrict__
#define NF_NOINLINE __attribute__((noinline))
#define NF_COLD __attribute__((cold, noinline))
#else
#define NF_ALWAYS_INLINE inline
#define NF_RESTRICT
#define NF_NOINLINE
#define NF_COLD
#endif

namespace nf {

/// Marks an axis whose extent is only known at run time (`C<>` is `C<dynamic_extent>`).
inline constexpr std::size_t dynamic_extent = std::numeric_limits<std::size_t>::max();

/// Alignment of every buffer that normfuse allocates: one cache line, enough for AVX-512.
inline constexpr std::size_t buffer_alignment = 64;

/// Bytes of scratch space an assignment keeps on the stack for per-channel values before it
/// falls back to the heap (hoisted sub-expressions, tiled per-channel operands).
inline constexpr std::size_t inline_scratch_bytes = 16384;

} // namespace nf
