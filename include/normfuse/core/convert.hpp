// normfuse/core/convert.hpp: element types loaded as batches of their compute type and stored back, scalar and SIMD.
//
// A narrow element (std::uint8_t, std::int8_t, std::uint16_t, nf::bf16, nf::fp16) is widened to
// float as it is loaded, exactly; a float batch is stored into nf::bf16 or nf::fp16 rounded to
// nearest even, with the same bits as the scalar conversions of core/half.hpp. The SIMD forms use
// F16C (vcvtph2ps / vcvtps2ph) or AVX-512 for fp16 where the translation unit is compiled for
// them, and xsimd integer arithmetic otherwise; the 16-to-32-bit moves use SSE2, AVX2 or AVX-512
// instructions, and plain lanes on other architectures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>
#include <normfuse/core/element.hpp>
#include <normfuse/core/half.hpp>

namespace nf::detail {

/// A storage value as a compute-type value (exact for every pair normfuse uses but double -> float).
template <class T, class S>
NF_ALWAYS_INLINE T to_compute(const S& s) {
    if constexpr (is_half_element_v<S>)
        return static_cast<T>(static_cast<float>(s));
    else
        return static_cast<T>(s);
}

/// A compute-type value as the storage type `D` (16-bit floating types: rounded to nearest even).
template <class D, class T>
NF_ALWAYS_INLINE D from_compute(const T& v) {
    if constexpr (is_half_element_v<D>)
        return D(static_cast<float>(v));
    else
        return static_cast<D>(v);
}

/// The architecture integer arithmetic runs on: avx512dq for avx512bw, whose xsimd 8.1 integer
/// `select` names 8- and 16-bit intrinsics that g++ 12 rejects at -O0 for 32-bit lanes (the same
/// registers and instructions otherwise; see expr/ops.hpp).
template <class Arch>
using int_arch_t = std::conditional_t<std::is_same_v<Arch, xsimd::avx512bw>, xsimd::avx512dq, Arch>;

template <class Arch>
using int_batch = xsimd::batch<std::int32_t, int_arch_t<Arch>>;

/// The same register as a batch of another architecture (int_arch_t and back).
template <class To, class T, class From>
NF_ALWAYS_INLINE xsimd::batch<T, To> rearch(const xsimd::batch<T, From>& v) {
    if constexpr (std::is_same_v<To, From>)
        return v;
    else
        return xsimd::batch<T, To>(static_cast<typename xsimd::batch<T, From>::register_type>(v));
}

template <class Arch>
inline constexpr bool is_sse_arch = std::is_base_of_v<xsimd::sse2, Arch>;
template <class Arch>
inline constexpr bool is_avx_arch = std::is_base_of_v<xsimd::avx, Arch>; // avx, avx2 and their fma3
template <class Arch>
inline constexpr bool is_avx2_arch = std::is_base_of_v<xsimd::avx2, Arch>;
template <class Arch>
inline constexpr bool is_avx512_arch = std::is_base_of_v<xsimd::avx512f, Arch>;

/// `size` 16-bit values from `p` (any alignment), zero-extended into 32-bit lanes.
template <class Arch>
NF_ALWAYS_INLINE int_batch<Arch> load_widened_u16(const void* p) {
    using I = int_batch<Arch>;
#if defined(__AVX512F__)
    if constexpr (is_avx512_arch<Arch>) {
        return I(_mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(p))));
    } else
#endif
#if defined(__AVX2__)
        if constexpr (is_avx2_arch<Arch>) {
        return I(_mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))));
    } else
#endif
#if defined(__SSE2__)
        if constexpr (is_sse_arch<Arch>) {
        return I(_mm_unpacklo_epi16(_mm_loadl_epi64(static_cast<const __m128i*>(p)), _mm_setzero_si128()));
    } else
#endif
    {
        std::uint16_t h[I::size];
        std::memcpy(h, p, sizeof h);
        alignas(64) std::int32_t lanes[I::size];
        for (std::size_t l = 0; l < I::size; ++l) lanes[l] = h[l];
        return I::load_aligned(lanes);
    }
}

#if defined(__AVX__)
/// 32 bytes to `p`: any alignment, or (Stream) a non-temporal store to a 32-byte aligned `p`.
template <bool Stream>
NF_ALWAYS_INLINE void put_256(void* p, __m256i v) {
    if constexpr (Stream)
        _mm256_stream_si256(static_cast<__m256i*>(p), v);
    else
        _mm256_storeu_si256(static_cast<__m256i*>(p), v);
}
#endif
#if defined(__SSE2__)
/// 16 bytes to `p`: any alignment, or (Stream) a non-temporal store to a 16-byte aligned `p`.
template <bool Stream>
NF_ALWAYS_INLINE void put_128(void* p, __m128i v) {
    if constexpr (Stream)
        _mm_stream_si128(static_cast<__m128i*>(p), v);
    else
        _mm_storeu_si128(static_cast<__m128i*>(p), v);
}
#endif

