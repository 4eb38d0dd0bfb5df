// benchmarks/half/floor_bf16.hpp: the floor of a bf16 row-wise layer: y = bf16(float(x) * w + b) per row, 2 bytes read and 2 written per element, plus w and b per row (from cache).
//
// Explicit SIMD for the instruction set the benchmark is compiled for (AVX-512, AVX2 or SSE2),
// written with SSE2-era integer operations that every width has, so that the floor does not
// depend on what a vectorizer makes of a loop: bf16 -> float is a 16-bit shift (unpack with zero
// below), float -> bf16 is round to nearest even on the bits (x + 0x7FFF + lsb) >> 16, packed back
// with a signed pack of the arithmetically shifted halves (exact: they are in int16's range). No
// NaN quieting (the data has none): a layer pays a little more for it. Ordinary or streaming
// (non-temporal) stores; the floor is the faster of the two.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace half_bench::floor {

enum class store { regular, streaming };

#if defined(__AVX512F__) && defined(__AVX512BW__)
using vi = __m512i;
using vf = __m512;
constexpr std::size_t lanes = 16;
inline vi loadu(const void* p) {
    return _mm512_loadu_si512(p);
}
inline void storeu(void* p, vi v) {
    _mm512_storeu_si512(p, v);
}
inline void stream(void* p, vi v) {
    _mm512_stream_si512(static_cast<vi*>(p), v);
}
inline vi zero() {
    return _mm512_setzero_si512();
}
inline vi unpacklo16(vi a, vi b) {
    return _mm512_unpacklo_epi16(a, b);
}
inline vi unpackhi16(vi a, vi b) {
    return _mm512_unpackhi_epi16(a, b);
}
inline vi packs32(vi a, vi b) {
    return _mm512_packs_epi32(a, b);
}
inline vi add32(vi a, vi b) {
    return _mm512_add_epi32(a, b);
}
inline vi and_(vi a, vi b) {
    return _mm512_and_si512(a, b);
}
inline vi srli32(vi a, int n) {
    return _mm512_srli_epi32(a, static_cast<unsigned>(n));
}
inline vi srai32(vi a, int n) {
    return _mm512_srai_epi32(a, static_cast<unsigned>(n));
}
inline vi set1(int v) {
    return _mm512_set1_epi32(v);
}
inline vf as_f(vi v) {
    return _mm512_castsi512_ps(v);
}
inline vi as_i(vf v) {
    return _mm512_castps_si512(v);
}
inline vf fma(vf a, vf b, vf c) {
    return _mm512_fmadd_ps(a, b, c);
}
#elif defined(__AVX2__)
using vi = __m256i;
using vf = __m256;
constexpr std::size_t lanes = 8;
inline vi loadu(const void* p) {
    return _mm256_loadu_si256(static_cast<const vi*>(p));
}
inline void storeu(void* p, vi v) {
    _mm256_storeu_si256(static_cast<vi*>(p), v);
}
inline void stream(void* p, vi v) {
    _mm256_stream_si256(static_cast<vi*>(p), v);
}
inline vi zero() {
    return _mm256_setzero_si256();
}
inline vi unpacklo16(vi a, vi b) {
    return _mm256_unpacklo_epi16(a, b);
}
inline vi unpackhi16(vi a, vi b) {
    return _mm256_unpackhi_epi16(a, b);
}
inline vi packs32(vi a, vi b) {
    return _mm256_packs_epi32(a, b);
}
inline vi add32(vi a, vi b) {
    return _mm256_add_epi32(a, b);
}
inline vi and_(vi a, vi b) {
    return _mm256_and_si256(a, b);
}
inline vi srli32(vi a, int n) {
    return _mm256_srli_epi32(a, n);
}
inline vi srai32(vi a, int n) {
    return _mm256_srai_epi32(a, n);
}
inline vi set1(int v) {
    return _mm256_set1_epi32(v);
}
inline vf as_f(vi v) {
    return _mm256_castsi256_ps(v);
}
inline vi as_i(vf v) {
    return _mm256_castps_si256(v);
}
#if defined(__FMA__)
inline vf fma(vf a, vf b, vf c) {
    return _mm256_fmadd_ps(a, b, c);
}
#else
inline vf fma(vf a, vf b, vf c) {
    return _mm256_add_ps(_mm256_mul_ps(a, b), c);
}
#endif
#else
using vi = __m128i;
using vf = __m128;
constexpr std::size_t lanes = 4;
inline vi loadu(const void* p) {
    return _mm_loadu_si128(static_cast<const vi*>(p));
}
inline void storeu(void* p, vi v) {
    _mm_storeu_si128(static_cast<vi*>(p), v);
}
inline void stream(void* p, vi v) {
    _mm_stream_si128(static_cast<vi*>(p), v);
}
inline vi zero() {
    return _mm_setzero_si128();
}
inline vi unpacklo16(vi a, vi b) {
    return _mm_unpacklo_epi16(a, b);
}
inline vi unpackhi16(vi a, vi b) {
    return _mm_unpackhi_epi16(a, b);
}
inline vi packs32(vi a, vi b) {
    return _mm_packs_epi32(a, b);
}
inline vi add32(vi a, vi b) {
    return _mm_add_epi32(a, b);
}
inline vi and_(vi a, vi b) {
    return _mm_and_si128(a, b);
}
inline vi srli32(vi a, int n) {
    return _mm_srli_epi32(a, n);
}
inline vi srai32(vi a, int n) {
    return _mm_srai_epi32(a, n);
}
inline vi set1(int v) {
    return _mm_set1_epi32(v);
}
inline vf as_f(vi v) {
    return _mm_castsi128_ps(v);
}
inline vi as_i(vf v) {
    return _mm_castps_si128(v);
}
inline vf fma(vf a, vf b, vf c) {
    return _mm_add_ps(_mm_mul_ps(a, b), c);
}
#endif

