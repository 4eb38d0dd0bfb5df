// benchmarks/support/kernels.hpp: AVX-512 building blocks of the floor loops and of the hand-written fused loops.
//
// Written with intrinsics on purpose: the floor is what the machine can do, so it must not
// depend on what a vectorizer makes of a loop. Every kernel takes a store policy: ordinary
// stores (the output stays in cache, which wins while it fits) or streaming (non-temporal)
// stores (no read-for-ownership of the output, which wins once it does not).
#pragma once

#if !defined(__AVX512F__) || !defined(__AVX512DQ__)
#error "The floor and hand-written loops need AVX-512F/DQ: build the benchmarks with -march=native on such a machine"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace bench::kernels {

enum class store { regular, streaming };

/// Elements per vector.
inline constexpr std::size_t lanes = 16;

inline __mmask16 tail_mask(std::size_t count) {
    return static_cast<__mmask16>((1u << count) - 1u);
}

template <store S>
inline void put(float* p, __m512 v) {
    if constexpr (S == store::streaming)
        _mm512_stream_ps(p, v); // p is 64-byte aligned here
    else
        _mm512_storeu_ps(p, v);
}

/// y[i] = f(x[i]) over [0, n), four vectors per step. With streaming stores the head is peeled
/// to a 64-byte boundary of y and the tail is written with a masked ordinary store.
template <store S, class F>
inline void map(const float* x, float* y, std::size_t n, F f) {
    std::size_t i = 0;
    if constexpr (S == store::streaming) {
        const std::size_t misaligned = (reinterpret_cast<std::uintptr_t>(y) / sizeof(float)) % lanes;
        if (misaligned != 0) {
            const std::size_t head = lanes - misaligned < n ? lanes - misaligned : n;
            const __mmask16 m = tail_mask(head);
            _mm512_mask_storeu_ps(y, m, f(_mm512_maskz_loadu_ps(m, x)));
            i = head;
        }
    }
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
        const __m512 a = f(_mm512_loadu_ps(x + i)), b = f(_mm512_loadu_ps(x + i + lanes)),
                     c = f(_mm512_loadu_ps(x + i + 2 * lanes)), d = f(_mm512_loadu_ps(x + i + 3 * lanes));
        put<S>(y + i, a);
        put<S>(y + i + lanes, b);
        put<S>(y + i + 2 * lanes, c);
        put<S>(y + i + 3 * lanes, d);
    }
    for (; i + lanes <= n; i += lanes) put<S>(y + i, f(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/// Orders the streaming stores before whatever follows.
template <store S>
inline void fence() {
    if constexpr (S == store::streaming) _mm_sfence();
}

/// Sum of x[0, n) in float: the read pass of the training floor (four independent chains).
inline float sum(const float* x, std::size_t n) {
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
        a = _mm512_add_ps(a, _mm512_loadu_ps(x + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(x + i + lanes));
        c = _mm512_add_ps(c, _mm512_loadu_ps(x + i + 2 * lanes));
        d = _mm512_add_ps(d, _mm512_loadu_ps(x + i + 3 * lanes));
    }
    for (; i + lanes <= n; i += lanes) a = _mm512_add_ps(a, _mm512_loadu_ps(x + i));
    if (i < n) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
}

inline __m512d low_half(__m512 v) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}
inline __m512d high_half(__m512 v) {
    return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}
/// 16 doubles rounded to one vector of 16 floats.
inline __m512 to_floats(const double* p) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_loadu_pd(p))),
                              _mm512_cvtpd_ps(_mm512_loadu_pd(p + 8)), 1);
}

