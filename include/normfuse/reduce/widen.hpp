// normfuse/reduce/widen.hpp: splitting a float batch into two double batches, so that sums accumulate in double.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>

namespace nf::detail {

/// The lanes of a float batch as two double batches (low half, high half) of the same
/// architecture; a double batch is returned as is (second half unused).
template <class Arch>
NF_ALWAYS_INLINE std::pair<xsimd::batch<double, Arch>, xsimd::batch<double, Arch>>
widen(const xsimd::batch<float, Arch>& v) {
    using D = xsimd::batch<double, Arch>;
    static_assert(D::size * 2 == xsimd::batch<float, Arch>::size);
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
        const __m512 r = v;
        // The zero-masked forms are used because the plain ones start from _mm512_undefined_pd(),
        // which makes g++ 12 warn (maybe-uninitialized) in every caller built with -Wall.
        const __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(r), 0));
        const __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(r), 1));
        return {D(_mm512_maskz_cvtps_pd(0xFF, lo)), D(_mm512_maskz_cvtps_pd(0xFF, hi))};
    } else
#endif
#if defined(__AVX__)
        if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
        const __m256 r = v;
        return {D(_mm256_cvtps_pd(_mm256_castps256_ps128(r))), D(_mm256_cvtps_pd(_mm256_extractf128_ps(r, 1)))};
    } else
#endif
#if defined(__SSE2__)
        if constexpr (std::is_base_of_v<xsimd::sse2, Arch>) {
        const __m128 r = v;
        return {D(_mm_cvtps_pd(r)), D(_mm_cvtps_pd(_mm_movehl_ps(r, r)))};
    } else
#endif
    {
        alignas(64) float f[xsimd::batch<float, Arch>::size];
        alignas(64) double d[xsimd::batch<float, Arch>::size];
        v.store_aligned(f);
        for (std::size_t i = 0; i < xsimd::batch<float, Arch>::size; ++i) d[i] = f[i];
        return {D::load_aligned(d), D::load_aligned(d + D::size)};
    }
}

/// Sum of the lanes of a batch (in lane order, through memory: portable and warning-free).
template <class T, class Arch>
NF_ALWAYS_INLINE T lane_sum(const xsimd::batch<T, Arch>& v) {
    alignas(64) T lanes[xsimd::batch<T, Arch>::size];
    v.store_aligned(lanes);
    T s = 0;
    for (T x : lanes) s += x;
    return s;
}

} // namespace nf::detail
