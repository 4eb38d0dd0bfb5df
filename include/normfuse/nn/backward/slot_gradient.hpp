// normfuse/nn/backward/slot_gradient.hpp: the two passes of a per-slot normalization's backward: per-slot sums of dy and dy * (x - mean), then dx.
//
// Every normalization layer whose statistics are per slot (BatchNorm: channel; InstanceNorm: (N, C);
// LayerNorm, RMSNorm: leading axes) has a backward of the same form: with the per-slot sums
//   s1 = sum dy,   s2 = sum dy * (x - mean)
// over the reduced axes, dweight and dbias follow per channel and
//   dx = A * dy + B * (x - k) + C0
// with per-slot coefficients A, B, C0 and k (a float near the mean; the rest of the mean is folded
// into C0, so that x - k stays exact-ish when |mean| >> std, as in the forward). The sums are read
// in one pass over x and dy, widened to double, on the canonical slot layout of the arrays
// (core/slot_layout.hpp), so that every layout folds into two kernels; dx is one fused DSL
// assignment over the same canonical views.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <numeric>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/errors.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/slot_layout.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/widen.hpp>

namespace nf::nn::detail {

/// Throws unless the gradient array `g` (named `what`: "dy", "dx") has the extents of x, axis by
/// axis (the axes themselves are checked at compile time).
template <class X, class G>
void check_gradient_extents(std::string_view call, const char* what, const X& x, const G& g) {
    [&]<class... As>(axis_list<As...>) {
        auto one = [&]<class A>(A*) {
            const std::size_t in = x.template extent<A>(), o = g.template extent<A>();
            if (in != o)
                nf::detail::raise_extent(std::string(call) + ": axis " + std::string(A::name) + " has extent " +
                                         std::to_string(in) + " in x and " + std::to_string(o) + " in " + what +
                                         "; nothing was written");
        };
        (one(static_cast<As*>(nullptr)), ...);
    }(typename X::axes{});
}

/// A parameter gradient (dweight, dbias) that is given must be writable and have C elements.
template <class T>
void check_parameter_gradient(std::string_view call, const char* name, const param_ref<T>& p, std::size_t c) {
    check_length(call, name, p, c);
    if (p.present && !p.writable)
        nf::detail::raise_invalid(std::string(call) + ": " + name +
                                  " is read-only (a view of const elements); pass a writable one, or std::nullopt");
}

/// The checks every backward through per-slot statistics makes before it writes: dy and dx with
/// the extents of x, and the weight and the parameters' gradients (those given) of C elements.
template <class T, class X, class DY, class DX>
void check_backward_operands(std::string_view call, const X& x, const DY& dy, const DX& dx, const param_ref<T>& w,
                             const param_ref<T>& dw, const param_ref<T>& db, std::size_t c) {
    check_gradient_extents(call, "dy", x, dy);
    check_gradient_extents(call, "dx", x, dx);
    check_length(call, "weight", w, c);
    check_parameter_gradient(call, "dweight", dw, c);
    check_parameter_gradient(call, "dbias", db, c);
}

/// Where the statistics of a BatchNorm or InstanceNorm backward come from: through the statistics
/// of this batch (`through` names them), `saved` must hold one entry per slot (`slots`, counted in
/// `unit`); through the running statistics, both must be given, of C elements.
template <class T>
void check_statistics_source(std::string_view call, const param_ref<T>& rm, const param_ref<T>& rv, std::size_t c,
                             const saved_statistics* saved, bool batch_stats, std::size_t slots,
                             std::string_view through, std::string_view unit) {
    check_length(call, "running_mean", rm, c);
    check_length(call, "running_var", rv, c);
    if (batch_stats) {
        if (saved == nullptr || saved->size() != slots)
            nf::detail::raise_invalid(std::string(call) + ": the backward goes through " + std::string(through) +
                                      ", but the saved statistics hold " + std::to_string(saved ? saved->size() : 0) +
                                      " " + std::string(unit) + ", not " + std::to_string(slots) +
                                      "; pass the nf::nn::saved_statistics that the forward on this x filled");
    } else if (!rm.present || !rv.present) {
        nf::detail::raise_invalid(std::string(call) + ": running_mean and running_var must be given when not training");
    }
}

/// The compile-time rules of a backward's arrays: dy and dx have the axes of x, in its order.
template <class X, class DY, class DX>
constexpr bool gradient_axes_ok = std::is_same_v<typename X::axes, typename std::remove_cvref_t<DY>::axes>&&
    std::is_same_v<typename X::axes, typename std::remove_cvref_t<DX>::axes>;

/// Per-call working memory of a backward: `doubles` doubles and `values` elements of T, on the
/// stack for small calls, else in a grow-only buffer of the calling thread (allocated only when the
/// thread first meets a larger call), or its own when that buffer is already lent out.
template <class T>
class gradient_scratch {
public:
    static constexpr std::size_t inline_bytes = 16384;
    gradient_scratch(std::size_t doubles, std::size_t values) {
        const std::size_t bytes = doubles * sizeof(double) + values * sizeof(T) + 64;
        std::byte* base = inline_;
        if (bytes > sizeof(inline_)) {
            thread_buffer& tb = thread_buffer::get();
            if (!tb.lent) {
                if (tb.data.size() < bytes) {
                    tb.data = std::vector<std::byte>();
                    tb.data.resize(bytes);
                }
                tb.lent = true;
                lent_ = &tb;
                base = tb.data.data();
            } else {
                own_.resize(bytes);
                base = own_.data();
            }
        }
        d_ = reinterpret_cast<double*>(base);
        t_ = reinterpret_cast<T*>(base + doubles * sizeof(double));
    }
    ~gradient_scratch() {
        if (lent_) lent_->lent = false;
    }
    gradient_scratch(const gradient_scratch&) = delete;
    gradient_scratch& operator=(const gradient_scratch&) = delete;
    double* doubles() const noexcept { return d_; }
    T* values() const noexcept { return t_; }

private:
    struct thread_buffer {
        std::vector<std::byte> data;
        bool lent = false;
        static thread_buffer& get() {
            thread_local thread_buffer b;
            return b;
        }
    };
    alignas(64) std::byte inline_[inline_bytes];
    thread_buffer* lent_ = nullptr;
    std::vector<std::byte> own_;
    double* d_ = nullptr;
    T* t_ = nullptr;
};

/// The values of a batch as double batches (two for float, one for double).
template <class Arch, class T>
NF_ALWAYS_INLINE auto as_doubles(const xsimd::batch<T, Arch>& v) {
    using DB = xsimd::batch<double, Arch>;
    if constexpr (std::is_same_v<T, float>) {
        const auto [lo, hi] = nf::detail::widen(v);
        return std::array<DB, 2>{lo, hi};
    } else {
        return std::array<DB, 1>{v};
    }
}

/// s1 += sum dy[i], s2 += sum dy[i] * (x[i] - mean) over i < n: one slot, contiguous run.
template <class Arch, class T>
void run_gradient_sums(const T* x, const T* dy, std::size_t n, double mean, double& s1, double& s2) {
    using B = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t W = B::size, H = W / DB::size, U = 2;
    DB a1[U][H], a2[U][H];
    for (std::size_t u = 0; u < U; ++u)
        for (std::size_t h = 0; h < H; ++h) a1[u][h] = a2[u][h] = DB(0.0);
    const DB m(mean);
    std::size_t i = 0;
    for (; i + U * W <= n; i += U * W)
        for (std::size_t u = 0; u < U; ++u) {
            const auto xv = as_doubles<Arch>(B::load_unaligned(x + i + u * W));
            const auto gv = as_doubles<Arch>(B::load_unaligned(dy + i + u * W));
            for (std::size_t h = 0; h < H; ++h) {
                a1[u][h] += gv[h];
                a2[u][h] = xsimd::fma(gv[h], xv[h] - m, a2[u][h]);
            }
        }
    DB t1(0.0), t2(0.0);
    for (std::size_t u = 0; u < U; ++u)
        for (std::size_t h = 0; h < H; ++h) {
            t1 += a1[u][h];
            t2 += a2[u][h];
        }
    double r1 = nf::detail::lane_sum(t1), r2 = nf::detail::lane_sum(t2);
    for (; i < n; ++i) {
        const double g = static_cast<double>(dy[i]);
        r1 += g;
        r2 += g * (static_cast<double>(x[i]) - mean);
    }
    s1 += r1;
    s2 += r2;
}

/// s1[j] += dy[i], s2[j] += dy[i] * (x[i] - mean[j]) for i < n, j = i % p: a contiguous stream
/// whose slots repeat with period p (the slots are innermost), n a multiple of p.
template <class Arch, class T>
void periodic_gradient_sums(const T* x, const T* dy, std::size_t n, std::size_t p, const double* mean, double* s1,
                            double* s2) {
    using B = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t W = B::size, H = W / DB::size;
    const std::size_t vec = p / W * W;
    for (std::size_t r = 0; r < n; r += p) {
        const T* xr = x + r;
        const T* gr = dy + r;
        for (std::size_t j = 0; j < vec; j += W) {
            const auto xv = as_doubles<Arch>(B::load_unaligned(xr + j));
            const auto gv = as_doubles<Arch>(B::load_unaligned(gr + j));
            for (std::size_t h = 0; h < H; ++h) {
                const std::size_t o = j + h * DB::size;
                const DB m = DB::load_unaligned(mean + o);
                (DB::load_unaligned(s1 + o) + gv[h]).store_unaligned(s1 + o);
                xsimd::fma(gv[h], xv[h] - m, DB::load_unaligned(s2 + o)).store_unaligned(s2 + o);
            }
        }
        for (std::size_t j = vec; j < p; ++j) {
            const double g = static_cast<double>(gr[j]);
            s1[j] += g;
            s2[j] += g * (static_cast<double>(xr[j]) - mean[j]);
        }
    }
}

/// Per-slot s1 = sum dy and s2 = sum dy * (x - mean[slot]) of canonical views `xc`, `dyc` (the
/// same slot_kept shape and extents), written over s1 and s2 (slots in slot order).
template <class Arch, class XC, class DYC>
void slot_gradient_sums(const XC& xc, const DYC& dyc, const double* mean, double* s1, double* s2) {
    using T = std::remove_const_t<typename XC::value_type>;
    using CA = typename XC::axes;
    const auto& e = xc.extents().values();
    const T* x = xc.data();
    const T* dy = dyc.data();
    if constexpr (std::is_same_v<CA, nf::detail::slot_ends_reduced>) {
        // (slot_outer, reduced_outer, slot_inner, reduced_inner): runs of reduced_inner per slot.
        // Each slot is summed whole by one thread, its runs in order: the same bits for any number
        // of threads (nf::set_num_threads, the caller's parallel-for).
        const std::size_t so = e[0], ro = e[1], si = e[2], ri = e[3], slots = so * si;
        auto some = [&](std::size_t first, std::size_t end) { // the slots [first, end), in memory order
            std::fill(s1 + first, s1 + end, 0.0);
            std::fill(s2 + first, s2 + end, 0.0);
            for (std::size_t a = first / si; a * si < end; ++a) {
                const std::size_t c0 = std::max(first, a * si) - a * si, c1 = std::min(end, (a + 1) * si) - a * si;
                for (std::size_t b = 0; b < ro; ++b)
                    for (std::size_t c = c0; c < c1; ++c) {
                        const std::size_t s = a * si + c, off = ((a * ro + b) * si + c) * ri;
                        run_gradient_sums<Arch>(x + off, dy + off, ri, mean[s], s1[s], s2[s]);
                    }
            }
        };
        nf::detail::executor ex(slots > 1 ? 2 * xc.size() : 0); // two arrays read
        const std::size_t pieces = std::min(ex.pieces(), slots);
        if (slots == 0) return;
        if (pieces <= 1)
            some(0, slots);
        else
            ex.run([&](std::size_t p) {
                if (p < pieces) some(slots * p / pieces, slots * (p + 1) / pieces);
            });
    } else {
        // (reduced_outer, slot_outer, reduced_inner, slot_inner): for each (reduced_outer,
        // slot_outer) a contiguous block of reduced_inner rows of slot_inner slots. A short row is
        // read as a tile of several rows (a multiple of the batch width), folded into the slots.
        const std::size_t ro = e[0], so = e[1], ri = e[2], si = e[3];
        constexpr std::size_t W = xsimd::batch<T, Arch>::size;
        std::fill_n(s1, so * si, 0.0);
        std::fill_n(s2, so * si, 0.0);
        if (si == 0 || ri == 0) return;
        const std::size_t rows = (si % W == 0 || si >= 8 * W) ? 1 : std::min(ri, W / std::gcd(si, W));
        const std::size_t p = rows * si;
        gradient_scratch<T> tile(rows > 1 ? 3 * p : 0, 0);
        for (std::size_t b = 0; b < so; ++b) {
            const double* mb = mean + b * si;
            double* t1 = s1 + b * si;
            double* t2 = s2 + b * si;
            const double* tm = mb;
            if (rows > 1) {
                t1 = tile.doubles();
                t2 = t1 + p;
                double* m = t2 + p;
                for (std::size_t j = 0; j < p; ++j) m[j] = mb[j % si];
                std::fill_n(t1, 2 * p, 0.0);
                tm = m;
            }
            for (std::size_t a = 0; a < ro; ++a) {
                const std::size_t off = (a * so + b) * ri * si;
                const std::size_t full = ri / rows * rows;
                periodic_gradient_sums<Arch>(x + off, dy + off, full * si, p, tm, t1, t2);
                if (full < ri) // the last rows, fewer than a tile: into the slots directly
                    periodic_gradient_sums<Arch>(x + off + full * si, dy + off + full * si, (ri - full) * si, si, mb,
                                                 s1 + b * si, s2 + b * si);
            }
            if (rows > 1)
                for (std::size_t j = 0; j < p; ++j) {
                    s1[b * si + j % si] += t1[j];
                    s2[b * si + j % si] += t2[j];
                }
        }
    }
}

/// dx = A * dy + B * (x - k) + C0 (with `Centered`), or dx = A * dy, per slot of canonical views;
/// `dx + ` that when accumulating.
template <class Arch, bool Centered, class XC, class DYC, class DXC, class T>
void write_slot_gradient(const XC& xc, const DYC& dyc, const DXC& dxc, const T* k, const T* a, const T* b, const T* c0,
                         grad_write mode) {
    using KL = nf::detail::slot_kept;
    const auto av = slot_view<KL>(a, xc);
    if constexpr (Centered) {
        const auto kv = slot_view<KL>(k, xc);
        const auto bv = slot_view<KL>(b, xc);
        const auto cv = slot_view<KL>(c0, xc);
        if (mode == grad_write::accumulate)
            write<Arch>(dxc, dxc + (dyc * av + (xc - kv) * bv + cv), store_kind::automatic);
        else
            write<Arch>(dxc, dyc * av + (xc - kv) * bv + cv, store_kind::automatic);
    } else {
        (void)k;
        (void)b;
        (void)c0;
        if (mode == grad_write::accumulate)
            write<Arch>(dxc, dxc + dyc * av, store_kind::automatic);
        else
            write<Arch>(dxc, dyc * av, store_kind::automatic);
    }
}

} // namespace nf::nn::detail
