// normfuse/nn/half_rows.hpp: LayerNorm and RMSNorm of contiguous nf::bf16 / nf::fp16 rows: statistics in float blocks within L1, one output pass.
//
// nn::layer_norm and nn::rms_norm over the trailing axes of a 16-bit input (each slot one
// contiguous row of input and output, e.g. [tokens, hidden]) take this path instead of the
// row-local expression evaluation (eval/row_local.hpp), whose double sums cost more than the
// memory time of a row. Per row:
//   LayerNorm  a shift k near the row's mean: the mean of its first batch (its first value when
//              shorter). One pass (reads the row from memory): c1 = sum (x - k), c2 = sum (x - k)^2,
//              in float blocks added into double. Kept when |mean - k| <= the standard deviation
//              (2 (c1 / n)^2 <= c2 / n), else a second pass (from L1) around k = float(k + c1 / n),
//              the row's mean. Then, in double, d = c1 / n, var = c2 / n - d^2, a = 1 / sqrt(var +
//              eps), o = -d * a, and y = ((x - k) * a + o) * w + b in float, rounded once on the
//              store (the output pass, from L1).
//   RMSNorm    one pass: c2 = sum x^2 (float blocks into double); y = x * r * w, r = 1 / sqrt(c2 / n + eps).
// The output pass asks for the cache lines of a row at least 4 KiB ahead (a software prefetch, one
// per line: the next row at 4096 values, the third at 768) so that memory keeps streaming while a
// row is computed; it goes a line at a time, so that the prefetch costs no test per batch.
//
// Error of the float blocks: every value of a 16-bit row is exact in float. A block is M batches
// into each of U accumulators, whose lanes are then added pairwise: each lane of a block is a float
// sum of at most M terms plus two additions, relative error at most (M + 2) * 2^-24 = 10 * 2^-24 of
// the sum of the terms' magnitudes (the bound of recursive summation, first order); the blocks are
// added in double. Hence, for LayerNorm:
//  - d = x - k is rounded once (2^-24 relative) and d^2 summed by fused multiply-adds: c2 is within
//    (10 + 2) * 2^-24 of sum (x - k)^2 = n (var + (mean - k)^2), and c1 within 10 * 2^-24 of
//    sum |x - k| <= n sqrt(var + (mean - k)^2).
//  - The sums are kept only when (mean - k)^2 <= var (up to those errors): then c2 / n - d^2 is
//    within about 2 * 12 * 2^-24 (c2) + 2 * 2 * 10 * 2^-24 (c1 in d^2) = 64 * 2^-24 of var
//    (relative; typically 12), and a = 1 / sqrt(var + eps) within 32 * 2^-24: far below half a
//    unit of the 16-bit output (2^-9 of bf16, 2^-12 of fp16, relative), as the double statistics
//    were. Around the mean (the second pass), (mean - k)^2 / var is tiny unless the row's spread is
//    far below its magnitude, which 16-bit values allow only for nearly constant rows (a value
//    other than the largest differs from it by a unit, 2^-8 of it for bf16, 2^-11 for fp16); such
//    a row, if the check fails again, goes to double as below.
//  - RMSNorm: the terms are squares (nonnegative), c2 within 10 * 2^-24 of the sum, r within
//    5 * 2^-24 (the bound of reduce/accumulate.hpp's half_squares_run).
// The float sums are vouched for only when finite (a NaN or an infinity in the row, or sums beyond
// float's range, give a non-finite total) and when c2 >= n * 2^-100 (a square below float's normal
// range is off by at most 2^-150: below 2^-50 of such a total). Any other row, a constant one
// included (c2 = 0), is summed again in double as the expression path does (shifted by the row's
// first value: the same result, NaN and infinity included, as before).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>
#include <normfuse/core/convert.hpp>
#include <normfuse/core/element.hpp>
#include <normfuse/core/half.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/reduce/accumulate.hpp>
#include <normfuse/reduce/widen.hpp>

namespace nf::nn::detail {

/// What one pass over a row sums (half_rows::sums).
enum class row_sums { plain, centered, squares };

/// The kernels of one instruction set (Arch) and one 16-bit element type T.
template <class Arch, class T>
struct half_rows {
    static_assert(nf::detail::is_half_element_v<T>);
    using FB = xsimd::batch<float, Arch>;
    static constexpr std::size_t B = FB::size;
    static constexpr std::size_t U = 4; // independent accumulators (the latency of an add)
    static constexpr std::size_t M = 8; // batches into each accumulator before a block goes into double

    static NF_ALWAYS_INLINE FB load(const T* p) { return nf::detail::load_converted<float, Arch>(p); }

    using DB = xsimd::batch<double, Arch>;

    /// acc + the lanes of v, widened to double (lane for lane: no horizontal addition per block).
    static NF_ALWAYS_INLINE DB plus_widened(const DB& acc, const FB& v) {
        const auto [lo, hi] = nf::detail::widen(v);
        return acc + (lo + hi);
    }