/// Stores the low 16 bits of every 32-bit lane to `p` (any alignment; with Stream, a
/// non-temporal store to `p` aligned to the bytes stored, on AVX-512 and AVX2 only).
template <class Arch, bool Stream = false>
NF_ALWAYS_INLINE void store_narrowed_u16(void* p, const int_batch<Arch>& v) {
    using I = int_batch<Arch>;
#if defined(__AVX512F__)
    if constexpr (is_avx512_arch<Arch>) {
        put_256<Stream>(p, _mm512_cvtepi32_epi16(v));
    } else
#endif
#if defined(__AVX2__)
        if constexpr (is_avx2_arch<Arch>) {
        // Sign-extended from 16 bits, the signed saturating pack keeps the low halves as they are.
        const __m256i t = _mm256_srai_epi32(_mm256_slli_epi32(v, 16), 16);
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(t, t), 0x08);
        put_128<Stream>(p, _mm256_castsi256_si128(packed));
    } else
#endif
#if defined(__SSE2__)
        if constexpr (is_sse_arch<Arch>) {
        const __m128i t = _mm_srai_epi32(_mm_slli_epi32(v, 16), 16);
        _mm_storel_epi64(static_cast<__m128i*>(p), _mm_packs_epi32(t, t));
    } else
#endif
    {
        alignas(64) std::int32_t lanes[I::size];
        v.store_aligned(lanes);
        std::uint16_t h[I::size];
        for (std::size_t l = 0; l < I::size; ++l) h[l] = static_cast<std::uint16_t>(lanes[l]);
        std::memcpy(p, h, sizeof h);
    }
}

/// `size` 8-bit integers from `p` (any alignment), sign- or zero-extended into 32-bit lanes.
template <class Arch, bool Signed>
NF_ALWAYS_INLINE int_batch<Arch> load_widened_8(const void* p) {
    using I = int_batch<Arch>;
#if defined(__AVX512F__)
    if constexpr (is_avx512_arch<Arch>) {
        const __m128i b = _mm_loadu_si128(static_cast<const __m128i*>(p));
        return I(Signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
    } else
#endif
#if defined(__AVX2__)
        if constexpr (is_avx2_arch<Arch>) {
        const __m128i b = _mm_loadl_epi64(static_cast<const __m128i*>(p));
        return I(Signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
    } else
#endif
#if defined(__SSE2__)
        if constexpr (is_sse_arch<Arch>) {
        std::int32_t four;
        std::memcpy(&four, p, 4);
        const __m128i b = _mm_cvtsi32_si128(four);
        if constexpr (Signed) {
            const __m128i x = _mm_unpacklo_epi16(_mm_unpacklo_epi8(b, b), _mm_unpacklo_epi8(b, b));
            return I(_mm_srai_epi32(x, 24));
        } else {
            const __m128i z = _mm_setzero_si128();
            return I(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, z), z));
        }
    } else
#endif
    {
        using S = std::conditional_t<Signed, std::int8_t, std::uint8_t>;
        S b[I::size];
        std::memcpy(b, p, sizeof b);
        alignas(64) std::int32_t lanes[I::size];
        for (std::size_t l = 0; l < I::size; ++l) lanes[l] = b[l];
        return I::load_aligned(lanes);
    }
}

/// Float lanes as bf16 bits (in 32-bit lanes): c10's round_to_nearest_even.
template <class Arch>
NF_ALWAYS_INLINE int_batch<Arch> bf16_bits_from(const xsimd::batch<float, Arch>& v) {
    using IA = int_arch_t<Arch>;
    using I = int_batch<Arch>;
    const I u = xsimd::bitwise_cast<I>(rearch<IA>(v));
    const I rounded = (u + I(0x7FFF) + ((u >> 16) & I(1))) >> 16; // only the low 16 bits are stored
    return xsimd::select((u & I(0x7FFFFFFF)) > I(0x7F800000), I(0x7FC0), rounded);
}

