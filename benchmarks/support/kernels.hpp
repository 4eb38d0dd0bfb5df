// benchmarks/support/kernels.hpp: SIMD building blocks of the floor loops and of the hand-written fused loops, for the ISA the suite is compiled for.
//
// Written with explicit SIMD vectors (xsimd batches of the architecture the compiler targets:
// AVX-512 with -march=native on an AVX-512 machine, AVX2+FMA with -mavx2 -mfma, SSE2 with no
// flag) on purpose: the floor is what the machine can do, so it must not depend on what a
// vectorizer makes of a loop. The streaming stores are the one thing xsimd 8.1 lacks; they are
// the intrinsic of the vector width in use. Every kernel takes a store policy: ordinary stores
// (the output stays in cache, which wins while it fits) or streaming (non-temporal) stores (no
// read-for-ownership of the output, which wins once it does not).
#pragma once

#include <xsimd/xsimd.hpp>

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace bench::kernels {

enum class store { regular, streaming };

/// The vectors of the compiled architecture.
using arch = xsimd::default_arch;
using vf = xsimd::batch<float, arch>;
using vd = xsimd::batch<double, arch>;

/// Floats per vector (16 with AVX-512, 8 with AVX2, 4 with SSE2), doubles per vector.
inline constexpr std::size_t lanes = vf::size;
inline constexpr std::size_t dlanes = vd::size;
static_assert(lanes == 2 * dlanes, "a float vector must hold twice as many lanes as a double one");
#if defined(__AVX512F__)
static_assert(lanes == 16, "the streaming stores and conversions below assume xsimd's default arch is AVX-512");
#elif defined(__AVX__)
static_assert(lanes == 8, "the streaming stores and conversions below assume xsimd's default arch is AVX");
#else
static_assert(lanes == 4, "the streaming stores and conversions below assume xsimd's default arch is SSE");
#endif

/// The instruction set the kernels were compiled for, as the report prints it.
inline std::string isa_name() {
    std::string s = arch::name();
#if defined(__FMA__)
    if (s.find("fma") == std::string::npos) s += "+fma";
#endif
    return s + " (" + std::to_string(lanes) + " float lanes)";
}

template <store S>
inline void put(float* p, const vf& v) {
    if constexpr (S == store::streaming) {
        // p is aligned to the vector width here.
#if defined(__AVX512F__)
        _mm512_stream_ps(p, v);
#elif defined(__AVX__)
        _mm256_stream_ps(p, v);
#else
        _mm_stream_ps(p, v);
#endif
    } else {
        v.store_unaligned(p);
    }
}

/// The first `count` (< lanes) floats at p as a vector, the rest zero.
inline vf load_part(const float* p, std::size_t count) {
    alignas(64) float buf[lanes] = {};
    std::memcpy(buf, p, count * sizeof(float));
    return vf::load_aligned(buf);
}
/// The first `count` lanes of v to p (ordinary stores).
inline void store_part(float* p, const vf& v, std::size_t count) {
    alignas(64) float buf[lanes];
    v.store_aligned(buf);
    std::memcpy(p, buf, count * sizeof(float));
}

/// y[i] = f(x[i]) over [0, n), four vectors per step. With streaming stores the head is peeled
/// to a vector-width boundary of y; head and tail go through a partial vector with ordinary stores.
template <store S, class F>
inline void map(const float* x, float* y, std::size_t n, F f) {
    std::size_t i = 0;
    if constexpr (S == store::streaming) {
        const std::size_t misaligned = (reinterpret_cast<std::uintptr_t>(y) / sizeof(float)) % lanes;
        if (misaligned != 0) {
            const std::size_t head = lanes - misaligned < n ? lanes - misaligned : n;
            store_part(y, f(load_part(x, head)), head);
            i = head;
        }
    }
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
        const vf a = f(vf::load_unaligned(x + i)), b = f(vf::load_unaligned(x + i + lanes)),
                 c = f(vf::load_unaligned(x + i + 2 * lanes)), d = f(vf::load_unaligned(x + i + 3 * lanes));
        put<S>(y + i, a);
        put<S>(y + i + lanes, b);
        put<S>(y + i + 2 * lanes, c);
        put<S>(y + i + 3 * lanes, d);
    }
    for (; i + lanes <= n; i += lanes) put<S>(y + i, f(vf::load_unaligned(x + i)));
    if (i < n) store_part(y + i, f(load_part(x + i, n - i)), n - i);
}

