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
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/backward/slot_gradient.hpp>
#include <normfuse/reduce/accumulate.hpp>
#include <normfuse/reduce/widen.hpp>

namespace nf::nn::detail {

/// The backward of `rows` contiguous rows of `n` values. `Centered`: LayerNorm (else RMSNorm).
/// w (n values) may be null (no weight: 1). dw_sum and db_sum (n doubles each, or null when not
/// wanted) receive the per-column sums. dx may be dy (each row is read before it is written).
template <class Arch, bool Centered, class T>
void row_norm_backward(const T* x, const T* dy, T* dx, std::size_t rows, std::size_t n, const T* w, double eps,
                       double* dw_sum, double* db_sum, grad_write mode) {
    using B = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t W = B::size, H = W / DB::size;
    const std::size_t vec = n / W * W;
    const double dn = static_cast<double>(n);
    for (std::size_t r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        const T* gr = dy + r * n;
        T* dxr = dx + r * n;
        // pass one: s1 = sum (x - k), s2 = sum (x - k)^2, sg = sum g, sgd = sum g (x - k)
        const double k = Centered ? nf::detail::usable_shift(static_cast<double>(xr[0])) : 0.0;
        DB a1(0.0), a2(0.0), a3(0.0), a4(0.0);
        const DB kd(k);
        for (std::size_t j = 0; j < vec; j += W) {
            const auto xv = as_doubles<Arch>(B::load_unaligned(xr + j));
            const auto gv = as_doubles<Arch>(B::load_unaligned(gr + j));
            auto wv = gv;
            if (w) wv = as_doubles<Arch>(B::load_unaligned(w + j));
            for (std::size_t h = 0; h < H; ++h) {
                const DB d = Centered ? xv[h] - kd : xv[h];
                const DB g = w ? gv[h] * wv[h] : gv[h];
                a1 += d;
                a2 = xsimd::fma(d, d, a2);
                a3 += g;
                a4 = xsimd::fma(g, d, a4);
            }
        }
        double s1 = nf::detail::lane_sum(a1), s2 = nf::detail::lane_sum(a2), sg = nf::detail::lane_sum(a3),
               sgd = nf::detail::lane_sum(a4);
        for (std::size_t j = vec; j < n; ++j) {
            const double d = static_cast<double>(xr[j]) - k;
            const double g = static_cast<double>(gr[j]) * (w ? static_cast<double>(w[j]) : 1.0);
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
        // pass two (the row is in L1): dx = A g + B (x - k) + C; the columns' dw += dy xhat, db += dy
        const T at = static_cast<T>(rs), bt = static_cast<T>(bb), ct = static_cast<T>(cc), kt = static_cast<T>(k),
                mt = static_cast<T>(mc);
        const B av(at), bv(bt), cv(ct), kv(kt), mv(mt);
        const bool params = dw_sum != nullptr;
        for (std::size_t j = 0; j < vec; j += W) {
            const B xv = B::load_unaligned(xr + j), gv = B::load_unaligned(gr + j);
            const B g = w ? gv * B::load_unaligned(w + j) : gv;
            const B d = Centered ? xv - kv : xv;
            B out = xsimd::fma(av, g, xsimd::fma(bv, d, cv));
            if (mode == grad_write::accumulate) out += B::load_unaligned(dxr + j);
            if (params) {
                const auto p = as_doubles<Arch>(gv * ((Centered ? d - mv : d) * av));
                const auto q = as_doubles<Arch>(gv);
                for (std::size_t h = 0; h < H; ++h) {
                    const std::size_t o = j + h * DB::size;
                    (DB::load_unaligned(dw_sum + o) + p[h]).store_unaligned(dw_sum + o);
                    if (db_sum) (DB::load_unaligned(db_sum + o) + q[h]).store_unaligned(db_sum + o);
                }
            }
            out.store_unaligned(dxr + j);
        }
        for (std::size_t j = vec; j < n; ++j) {
            const T xv = xr[j], gv = gr[j];
            const T g = w ? static_cast<T>(gv * w[j]) : gv;
            const T d = Centered ? static_cast<T>(xv - kt) : xv;
            T out = static_cast<T>(at * g + (bt * d + ct));
            if (mode == grad_write::accumulate) out = static_cast<T>(out + dxr[j]);
            if (params) {
                dw_sum[j] += static_cast<double>(static_cast<T>(gv * static_cast<T>((Centered ? d - mt : d) * at)));
                if (db_sum) db_sum[j] += static_cast<double>(gv);
            }
            dxr[j] = out;
        }
    }
}

/// Writes or adds per-column sums (double) into a parameter gradient of T.
template <class T>
void store_column_sums(T* g, const double* sums, std::size_t n, grad_write mode) {
    for (std::size_t j = 0; j < n; ++j)
        g[j] = static_cast<T>(mode == grad_write::accumulate ? static_cast<double>(g[j]) + sums[j] : sums[j]);
}

} // namespace nf::nn::detail