/// Float lanes as IEEE binary16 bits (in 32-bit lanes), round to nearest even.
template <class Arch>
NF_ALWAYS_INLINE int_batch<Arch> fp16_bits_from(const xsimd::batch<float, Arch>& v) {
    using IA = int_arch_t<Arch>;
    using I = int_batch<Arch>;
    using F = xsimd::batch<float, IA>;
    const I u = xsimd::bitwise_cast<I>(rearch<IA>(v));
    const I a = u & I(0x7FFFFFFF);
    const I sign = (u >> 16) & I(0x8000);
    const I r = a - I(0x38000000); // normal: exponent rebiased, 13 bits dropped with ties to even
    const I normal = (r + I(0xFFF) + ((r >> 13) & I(1))) >> 13;
    // Below 2^-14: |x| + 0.5 rounds |x| to a multiple of 2^-24 (the ulp of 0.5), ties to even; the
    // multiple is the difference of the bits.
    const I subnormal = xsimd::bitwise_cast<I>(xsimd::bitwise_cast<F>(a) + F(0.5f)) - I(0x3F000000);
    I h = xsimd::select(a < I(0x38800000), subnormal, normal);
    h = xsimd::select(a >= I(0x477FF000), I(0x7C00), h);
    h = xsimd::select(a > I(0x7F800000), I(0x7E00), h);
    return h | sign;
}

/// IEEE binary16 bits (zero-extended in 32-bit lanes) as floats; a NaN is quieted.
template <class Arch>
NF_ALWAYS_INLINE xsimd::batch<float, Arch> float_from_fp16_bits(const int_batch<Arch>& h) {
    using IA = int_arch_t<Arch>;
    using I = int_batch<Arch>;
    using F = xsimd::batch<float, IA>;
    const I sign = (h & I(0x8000)) << 16;
    const I em = h & I(0x7FFF);
    const I normal = (em << 13) + I(0x38000000);
    const I special = ((em << 13) + I(0x70000000)) | xsimd::select(em > I(0x7C00), I(0x400000), I(0));
    const I subnormal = xsimd::bitwise_cast<I>(xsimd::batch_cast<float>(em) * F(0x1p-24f));
    I bits = xsimd::select(em >= I(0x7C00), special, normal);
    bits = xsimd::select(em < I(0x0400), subnormal, bits);
    return rearch<Arch>(xsimd::bitwise_cast<F>(bits | sign));
}

#if defined(__SSE2__)
/// Every fp16 NaN made 0x7E00 with its sign (vcvtps2ph keeps a truncated payload). A template on
/// the architecture, as all SIMD code of normfuse (docs/dispatch.md, "The ODR rule").
template <class Arch>
NF_ALWAYS_INLINE __m128i canonical_fp16_nan(__m128i h) {
    const __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7FFF)), _mm_set1_epi16(0x7C00));
    const __m128i canonical =
        _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16(static_cast<short>(0x8000))), _mm_set1_epi16(0x7E00));
    return _mm_or_si128(_mm_and_si128(nan, canonical), _mm_andnot_si128(nan, h));
}
#endif