/// Orders the streaming stores before whatever follows.
template <store S>
inline void fence() {
    if constexpr (S == store::streaming) _mm_sfence();
}

/// Sum of x[0, n) in float: the read pass of the training floor (four independent chains).
inline float sum(const float* x, std::size_t n) {
    vf a(0.0f), b(0.0f), c(0.0f), d(0.0f);
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
        a += vf::load_unaligned(x + i);
        b += vf::load_unaligned(x + i + lanes);
        c += vf::load_unaligned(x + i + 2 * lanes);
        d += vf::load_unaligned(x + i + 3 * lanes);
    }
    for (; i + lanes <= n; i += lanes) a += vf::load_unaligned(x + i);
    if (i < n) a += load_part(x + i, n - i);
    return xsimd::hadd((a + b) + (c + d));
}

/// dlanes floats at p, converted to doubles (one conversion instruction of the vector width).
inline vd load_widen(const float* p) {
#if defined(__AVX512F__)
    return _mm512_cvtps_pd(_mm256_loadu_ps(p));
#elif defined(__AVX__)
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
#else
    return _mm_cvtps_pd(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p))));
#endif
}
/// The low and high halves of a float vector, converted to double (through memory: used outside
/// the inner loops only).
inline vd low_half(const vf& v) {
    alignas(64) float f[lanes];
    v.store_aligned(f);
    return load_widen(f);
}
inline vd high_half(const vf& v) {
    alignas(64) float f[lanes];
    v.store_aligned(f);
    return load_widen(f + dlanes);
}
/// `lanes` doubles rounded to one vector of floats (outside the inner loops only).
inline vf to_floats(const double* p) {
    alignas(64) float f[lanes];
    for (std::size_t j = 0; j < lanes; ++j) f[j] = static_cast<float>(p[j]);
    return vf::load_aligned(f);
}

/// Shifted moments of a contiguous run in double: s1 += sum (x - k), s2 += sum (x - k)^2.
inline void moments(const float* x, std::size_t n, double k, double& s1, double& s2) {
    const vd kk(k);
    vd a1(0.0), b1(0.0), c1(0.0), d1(0.0), a2(0.0), b2(0.0), c2(0.0), d2(0.0);
    std::size_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
        const vd ul = load_widen(x + i) - kk, uh = load_widen(x + i + dlanes) - kk;
        const vd vl = load_widen(x + i + lanes) - kk, vh = load_widen(x + i + lanes + dlanes) - kk;
        a1 += ul;
        b1 += uh;
        c1 += vl;
        d1 += vh;
        a2 = xsimd::fma(ul, ul, a2);
        b2 = xsimd::fma(uh, uh, b2);
        c2 = xsimd::fma(vl, vl, c2);
        d2 = xsimd::fma(vh, vh, d2);
    }
    double r1 = xsimd::hadd((a1 + b1) + (c1 + d1));
    double r2 = xsimd::hadd((a2 + b2) + (c2 + d2));
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
    const vf kk(k);
    std::size_t i = 0;
    double r1 = 0, r2 = 0;
    while (i + lanes <= n) {
        vf a1(0.0f), b1(0.0f), a2(0.0f), b2(0.0f);
        const std::size_t end = n < i + block ? n : i + block;
        for (; i + 2 * lanes <= end; i += 2 * lanes) {
            const vf u = vf::load_unaligned(x + i) - kk, v = vf::load_unaligned(x + i + lanes) - kk;
            a1 += u;
            b1 += v;
            a2 = xsimd::fma(u, u, a2);
            b2 = xsimd::fma(v, v, b2);
        }
        for (; i + lanes <= end; i += lanes) {
            const vf u = vf::load_unaligned(x + i) - kk;
            a1 += u;
            a2 = xsimd::fma(u, u, a2);
        }
        const vf t1 = a1 + b1, t2 = a2 + b2;
        r1 += xsimd::hadd(low_half(t1) + high_half(t1));
        r2 += xsimd::hadd(low_half(t2) + high_half(t2));
    }
    for (; i < n; ++i) {
        const double dv = static_cast<double>(x[i]) - k;
        r1 += dv;
        r2 += dv * dv;
    }
    s1 += r1;
    s2 += r2;
}