    /// The sums of the n values at p that What asks for: plain: r1 = sum x; centered:
    /// r1 = sum (x - m), r2 = sum (x - m)^2; squares: r2 = sum x^2. Full batches in float blocks
    /// (at most M terms per lane and accumulator), the last B - 1 values at most in double.
    template <row_sums What>
    static NF_ALWAYS_INLINE void sums(const T* p, std::size_t n, float m, double& r1, double& r2) {
        constexpr bool First = What != row_sums::squares, Second = What != row_sums::plain;
        const FB mb(m);
        const std::size_t nb = n / B;
        DB w1(0.0), w2(0.0);
        auto add = [&](FB& a1, FB& a2, const FB& v) {
            if constexpr (What == row_sums::plain) {
                a1 += v;
            } else if constexpr (What == row_sums::squares) {
                a2 = xsimd::fma(v, v, a2);
            } else {
                const FB d = v - mb;
                a1 += d;
                a2 = xsimd::fma(d, d, a2);
            }
        };
        std::size_t b = 0;
        while (b < nb) {
            FB a1[U], a2[U];
            for (std::size_t u = 0; u < U; ++u) a1[u] = a2[u] = FB(0.0f);
            const std::size_t stop = std::min(nb, b + M * U);
            for (; b + U <= stop; b += U)
                for (std::size_t u = 0; u < U; ++u) add(a1[u], a2[u], load(p + (b + u) * B));
            // The last batches, fewer than U (constant indices: the accumulators stay in registers).
            static_assert(U == 4);
            if (b < stop) add(a1[0], a2[0], load(p + b++ * B));
            if (b < stop) add(a1[1], a2[1], load(p + b++ * B));
            if (b < stop) add(a1[2], a2[2], load(p + b++ * B));
            if constexpr (First) w1 = plus_widened(w1, (a1[0] + a1[1]) + (a1[2] + a1[3]));
            if constexpr (Second) w2 = plus_widened(w2, (a2[0] + a2[1]) + (a2[2] + a2[3]));
        }
        double t1 = First ? xsimd::hadd(w1) : 0.0, t2 = Second ? xsimd::hadd(w2) : 0.0;
        for (std::size_t i = nb * B; i < n; ++i) {
            const double v = static_cast<double>(static_cast<float>(p[i]));
            const double d = What == row_sums::centered ? v - static_cast<double>(m) : v;
            t1 += d;
            t2 += d * d;
        }
        if constexpr (First) r1 = t1;
        if constexpr (Second) r2 = t2;
    }

    /// True when float block sums of squares (or of centered squares) c2 of n values can be vouched
    /// for (see the top of this file).
    static bool vouched(double c2, std::size_t n) {
        return std::isfinite(c2) && c2 >= static_cast<double>(n) * 0x1p-100;
    }

    /// LayerNorm's per-row coefficients as floats: y = (x - m) * a + o.
    struct ln_coefficients {
        float m, a, o;
    };

    static NF_ALWAYS_INLINE ln_coefficients layer_norm_coefficients(const T* x, std::size_t n, double eps) {
        const double inv = 1.0 / static_cast<double>(n);
        // The shift k: the mean of the first batch (the first value of a row shorter than one), a
        // value near the row's mean. The sums around it are kept when |mean - k| <= the standard
        // deviation (2 d^2 <= c2 / n), else taken again around the mean they give.
        float k = n >= B ? xsimd::hadd(load(x)) * (1.0f / static_cast<float>(B)) : static_cast<float>(x[0]);
        double c1 = 0, c2 = 0;
        bool ok = false;
        for (int pass = 0; pass < 2 && !ok && std::isfinite(k); ++pass) {
            sums<row_sums::centered>(x, n, k, c1, c2);
            if (!std::isfinite(c1) || !vouched(c2, n)) break;
            const double d = c1 * inv;
            ok = 2 * d * d <= c2 * inv;
            if (!ok) k = static_cast<float>(static_cast<double>(k) + d);
        }
        double shift = k;
        if (!ok) {
            // In double, shifted by the row's first value, as the expression path (reduce_expr::slot_sums).
            shift = nf::detail::usable_shift(static_cast<double>(static_cast<float>(x[0])));
            c1 = c2 = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const double d = static_cast<double>(static_cast<float>(x[i])) - shift;
                c1 += d;
                c2 += d * d;
            }
        }
        const double d = c1 * inv;
        const double a = 1.0 / std::sqrt(nf::detail::nonnegative_or_nan(c2 * inv - d * d) + eps);
        return {static_cast<float>(shift), static_cast<float>(a), static_cast<float>(-d * a)};
    }