/// `size` elements of `S` from `p` (any alignment) as a batch of `T`.
template <class T, class Arch, class S>
NF_ALWAYS_INLINE xsimd::batch<T, Arch> load_converted(const S* p) {
    using B = xsimd::batch<T, Arch>;
    if constexpr (std::is_same_v<S, T>) {
        return B::load_unaligned(p);
    } else if constexpr (std::is_same_v<T, float> && std::is_same_v<S, bf16>) {
        using IA = int_arch_t<Arch>;
        return rearch<Arch>(xsimd::bitwise_cast<xsimd::batch<float, IA>>(load_widened_u16<Arch>(p) << 16));
    } else if constexpr (std::is_same_v<T, float> && std::is_same_v<S, fp16>) {
#if defined(__AVX512F__)
        if constexpr (is_avx512_arch<Arch>) {
            return B(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
        } else
#endif
#if defined(__F16C__)
            if constexpr (is_avx_arch<Arch>) {
            return B(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
        } else if constexpr (is_sse_arch<Arch>) {
            return B(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
        } else
#endif
            return float_from_fp16_bits<Arch>(load_widened_u16<Arch>(p));
    } else if constexpr (std::is_same_v<T, float> && std::is_same_v<S, std::uint16_t>) {
        return rearch<Arch>(xsimd::batch_cast<float>(load_widened_u16<Arch>(p)));
    } else if constexpr (std::is_same_v<T, float> &&
                         (std::is_same_v<S, std::uint8_t> || std::is_same_v<S, std::int8_t>)) {
        return rearch<Arch>(xsimd::batch_cast<float>(load_widened_8<Arch, std::is_same_v<S, std::int8_t>>(p)));
    } else {
        alignas(64) T lanes[B::size];
        for (std::size_t l = 0; l < B::size; ++l) lanes[l] = to_compute<T>(p[l]);
        return B::load_aligned(lanes);
    }
}

/// True when store_converted<Arch, true> can stream a batch of T into D: a 16-bit floating D on
/// AVX-512 or AVX2 (32 or 16 bytes per batch); SSE2 stores 8 bytes, which no vector store streams.
template <class Arch, class D>
inline constexpr bool streams_narrowed = (std::is_same_v<D, bf16> || std::is_same_v<D, fp16>)&&(is_avx512_arch<Arch> ||
                                                                                                is_avx2_arch<Arch>);

/// Stores the `size` lanes of `v` to `p` (any alignment) as `D`: the compute type itself, a 16-bit
/// floating type (float lanes rounded to nearest even), or an integer type whose values the lanes
/// hold exactly (a copy). With Stream (streams_narrowed), a non-temporal store to `p` aligned to
/// the bytes stored.
template <class Arch, bool Stream = false, class D, class T>
NF_ALWAYS_INLINE void store_converted(D* p, const xsimd::batch<T, Arch>& v) {
    static_assert(!Stream || streams_narrowed<Arch, D>);
    if constexpr (std::is_same_v<D, T>) {
        v.store_unaligned(p);
    } else if constexpr (is_integer_element_v<D>) { // a copy of integers (values exact): lane by lane
        alignas(64) T lanes[xsimd::batch<T, Arch>::size];
        v.store_aligned(lanes);
        for (std::size_t l = 0; l < xsimd::batch<T, Arch>::size; ++l) p[l] = static_cast<D>(lanes[l]);
    } else if constexpr (std::is_same_v<D, bf16>) {
        static_assert(std::is_same_v<T, float>);
#if defined(__AVX512BF16__) && defined(__AVX512DQ__)
        // Where the compiler may use AVX-512 BF16: vcvtneps2bf16 rounds to nearest even as c10
        // does, but reads subnormal floats as zero and keeps a NaN's sign and payload; a batch
        // holding either (vfpclassps: quiet or signaling NaN 0x81, subnormal 0x20) takes the
        // integer rounding below instead, so the bits are those of nf::bf16's conversion.
        if constexpr (is_avx512_arch<Arch>) {
            if (_mm512_fpclass_ps_mask(v, 0xA1) == 0) {
                const __m256bh h = _mm512_cvtneps_pbh(v);
                __m256i bits;
                std::memcpy(&bits, &h, sizeof bits);
                put_256<Stream>(p, bits);
                return;
            }
        }
#endif
#if defined(__AVX2__)
        if constexpr (is_avx2_arch<Arch> && !is_avx512_arch<Arch>) {
            // bf16_bits_from's rounding with a logical shift: every lane then fits 16 unsigned
            // bits and one unsigned saturating pack narrows it as it is. c10's NaN (0x7FC0) only
            // for a batch holding a NaN (one float compare), which takes the general path.
            if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) == 0) {
                const __m256i u = _mm256_castps_si256(v);
                const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
                const __m256i r =
                    _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
                const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
                put_128<Stream>(p, _mm256_castsi256_si128(packed));
                return;
            }
        }
#endif
        store_narrowed_u16<Arch, Stream>(p, bf16_bits_from(v));
    } else {
        static_assert(std::is_same_v<D, fp16> && std::is_same_v<T, float>);
#if defined(__AVX512F__) && defined(__AVX2__)
        if constexpr (is_avx512_arch<Arch>) {
            // vcvtps2ph gives c10's bits but for a NaN's payload: a batch without a NaN (the
            // common case: one compare into a mask, no work on the 16-bit lanes) is stored as
            // converted.
            const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) == 0) {
                put_256<Stream>(p, h);
                return;
            }
            const __m256i nan =
                _mm256_cmpgt_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x7FFF)), _mm256_set1_epi16(0x7C00));
            const __m256i canonical = _mm256_or_si256(
                _mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0x8000))), _mm256_set1_epi16(0x7E00));
            put_256<Stream>(p, _mm256_blendv_epi8(h, canonical, nan));
            return;
        }
#endif
#if defined(__F16C__)
        if constexpr (is_avx_arch<Arch>) {
            const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
            if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) == 0) // no NaN: as converted
                put_128<Stream>(p, h);
            else
                put_128<Stream>(p, canonical_fp16_nan<Arch>(h));
            return;
        } else if constexpr (is_sse_arch<Arch>) {
            const __m128i h = _mm_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
            if (_mm_movemask_ps(_mm_cmpunord_ps(v, v)) == 0) // no NaN: as converted
                _mm_storel_epi64(reinterpret_cast<__m128i*>(p), h);
            else
                _mm_storel_epi64(reinterpret_cast<__m128i*>(p), canonical_fp16_nan<Arch>(h));
            return;
        }
#endif
        store_narrowed_u16<Arch, Stream>(p, fp16_bits_from(v));
    }
}

} // namespace nf::detail
