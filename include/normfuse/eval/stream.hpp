// normfuse/eval/stream.hpp: non-temporal (streaming) stores of batches, and the fence after them.
#pragma once

#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>

namespace nf::detail {

/// Stores a batch with a non-temporal (streaming) store; `p` must be aligned to the batch size.
template <class T, class Arch>
NF_ALWAYS_INLINE void stream_store(T* p, const xsimd::batch<T, Arch>& v) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
        if constexpr (std::is_same_v<T, float>)
            _mm512_stream_ps(p, v);
        else
            _mm512_stream_pd(p, v);
        return;
    }
#endif
#if defined(__AVX__)
    if constexpr (std::is_base_of_v<xsimd::avx, Arch> && !std::is_base_of_v<xsimd::avx512f, Arch>) {
        if constexpr (std::is_same_v<T, float>)
            _mm256_stream_ps(p, v);
        else
            _mm256_stream_pd(p, v);
        return;
    }
#endif
#if defined(__SSE2__)
    if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && !std::is_base_of_v<xsimd::avx, Arch> &&
                  !std::is_base_of_v<xsimd::avx512f, Arch>) {
        if constexpr (std::is_same_v<T, float>)
            _mm_stream_ps(p, v);
        else
            _mm_stream_pd(p, v);
        return;
    }
#endif
    v.store_aligned(p);
}

/// Orders streaming stores before whatever follows (they are weakly ordered).
inline void store_fence() noexcept {
#if defined(__SSE__)
    _mm_sfence();
#endif
}

} // namespace nf::detail