    static NF_ALWAYS_INLINE float rms_norm_scale(const T* x, std::size_t n, double eps) {
        double c2 = 0, unused = 0;
        sums<row_sums::squares>(x, n, 0.0f, unused, c2);
        if (!vouched(c2, n)) {
            c2 = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const double v = static_cast<double>(static_cast<float>(x[i]));
                c2 += v * v;
            }
        }
        return static_cast<float>(1.0 / std::sqrt(c2 * (1.0 / static_cast<double>(n)) + eps));
    }

    /// The n values of the row y: f(j), a batch, on full batches from j, fs(j), which stores
    /// y[j], on the rest; during it, the row at `next` (null: none) is asked for, one prefetch per
    /// cache line (the loop goes a line at a time: no test per batch).
    template <class F, class FS>
    static NF_ALWAYS_INLINE void output(T* y, std::size_t n, const T* next, F f, FS fs) {
        constexpr std::size_t line = 64 / sizeof(T); // values per cache line
        static_assert(line % B == 0);
        std::size_t j = 0;
        if (next != nullptr) {
            // The last line of the next row (a tail has no batch that asks for it), then one
            // line per `line` values of this one.
            __builtin_prefetch(next + n - 1, 0, 3);
            for (; j + line <= n; j += line) {
                __builtin_prefetch(next + j, 0, 3);
                for (std::size_t u = 0; u < line; u += B) nf::detail::store_converted<Arch>(y + j + u, f(j + u));
            }
        }
        for (; j + B <= n; j += B) nf::detail::store_converted<Arch>(y + j, f(j));
        for (; j < n; ++j) fs(j);
    }
};

/// LayerNorm (Norm = true) or RMSNorm of `rows` contiguous rows of `n` values of the 16-bit type T
/// from x into out (the same rows, or other memory), with weight w and bias b (null: absent; the
/// bias only for LayerNorm): the rows spread over the threads (nf::set_num_threads), each row
/// computed as described at the top of this file. Ordinary stores whatever the output's size (no
/// streaming stores, nf::set_streaming_threshold: with them, the rows of a 48-64 MiB output took
/// 1.1-1.6 times as long on the Zen 5 machine of docs/bench/half_layers.md, with 32- and with
/// 64-byte non-temporal stores).
template <class Arch, bool Norm, bool HasW, bool HasB, class T>
void half_rows_forward(const T* x, T* out, std::size_t rows, std::size_t n, const T* w, const T* b, double eps) {
    using K = half_rows<Arch, T>;
    using FB = typename K::FB;
    const std::size_t total = rows * n;
    // The row prefetched during a row's output pass: far enough ahead (at least 4 KiB) that memory
    // has a row's time to deliver it at 768 values (1.5 KiB) as at 4096.
    const std::size_t ahead = std::max<std::size_t>(1, (4096 + n * sizeof(T) - 1) / (n * sizeof(T)));
    auto part = [=](std::size_t r0, std::size_t r1) {
        // (Locals, captured by value below: the output loops keep them in registers instead of
        // reloading them from this closure after every store.)
        const T* const wl = w;
        const T* const bl = b;
        for (std::size_t r = r0; r < r1; ++r) {
            const T* const xr = x + r * n;
            T* const yr = out + r * n;
            const T* const next = r + ahead < r1 ? xr + ahead * n : nullptr;
            if constexpr (Norm) {
                const auto c = K::layer_norm_coefficients(xr, n, eps);
                const FB mb(c.m), ab(c.a), ob(c.o);
                K::output(
                    yr, n, next,
                    [=](std::size_t j) {
                        const FB v = xsimd::fma(K::load(xr + j) - mb, ab, ob);
                        if constexpr (HasW && HasB)
                            return xsimd::fma(v, K::load(wl + j), K::load(bl + j));
                        else if constexpr (HasW)
                            return v * K::load(wl + j);
                        else if constexpr (HasB)
                            return v + K::load(bl + j);
                        else
                            return v;
                    },
                    [=](std::size_t j) {
                        float v = (static_cast<float>(xr[j]) - c.m) * c.a + c.o;
                        if constexpr (HasW) v = v * static_cast<float>(wl[j]);
                        if constexpr (HasB) v = v + static_cast<float>(bl[j]);
                        yr[j] = T(v);
                    });
            } else {
                const float s = K::rms_norm_scale(xr, n, eps);
                const FB sb(s);
                K::output(
                    yr, n, next,
                    [=](std::size_t j) {
                        FB v = K::load(xr + j) * sb;
                        if constexpr (HasW) v = v * K::load(wl + j);
                        return v;
                    },
                    [=](std::size_t j) {
                        float v = static_cast<float>(xr[j]) * s;
                        if constexpr (HasW) v = v * static_cast<float>(wl[j]);
                        yr[j] = T(v);
                    });
            }
        }
    };
    nf::detail::executor ex(total);
    const std::size_t pieces = std::min(ex.pieces(), rows);
    if (pieces <= 1) {
        part(0, rows);
        return;
    }
    ex.run([&](std::size_t k) {
        if (k < pieces) part(k * rows / pieces, (k + 1) * rows / pieces);
    });
}

} // namespace nf::nn::detail