/// Shifted moments of a contiguous run in double: s1 += sum (x - k), s2 += sum (x - k)^2.
inline void moments(const float* x, std::size_t n, double k, double& s1, double& s2) {
    const __m512d kk = _mm512_set1_pd(k);
    __m512d a1 = _mm512_setzero_pd(), b1 = a1, c1 = a1, d1 = a1, a2 = a1, b2 = a1, c2 = a1, d2 = a1;
    std::size_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
        const __m512 u = _mm512_loadu_ps(x + i), v = _mm512_loadu_ps(x + i + lanes);
        const __m512d ul = _mm512_sub_pd(low_half(u), kk), uh = _mm512_sub_pd(high_half(u), kk);
        const __m512d vl = _mm512_sub_pd(low_half(v), kk), vh = _mm512_sub_pd(high_half(v), kk);
        a1 = _mm512_add_pd(a1, ul);
        b1 = _mm512_add_pd(b1, uh);
        c1 = _mm512_add_pd(c1, vl);
        d1 = _mm512_add_pd(d1, vh);
        a2 = _mm512_fmadd_pd(ul, ul, a2);
        b2 = _mm512_fmadd_pd(uh, uh, b2);
        c2 = _mm512_fmadd_pd(vl, vl, c2);
        d2 = _mm512_fmadd_pd(vh, vh, d2);
    }
    double r1 = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a1, b1), _mm512_add_pd(c1, d1)));
    double r2 = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a2, b2), _mm512_add_pd(c2, d2)));
    for (; i < n; ++i) {
        const double dv = static_cast<double>(x[i]) - k;
        r1 += dv;
        r2 += dv * dv;
    }
    s1 += r1;
    s2 += r2;
}

/// The same as moments(), with float partial sums over blocks of `block` elements folded into
/// double: the values are shifted by an element of their own slot first, so the partial sums are
/// of numbers of the size of the spread and float loses little, at the speed of float arithmetic.
inline void moments_f32_blocks(const float* x, std::size_t n, float k, double& s1, double& s2,
                               std::size_t block = 1024) {
    const __m512 kk = _mm512_set1_ps(k);
    std::size_t i = 0;
    double r1 = 0, r2 = 0;
    while (i + lanes <= n) {
        __m512 a1 = _mm512_setzero_ps(), b1 = a1, a2 = a1, b2 = a1;
        const std::size_t end = n < i + block ? n : i + block;
        for (; i + 2 * lanes <= end; i += 2 * lanes) {
            const __m512 u = _mm512_sub_ps(_mm512_loadu_ps(x + i), kk),
                         v = _mm512_sub_ps(_mm512_loadu_ps(x + i + lanes), kk);
            a1 = _mm512_add_ps(a1, u);
            b1 = _mm512_add_ps(b1, v);
            a2 = _mm512_fmadd_ps(u, u, a2);
            b2 = _mm512_fmadd_ps(v, v, b2);
        }
        for (; i + lanes <= end; i += lanes) {
            const __m512 u = _mm512_sub_ps(_mm512_loadu_ps(x + i), kk);
            a1 = _mm512_add_ps(a1, u);
            a2 = _mm512_fmadd_ps(u, u, a2);
        }
        const __m512 t1 = _mm512_add_ps(a1, b1), t2 = _mm512_add_ps(a2, b2);
        r1 += _mm512_reduce_add_pd(_mm512_add_pd(low_half(t1), high_half(t1)));
        r2 += _mm512_reduce_add_pd(_mm512_add_pd(low_half(t2), high_half(t2)));
    }
    for (; i < n; ++i) {
        const double dv = static_cast<double>(x[i]) - k;
        r1 += dv;
        r2 += dv * dv;
    }
    s1 += r1;
    s2 += r2;
}

/// Channels-last moments with float partial sums over blocks of `block_pixels` pixels.
template <std::size_t CB>
inline void moments_channels_last_f32_blocks(const float* x, std::size_t pixels, const double* k, double* s1,
                                             double* s2, std::size_t block_pixels = 64) {
    constexpr std::size_t C = CB * lanes;
    __m512 kk[CB];
    for (std::size_t b = 0; b < CB; ++b) kk[b] = to_floats(k + b * lanes);
    for (std::size_t p = 0; p < pixels;) {
        __m512 a1[CB], a2[CB];
        for (std::size_t b = 0; b < CB; ++b) a1[b] = a2[b] = _mm512_setzero_ps();
        const std::size_t end = pixels < p + block_pixels ? pixels : p + block_pixels;
        for (; p < end; ++p)
            for (std::size_t b = 0; b < CB; ++b) {
                const __m512 u = _mm512_sub_ps(_mm512_loadu_ps(x + p * C + b * lanes), kk[b]);
                a1[b] = _mm512_add_ps(a1[b], u);
                a2[b] = _mm512_fmadd_ps(u, u, a2[b]);
            }
        for (std::size_t b = 0; b < CB; ++b) {
            double* p1 = s1 + b * lanes;
            double* p2 = s2 + b * lanes;
            _mm512_storeu_pd(p1, _mm512_add_pd(_mm512_loadu_pd(p1), low_half(a1[b])));
            _mm512_storeu_pd(p1 + 8, _mm512_add_pd(_mm512_loadu_pd(p1 + 8), high_half(a1[b])));
            _mm512_storeu_pd(p2, _mm512_add_pd(_mm512_loadu_pd(p2), low_half(a2[b])));
            _mm512_storeu_pd(p2 + 8, _mm512_add_pd(_mm512_loadu_pd(p2 + 8), high_half(a2[b])));
        }
    }
}

