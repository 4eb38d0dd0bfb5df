// normfuse/nn/backward/row_gradient.hpp: the backward of a normalization over contiguous rows (LayerNorm, RMSNorm), row by row while the row is in L1.
//
// For a row x of n values (the normalized axes, trailing in memory), its output gradient dy and
// the element-wise weight w, with g = dy * w:
//   LayerNorm: dx = r (g - mean(g) - xhat mean(g xhat)),  xhat = (x - mean) r,  r = 1 / sqrt(var + eps)
//   RMSNorm:   dx = r g - x r^3 mean(g x),                r = 1 / sqrt(mean(x^2) + eps)
// and dweight += dy * xhat, dbias += dy, column by column. Pass one over the row reads x, dy (and
// w) for the row's statistics (shifted by the row's first value, in double: the forward's
// statistics, recomputed from the row at no extra memory pass) and the sums of g and g (x - k);
// pass two re-reads the row from L1 and writes dx = A g + B (x - k) + C (per-row A, B, C in T),
// adding dy * xhat and dy into per-column double sums.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/eval/stream.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/backward/slot_gradient.hpp>
#include <normfuse/reduce/accumulate.hpp>
#include <normfuse/reduce/widen.hpp>

namespace nf::nn::detail {

/// The values at p (two double batches' worth: 2 * DB::size) as two double batches.
template <class Arch, class T>
NF_ALWAYS_INLINE void load_wide(const T* p, xsimd::batch<double, Arch>& lo, xsimd::batch<double, Arch>& hi) {
    using DB = xsimd::batch<double, Arch>;
    if constexpr (std::is_same_v<T, float>) {
        const auto [l, h] = nf::detail::widen(xsimd::batch<float, Arch>::load_unaligned(p));
        lo = l;
        hi = h;
    } else {
        lo = DB::load_unaligned(p);
        hi = DB::load_unaligned(p + DB::size);
    }
}

/// s[j] += v[j] for the lanes of the batch v (widened to double).
template <class Arch, class T>
NF_ALWAYS_INLINE void add_wide(double* s, const xsimd::batch<T, Arch>& v) {
    using DB = xsimd::batch<double, Arch>;
    if constexpr (std::is_same_v<T, float>) {
        const auto [l, h] = nf::detail::widen(v);
        (DB::load_unaligned(s) + l).store_unaligned(s);
        (DB::load_unaligned(s + DB::size) + h).store_unaligned(s + DB::size);
    } else {
        (DB::load_unaligned(s) + v).store_unaligned(s);
    }
}

/// row_norm_backward with its options as template parameters, so that the loops have no branch:
/// HasW (a weight), Params (0: no parameter gradients, 1: dweight's sums, 2: dweight's and dbias's).
template <class Arch, bool Centered, bool HasW, int Params, class T>
void row_norm_rows(const T* x, const T* dy, T* dx, std::size_t rows, std::size_t n, const T* w, double eps,
                   double* dw_sum, double* db_sum, grad_write mode, bool stream_allowed) {
    using B = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t W = B::size, S = 2 * DB::size; // pass one takes S values per step: two double batches
    const std::size_t vec1 = n / S * S;
    const double dn = static_cast<double>(n);
    const bool acc = mode == grad_write::accumulate;
    // With the parameters' column sums, dx is streamed (when allowed) and pass two asks for the row
    // pd rows ahead, at least 10 KiB of x ahead (4 rows of 768 floats); without them, ordinary
    // stores and the next row: each was the faster on the Zen 5 machine of docs/bench/backward.md
    // (with streaming stores one row ahead was slower; dx alone was slower streamed).
    const bool stream = Params >= 1 && stream_allowed;
    const std::size_t pd =
        Params >= 1 ? std::max<std::size_t>(1, (10240 + n * sizeof(T) - 1) / std::max<std::size_t>(1, n * sizeof(T)))
                    : 1;
    for (std::size_t r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        const T* gr = dy + r * n;
        T* dxr = dx + r * n;
        // pass one: s1 = sum (x - k), s2 = sum (x - k)^2, sg = sum g, sgd = sum g (x - k), in double;
        // the low and high halves of each step in accumulators of their own (independent chains)
        const double k = Centered ? nf::detail::usable_shift(static_cast<double>(xr[0])) : 0.0;
        const DB kd(k);
        DB a1l(0.0), a1h(0.0), a2l(0.0), a2h(0.0), a3l(0.0), a3h(0.0), a4l(0.0), a4h(0.0);
        for (std::size_t j = 0; j < vec1; j += S) {
            DB xl, xh, gl, gh;
            load_wide<Arch>(xr + j, xl, xh);
            load_wide<Arch>(gr + j, gl, gh);
            if constexpr (HasW) {
                DB wl, wh;
                load_wide<Arch>(w + j, wl, wh);
                gl *= wl;
                gh *= wh;
            }
            if constexpr (Centered) {
                xl -= kd;
                xh -= kd;
                a1l += xl;
                a1h += xh;
                a3l += gl;
                a3h += gh;
            }
            a2l = xsimd::fma(xl, xl, a2l);
            a2h = xsimd::fma(xh, xh, a2h);
            a4l = xsimd::fma(gl, xl, a4l);
            a4h = xsimd::fma(gh, xh, a4h);
        }
        double s1 = 0, sg = 0;
        if constexpr (Centered) {
            s1 = nf::detail::lane_sum(a1l + a1h);
            sg = nf::detail::lane_sum(a3l + a3h);
        }
        double s2 = nf::detail::lane_sum(a2l + a2h), sgd = nf::detail::lane_sum(a4l + a4h);
        for (std::size_t j = vec1; j < n; ++j) {
            const double d = static_cast<double>(xr[j]) - k;
            const double g = static_cast<double>(gr[j]) * (HasW ? static_cast<double>(w[j]) : 1.0);
            s1 += d;
            s2 += d * d;
            sg += g;
            sgd += g * d;
        }
        double mc = 0, rs, bb, cc;
        if constexpr (Centered) {
            mc = s1 / dn; // mean - k
            const double var = nf::detail::nonnegative_or_nan(s2 / dn - mc * mc);
            rs = 1.0 / std::sqrt(var + eps);
            const double proj = sgd - mc * sg; // sum g (x - mean)
            bb = -rs * rs * rs * proj / dn;
            cc = -rs * sg / dn - bb * mc;
        } else {
            rs = 1.0 / std::sqrt(s2 / dn + eps);
            bb = -rs * rs * rs * sgd / dn;
            cc = 0.0;
        }
        // pass two (the row is in L1): dx = A g + B (x - k) + C; the columns' dw += dy xhat, db += dy.
        // The row pd rows ahead is fetched meanwhile, one cache line of x and of dy per step. With `stream`,
        // dx is written with non-temporal stores from its first batch-aligned value on (the values
        // before it and after the last whole batch one by one).
        const T at = static_cast<T>(rs), bt = static_cast<T>(bb), ct = static_cast<T>(cc), kt = static_cast<T>(k),
                mt = static_cast<T>(mc);
        auto one = [&](std::size_t j) {
            const T xv = xr[j], gv = gr[j];
            const T g = HasW ? static_cast<T>(gv * w[j]) : gv;
            const T d = Centered ? static_cast<T>(xv - kt) : xv;
            T out = static_cast<T>(at * g + (bt * d + ct));
            if (acc) out = static_cast<T>(out + dxr[j]);
            if constexpr (Params >= 1)
                dw_sum[j] += static_cast<double>(static_cast<T>(gv * static_cast<T>((Centered ? d - mt : d) * at)));
            if constexpr (Params >= 2) db_sum[j] += static_cast<double>(gv);
            dxr[j] = out;
        };
        std::size_t j0 = 0;
        if (stream) {
            const std::size_t mis = reinterpret_cast<std::uintptr_t>(dxr) % (W * sizeof(T)) / sizeof(T);
            j0 = std::min(n, mis == 0 ? 0 : W - mis);
        }
        for (std::size_t j = 0; j < j0; ++j) one(j);
        const std::size_t end2 = j0 + (n - j0) / W * W;
        const B av(at), bv(bt), cv(ct), kv(kt), mv(mt);
        const bool ahead = r + pd < rows;
        for (std::size_t j = j0; j < end2; j += W) {
#if defined(__GNUC__)
            if (ahead && (j * sizeof(T)) % 64 == 0) {
                __builtin_prefetch(xr + pd * n + j);
                __builtin_prefetch(gr + pd * n + j);
            }
#endif
            const B xv = B::load_unaligned(xr + j), gv = B::load_unaligned(gr + j);
            B g = gv;
            if constexpr (HasW) g = gv * B::load_unaligned(w + j);
            const B d = Centered ? xv - kv : xv;
            B out = xsimd::fma(av, g, xsimd::fma(bv, d, cv));
            if (acc) out += B::load_unaligned(dxr + j);
            if constexpr (Params >= 1) add_wide<Arch>(dw_sum + j, gv * ((Centered ? d - mv : d) * av));
            if constexpr (Params >= 2) add_wide<Arch>(db_sum + j, gv);
            if (stream)
                nf::detail::stream_store<T, Arch>(dxr + j, out);
            else
                out.store_unaligned(dxr + j);
        }
        (void)ahead;
        for (std::size_t j = end2; j < n; ++j) one(j);
    }
    if (stream) nf::detail::store_fence();
}

/// The backward of `rows` contiguous rows of `n` values. `Centered`: LayerNorm (else RMSNorm).
/// w (n values) may be null (no weight: 1). dw_sum and db_sum (n doubles each, or null when not
/// wanted; db_sum only with dw_sum) receive the per-column sums. dx may be dy (each row is read
/// before it is written). `stream`: dx may be written with non-temporal stores (dx aligned to T;
/// used with the parameters' sums only).
template <class Arch, bool Centered, class T>
void row_norm_backward(const T* x, const T* dy, T* dx, std::size_t rows, std::size_t n, const T* w, double eps,
                       double* dw_sum, double* db_sum, grad_write mode, bool stream) {
    auto go = [&]<bool HasW>(std::bool_constant<HasW>) {
        if (dw_sum == nullptr)
            row_norm_rows<Arch, Centered, HasW, 0>(x, dy, dx, rows, n, w, eps, dw_sum, db_sum, mode, stream);
        else if (db_sum == nullptr)
            row_norm_rows<Arch, Centered, HasW, 1>(x, dy, dx, rows, n, w, eps, dw_sum, db_sum, mode, stream);
        else
            row_norm_rows<Arch, Centered, HasW, 2>(x, dy, dx, rows, n, w, eps, dw_sum, db_sum, mode, stream);
    };
    if (w != nullptr)
        go(std::true_type{});
    else
        go(std::false_type{});
}

/// Writes or adds per-column sums (double) into a parameter gradient of T.
template <class T>
void store_column_sums(T* g, const double* sums, std::size_t n, grad_write mode) {
    for (std::size_t j = 0; j < n; ++j)
        g[j] = static_cast<T>(mode == grad_write::accumulate ? static_cast<double>(g[j]) + sums[j] : sums[j]);
}

} // namespace nf::nn::detail