/// 16-bit values per vector (two float vectors).
constexpr std::size_t step = 2 * lanes;

/// Float bits -> bf16 bits, to nearest even, in the low 16 bits of each 32-bit lane (signed).
inline vi round_to_bf16(vi bits) {
    const vi lsb = and_(srli32(bits, 16), set1(1));
    return srai32(add32(bits, add32(set1(0x7FFF), lsb)), 16);
}

inline float widen(std::uint16_t h) {
    const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline std::uint16_t narrow(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/// y[r, j] = bf16(float(x[r, j]) * float(w[j]) + float(b[j])) for `rows` rows of `row` values. With
/// streaming stores, y and every row start 64-byte aligned (row a multiple of `step`).
template <store S>
void affine_rows(const std::uint16_t* x, const std::uint16_t* w, const std::uint16_t* b, std::uint16_t* y,
                 std::size_t rows, std::size_t row) {
    const vi z = zero();
    for (std::size_t r = 0; r < rows; ++r) {
        const std::uint16_t* xr = x + r * row;
        std::uint16_t* yr = y + r * row;
        std::size_t j = 0;
        for (; j + step <= row; j += step) {
            const vi xv = loadu(xr + j), wv = loadu(w + j), bv = loadu(b + j);
            // unpack(zero, v): each 16-bit value in the high half of a 32-bit lane, i.e. as float.
            const vf lo = fma(as_f(unpacklo16(z, xv)), as_f(unpacklo16(z, wv)), as_f(unpacklo16(z, bv)));
            const vf hi = fma(as_f(unpackhi16(z, xv)), as_f(unpackhi16(z, wv)), as_f(unpackhi16(z, bv)));
            const vi out = packs32(round_to_bf16(as_i(lo)), round_to_bf16(as_i(hi)));
            if constexpr (S == store::streaming)
                stream(yr + j, out);
            else
                storeu(yr + j, out);
        }
        for (; j < row; ++j) yr[j] = narrow(widen(xr[j]) * widen(w[j]) + widen(b[j]));
    }
    if constexpr (S == store::streaming) _mm_sfence();
}

/// A hand-written RMSNorm for comparison: per row, the sum of squares in float (four chains), then
/// y = bf16(x * r * w) while the row is in L1. With `Prefetch`, the next row is requested during
/// the output pass (one prefetch per cache line), so that memory keeps streaming while it computes.
template <bool Prefetch>
void hand_rms_rows(const std::uint16_t* x, const std::uint16_t* w, std::uint16_t* y, std::size_t rows, std::size_t row,
                   float eps) {
    const vi z = zero();
    for (std::size_t r = 0; r < rows; ++r) {
        const std::uint16_t* xr = x + r * row;
        std::uint16_t* yr = y + r * row;
        vf acc[4] = {as_f(z), as_f(z), as_f(z), as_f(z)};
        std::size_t j = 0;
        for (; j + 2 * step <= row; j += 2 * step) {
            const vi a = loadu(xr + j), b = loadu(xr + j + step);
            vf v;
            v = as_f(unpacklo16(z, a));
            acc[0] = fma(v, v, acc[0]);
            v = as_f(unpackhi16(z, a));
            acc[1] = fma(v, v, acc[1]);
            v = as_f(unpacklo16(z, b));
            acc[2] = fma(v, v, acc[2]);
            v = as_f(unpackhi16(z, b));
            acc[3] = fma(v, v, acc[3]);
        }
        alignas(64) float lanes_out[lanes];
        float ss = 0;
        for (int k = 0; k < 4; ++k) {
            std::memcpy(lanes_out, &acc[k], sizeof lanes_out);
            for (std::size_t l = 0; l < lanes; ++l) ss += lanes_out[l];
        }
        for (; j < row; ++j) ss += widen(xr[j]) * widen(xr[j]);
        const float rs = 1.0f / std::sqrt(ss / static_cast<float>(row) + eps);
        vf rv;
        {
            alignas(64) float t[lanes];
            for (std::size_t l = 0; l < lanes; ++l) t[l] = rs;
            std::memcpy(&rv, t, sizeof rv);
        }
        const vf zf = as_f(z);
        j = 0;
        for (; j + step <= row; j += step) {
            if constexpr (Prefetch) {
                if (r + 1 < rows) _mm_prefetch(reinterpret_cast<const char*>(xr + row + j), _MM_HINT_T0);
            }
            const vi xv = loadu(xr + j), wv = loadu(w + j);
            const vf lo = fma(fma(as_f(unpacklo16(z, xv)), rv, zf), as_f(unpacklo16(z, wv)), zf);
            const vf hi = fma(fma(as_f(unpackhi16(z, xv)), rv, zf), as_f(unpackhi16(z, wv)), zf);
            storeu(yr + j, packs32(round_to_bf16(as_i(lo)), round_to_bf16(as_i(hi))));
        }
        for (; j < row; ++j) yr[j] = narrow(widen(xr[j]) * rs * widen(w[j]));
    }
}

} // namespace half_bench::floor