/// Channels-last moments of C channels (a multiple of lanes) with float partial sums over blocks
/// of `block_pixels` pixels.
template <std::size_t C>
inline void moments_channels_last_f32_blocks(const float* x, std::size_t pixels, const double* k, double* s1,
                                             double* s2, std::size_t block_pixels = 64) {
    constexpr std::size_t CB = C / lanes;
    static_assert(CB * lanes == C);
    vf kk[CB];
    for (std::size_t b = 0; b < CB; ++b) kk[b] = to_floats(k + b * lanes);
    for (std::size_t p = 0; p < pixels;) {
        vf a1[CB], a2[CB];
        for (std::size_t b = 0; b < CB; ++b) a1[b] = a2[b] = vf(0.0f);
        const std::size_t end = pixels < p + block_pixels ? pixels : p + block_pixels;
        for (; p < end; ++p)
            for (std::size_t b = 0; b < CB; ++b) {
                const vf u = vf::load_unaligned(x + p * C + b * lanes) - kk[b];
                a1[b] += u;
                a2[b] = xsimd::fma(u, u, a2[b]);
            }
        for (std::size_t b = 0; b < CB; ++b) {
            double* p1 = s1 + b * lanes;
            double* p2 = s2 + b * lanes;
            (vd::load_unaligned(p1) + low_half(a1[b])).store_unaligned(p1);
            (vd::load_unaligned(p1 + dlanes) + high_half(a1[b])).store_unaligned(p1 + dlanes);
            (vd::load_unaligned(p2) + low_half(a2[b])).store_unaligned(p2);
            (vd::load_unaligned(p2 + dlanes) + high_half(a2[b])).store_unaligned(p2 + dlanes);
        }
    }
}

/// Shifted moments per channel of `pixels` channels-last pixels of C channels (a multiple of
/// lanes): s1[c] += sum (x - k[c]), s2[c] += sum (x - k[c])^2. The accumulators stay in
/// registers (as far as the register file holds them: 2 C / dlanes vectors each).
template <std::size_t C>
inline void moments_channels_last(const float* x, std::size_t pixels, const double* k, double* s1, double* s2) {
    constexpr std::size_t CD = C / dlanes;
    static_assert(CD * dlanes == C);
    vd kk[CD], a1[CD], a2[CD];
    for (std::size_t j = 0; j < CD; ++j) {
        kk[j] = vd::load_unaligned(k + dlanes * j);
        a1[j] = vd(0.0);
        a2[j] = vd(0.0);
    }
    for (std::size_t p = 0; p < pixels; ++p) {
        const float* px = x + p * C;
        for (std::size_t j = 0; j < CD; ++j) {
            const vd d = load_widen(px + j * dlanes) - kk[j];
            a1[j] += d;
            a2[j] = xsimd::fma(d, d, a2[j]);
        }
    }
    for (std::size_t j = 0; j < CD; ++j) {
        (vd::load_unaligned(s1 + dlanes * j) + a1[j]).store_unaligned(s1 + dlanes * j);
        (vd::load_unaligned(s2 + dlanes * j) + a2[j]).store_unaligned(s2 + dlanes * j);
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

/// y = f(x, p[c], q[c], r[c]) per channels-last pixel of C channels (a multiple of lanes), the
/// per-channel operands kept in registers.
template <std::size_t C, store S, class F>
inline void map_channels_last(const float* x, float* y, std::size_t pixels, const float* p, const float* q,
                              const float* r, F f) {
    constexpr std::size_t CB = C / lanes;
    static_assert(CB * lanes == C);
    vf pp[CB], qq[CB], rr[CB];
    for (std::size_t b = 0; b < CB; ++b) {
        pp[b] = vf::load_unaligned(p + b * lanes);
        qq[b] = vf::load_unaligned(q + b * lanes);
        rr[b] = vf::load_unaligned(r + b * lanes);
    }
    for (std::size_t i = 0; i < pixels; ++i)
        for (std::size_t b = 0; b < CB; ++b)
            put<S>(y + i * C + b * lanes, f(vf::load_unaligned(x + i * C + b * lanes), pp[b], qq[b], rr[b]));
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
