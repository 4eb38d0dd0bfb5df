// normfuse/reduce/widen.hpp: splitting a float batch into two double batches, so that sums accumulate in double.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>
#include <normfuse/eval/bound.hpp>

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

/// A float leaf read from memory (contiguous or through its tile) on an AVX-512 architecture.
template <class Node>
inline constexpr bool widenable_leaf = false;
#if defined(__AVX512F__)
template <class Arch, leaf_mode Mode, std::size_t K>
inline constexpr bool widenable_leaf<bound_leaf<float, Arch, Mode, K>> = std::is_base_of_v<xsimd::avx512f, Arch> &&
                                                                         (Mode == leaf_mode::contiguous ||
                                                                          Mode == leaf_mode::periodic);
#endif

/// The batch of a bound node at (i, phase), widened as `widen` does; a float leaf in memory is
/// read as two half-width loads converted from memory, which saves g++ the extraction of the
/// upper half (clang folds it either way).
template <class Node>
NF_ALWAYS_INLINE auto widen_load(const Node& node, std::size_t i, std::size_t phase) {
#if defined(__AVX512F__)
    if constexpr (widenable_leaf<Node>) {
        using D = xsimd::batch<double, typename Node::batch::arch_type>;
        const float* p = nullptr;
        if constexpr (Node::mode == leaf_mode::contiguous)
            p = node.current + i;
        else
            p = node.tile + phase;
        return std::pair<D, D>{D(_mm512_cvtps_pd(_mm256_loadu_ps(p))), D(_mm512_cvtps_pd(_mm256_loadu_ps(p + 8)))};
    } else
#endif
        return widen(node.load(i, phase));
}

/// True when the architecture has a fused multiply-add instruction for doubles.
template <class Arch>
inline constexpr bool has_native_fma =
    std::is_base_of_v<xsimd::avx512f, Arch> || std::is_base_of_v<xsimd::fma3<xsimd::avx2>, Arch> ||
    std::is_base_of_v<xsimd::fma3<xsimd::avx>, Arch> || std::is_base_of_v<xsimd::fma3<xsimd::sse4_2>, Arch>;

/// A batch of ones the optimizer cannot see through (see `minus_shift`).
template <class Arch>
NF_ALWAYS_INLINE xsimd::batch<double, Arch> opaque_one() {
    xsimd::batch<double, Arch> one(1.0);
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    typename xsimd::batch<double, Arch>::register_type r = one;
    asm("" : "+v"(r));
    one = r;
#endif
    return one;
}

/// acc + v, given `one` (from opaque_one). With a native FMA it is computed as fma(v, 1, acc), the
/// same correctly rounded number, on the multiply-add units: a plain sum of floats otherwise puts
/// both its conversions to double and its additions on the adders, which on AMD Zen are separate
/// units, and is bound by them at half the speed the two kinds of units give together.
template <class Arch>
NF_ALWAYS_INLINE xsimd::batch<double, Arch> plus_on_fma(const xsimd::batch<double, Arch>& acc,
                                                        const xsimd::batch<double, Arch>& v,
                                                        const xsimd::batch<double, Arch>& one) {
    if constexpr (has_native_fma<Arch>)
        return xsimd::fma(v, one, acc);
    else
        return acc + v;
}

/// v - k, given `one` (from opaque_one) and `minus_k` = -k: -k + v as plus_on_fma computes it.
/// The shift of the statistics goes to the multiply-add units: the sums that follow (and the
/// conversions from float) occupy the adders, and on processors where those are separate units
/// (AMD Zen) this balances the two; the barrier in opaque_one keeps the compiler from turning it
/// back into a subtraction.
template <class Arch>
NF_ALWAYS_INLINE xsimd::batch<double, Arch> minus_shift(const xsimd::batch<double, Arch>& v,
                                                        const xsimd::batch<double, Arch>& one,
                                                        const xsimd::batch<double, Arch>& minus_k) {
    return plus_on_fma(minus_k, v, one);
}

/// The shift k of a slot's shifted sums, given the value meant for it (one of the slot's values,
/// or its mean): itself when finite, else 0. With an infinite k, x - k would turn the slot's finite
/// values into -Inf and k itself into NaN (Inf - Inf), and the mean k + sum (x - k) / n of {Inf, 1}
/// into NaN where it is Inf; unshifted, the sums carry Inf and NaN as PyTorch's do.
NF_ALWAYS_INLINE double usable_shift(double k) {
    return std::isfinite(k) ? k : 0.0;
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