/// Shifted moments per channel of `pixels` channels-last pixels of CB * 16 channels each:
/// s1[c] += sum (x - k[c]), s2[c] += sum (x - k[c])^2. The accumulators stay in registers.
template <std::size_t CB>
inline void moments_channels_last(const float* x, std::size_t pixels, const double* k, double* s1, double* s2) {
    constexpr std::size_t C = CB * lanes;
    __m512d kk[2 * CB], a1[2 * CB], a2[2 * CB];
    for (std::size_t j = 0; j < 2 * CB; ++j) {
        kk[j] = _mm512_loadu_pd(k + 8 * j);
        a1[j] = _mm512_setzero_pd();
        a2[j] = _mm512_setzero_pd();
    }
    for (std::size_t p = 0; p < pixels; ++p) {
        const float* px = x + p * C;
        for (std::size_t b = 0; b < CB; ++b) {
            const __m512 v = _mm512_loadu_ps(px + b * lanes);
            const __m512d lo = _mm512_sub_pd(low_half(v), kk[2 * b]), hi = _mm512_sub_pd(high_half(v), kk[2 * b + 1]);
            a1[2 * b] = _mm512_add_pd(a1[2 * b], lo);
            a1[2 * b + 1] = _mm512_add_pd(a1[2 * b + 1], hi);
            a2[2 * b] = _mm512_fmadd_pd(lo, lo, a2[2 * b]);
            a2[2 * b + 1] = _mm512_fmadd_pd(hi, hi, a2[2 * b + 1]);
        }
    }
    for (std::size_t j = 0; j < 2 * CB; ++j) {
        _mm512_storeu_pd(s1 + 8 * j, _mm512_add_pd(_mm512_loadu_pd(s1 + 8 * j), a1[j]));
        _mm512_storeu_pd(s2 + 8 * j, _mm512_add_pd(_mm512_loadu_pd(s2 + 8 * j), a2[j]));
    }
}

/// The same for any channel count (scalar in double; slow, used only for odd channel counts).
inline void moments_channels_last_any(const float* x, std::size_t pixels, std::size_t c, const double* k, double* s1,
                                      double* s2) {
    for (std::size_t p = 0; p < pixels; ++p)
        for (std::size_t j = 0; j < c; ++j) {
            const double dv = static_cast<double>(x[p * c + j]) - k[j];
            s1[j] += dv;
            s2[j] += dv * dv;
        }
}

/// y = f(x, p[c], q[c], r[c]) per channels-last pixel of CB * 16 channels, the per-channel
/// operands kept in registers.
template <std::size_t CB, store S, class F>
inline void map_channels_last(const float* x, float* y, std::size_t pixels, const float* p, const float* q,
                              const float* r, F f) {
    constexpr std::size_t C = CB * lanes;
    __m512 pp[CB], qq[CB], rr[CB];
    for (std::size_t b = 0; b < CB; ++b) {
        pp[b] = _mm512_loadu_ps(p + b * lanes);
        qq[b] = _mm512_loadu_ps(q + b * lanes);
        rr[b] = _mm512_loadu_ps(r + b * lanes);
    }
    for (std::size_t i = 0; i < pixels; ++i)
        for (std::size_t b = 0; b < CB; ++b)
            put<S>(y + i * C + b * lanes, f(_mm512_loadu_ps(x + i * C + b * lanes), pp[b], qq[b], rr[b]));
}

} // namespace bench::kernels

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bench::kernels {

/// Calls f(begin, end, thread) for `threads` consecutive parts of [0, total) (OpenMP), or once
/// for all of it when threads is 1 or the suite is built without OpenMP.
template <class F>
inline void parallel(int threads, std::size_t total, F&& f) {
#if defined(_OPENMP)
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
            const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
            f(total * t / nt, total * (t + 1) / nt, t);
        }
        return;
    }
#endif
    (void)threads;
    f(std::size_t{0}, total, std::size_t{0});
}

} // namespace bench::kernels
