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
// (core/slot_layout.hpp), so that every layout folds into two kernels; dx is one more pass over the
// same canonical views (write_slot_gradient: kernels of its own for slot-major runs and short
// channels-last rows, the fused DSL assignment for the other rows).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
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
#include <normfuse/eval/settings.hpp>
#include <normfuse/eval/stream.hpp>
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

/// The batch of values at p as double batches, as `as_doubles` of a load: on AVX and AVX-512 two
/// half-width loads converted from memory (no extraction of the upper half; see
/// nf::detail::widen_load).
template <class Arch, class T>
NF_ALWAYS_INLINE auto load_doubles(const T* p) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && std::is_base_of_v<xsimd::avx512f, Arch>) {
        using DB = xsimd::batch<double, Arch>;
        return std::array<DB, 2>{DB(_mm512_cvtps_pd(_mm256_loadu_ps(p))), DB(_mm512_cvtps_pd(_mm256_loadu_ps(p + 8)))};
    } else
#endif
#if defined(__AVX__)
        if constexpr (std::is_same_v<T, float> && std::is_base_of_v<xsimd::avx, Arch> &&
                      !std::is_base_of_v<xsimd::avx512f, Arch>) {
        using DB = xsimd::batch<double, Arch>;
        return std::array<DB, 2>{DB(_mm256_cvtps_pd(_mm_loadu_ps(p))), DB(_mm256_cvtps_pd(_mm_loadu_ps(p + 4)))};
    } else
#endif
        return as_doubles<Arch>(xsimd::batch<T, Arch>::load_unaligned(p));
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
            const auto xv = load_doubles<Arch>(x + i + u * W);
            const auto gv = load_doubles<Arch>(dy + i + u * W);
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
            const auto xv = load_doubles<Arch>(xr + j);
            const auto gv = load_doubles<Arch>(gr + j);
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

/// The batches of channels a register-blocked channels-last sum keeps in registers (2 H G double
/// accumulators and H G means, H doubles batches per batch of T): 4 with 32 registers, 2 with 16.
template <class Arch>
inline constexpr std::size_t channel_group = std::is_base_of_v<xsimd::avx512f, Arch> ? 4 : 2;

/// s1[j] += dy[r p + j], s2[j] += dy[r p + j] * (x[r p + j] - mean[j]) over rows r < rows and
/// channels j < p, p a multiple of G float batches: the rows in tiles of about 16 KiB of each
/// array, the channels of a tile in groups of G batches whose sums stay in registers over the
/// tile's rows (one load and store of the memory sums per tile, not per row). While the first
/// group of a tile is read, the rows of the next tile are prefetched.
template <class Arch, std::size_t G, class T>
void blocked_gradient_sums(const T* x, const T* dy, std::size_t rows, std::size_t p, const double* mean, double* s1,
                           double* s2) {
    using B = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t W = B::size, H = W / DB::size, line = 64 / sizeof(T);
    const std::size_t tile = std::max<std::size_t>(1, 4096 / p);
    for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
        const std::size_t r1 = std::min(rows, r0 + tile);
        for (std::size_t j0 = 0; j0 < p; j0 += G * W) {
            DB a1[G][H], a2[G][H], m[G][H];
            for (std::size_t g = 0; g < G; ++g)
                for (std::size_t h = 0; h < H; ++h) {
                    a1[g][h] = a2[g][h] = DB(0.0);
                    m[g][h] = DB::load_unaligned(mean + j0 + g * W + h * DB::size);
                }
            for (std::size_t r = r0; r < r1; ++r) {
                const T* xr = x + r * p + j0;
                const T* gr = dy + r * p + j0;
                if (j0 == 0 && p > G * W && r + tile < rows)
                    for (std::size_t j = 0; j < p; j += line) {
                        __builtin_prefetch(x + (r + tile) * p + j, 0, 3);
                        __builtin_prefetch(dy + (r + tile) * p + j, 0, 3);
                    }
                for (std::size_t g = 0; g < G; ++g) {
                    const auto xv = load_doubles<Arch>(xr + g * W);
                    const auto gv = load_doubles<Arch>(gr + g * W);
                    for (std::size_t h = 0; h < H; ++h) {
                        a1[g][h] += gv[h];
                        a2[g][h] = xsimd::fma(gv[h], xv[h] - m[g][h], a2[g][h]);
                    }
                }
            }
            for (std::size_t g = 0; g < G; ++g)
                for (std::size_t h = 0; h < H; ++h) {
                    double* t1 = s1 + j0 + g * W + h * DB::size;
                    double* t2 = s2 + j0 + g * W + h * DB::size;
                    (DB::load_unaligned(t1) + a1[g][h]).store_unaligned(t1);
                    (DB::load_unaligned(t2) + a2[g][h]).store_unaligned(t2);
                }
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
            constexpr std::size_t G = channel_group<Arch>;
            if (si == G * W || si == W || (G > 2 && si == 2 * W)) { // one group of channels: in registers
                for (std::size_t a = 0; a < ro; ++a) {
                    const std::size_t off = (a * so + b) * ri * si;
                    if (si == G * W)
                        blocked_gradient_sums<Arch, G>(x + off, dy + off, ri, si, mb, t1, t2);
                    else if (si == W)
                        blocked_gradient_sums<Arch, 1>(x + off, dy + off, ri, si, mb, t1, t2);
                    else
                        blocked_gradient_sums<Arch, 2>(x + off, dy + off, ri, si, mb, t1, t2);
                }
                continue;
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

/// One element of dx = A * dy + B * (x - k) + C0 (with `Centered`; else A * dy), plus dx when
/// accumulating: the same operations, in the same order, as the vector steps below.
template <bool Centered, bool Accumulate, class T>
NF_ALWAYS_INLINE T slot_gradient_value(T x, T dy, T dx, T a, T k, T b, T c0) {
    T r;
    if constexpr (Centered)
        r = std::fma(a, dy, std::fma(x - k, b, c0));
    else
        r = a * dy;
    if constexpr (Accumulate) r = dx + r;
    return r;
}

template <class Arch, bool Centered, bool Accumulate, class T>
NF_ALWAYS_INLINE xsimd::batch<T, Arch>
slot_gradient_batch(const T* x, const T* dy, const T* dx, const xsimd::batch<T, Arch>& a,
                    const xsimd::batch<T, Arch>& k, const xsimd::batch<T, Arch>& b, const xsimd::batch<T, Arch>& c0) {
    using B = xsimd::batch<T, Arch>;
    B r;
    if constexpr (Centered)
        r = xsimd::fma(a, B::load_unaligned(dy), xsimd::fma(B::load_unaligned(x) - k, b, c0));
    else
        r = a * B::load_unaligned(dy);
    if constexpr (Accumulate) r = B::load_unaligned(dx) + r;
    return r;
}

/// dx over a run of n elements of one slot (coefficients a, k, b, c0). With `Stream`, the
/// elements before the first batch-aligned one of dx are done one by one and the batches are
/// written with streaming stores.
template <class Arch, bool Centered, bool Accumulate, bool Stream, class T>
void slot_gradient_run(const T* x, const T* dy, T* dx, std::size_t n, T a, T k, T b, T c0) {
    using B = xsimd::batch<T, Arch>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    if constexpr (Stream)
        for (; i < n && reinterpret_cast<std::uintptr_t>(dx + i) % (W * sizeof(T)) != 0; ++i)
            dx[i] = slot_gradient_value<Centered, Accumulate>(x[i], dy[i], dx[i], a, k, b, c0);
    const B av(a), kv(k), bv(b), cv(c0);
    for (; i + W <= n; i += W) {
        const B r = slot_gradient_batch<Arch, Centered, Accumulate>(x + i, dy + i, dx + i, av, kv, bv, cv);
        if constexpr (Stream)
            nf::detail::stream_store(dx + i, r);
        else
            r.store_unaligned(dx + i);
    }
    for (; i < n; ++i) dx[i] = slot_gradient_value<Centered, Accumulate>(x[i], dy[i], dx[i], a, k, b, c0);
}

/// dx over `rows` rows of p elements (p a multiple of G batches; element j of a row: a[j], ...),
/// the rows in tiles of about 16 KiB of each array, the channels of a tile in groups of G batches
/// whose coefficients stay in registers over the tile's rows; the rows of the next tile are
/// prefetched while the first group of a tile is written. `Stream`: dx and p batch-aligned.
template <class Arch, std::size_t G, bool Centered, bool Accumulate, bool Stream, class T>
void slot_gradient_blocked(const T* x, const T* dy, T* dx, std::size_t rows, std::size_t p, const T* a, const T* k,
                           const T* b, const T* c0) {
    using B = xsimd::batch<T, Arch>;
    constexpr std::size_t W = B::size, line = 64 / sizeof(T);
    const std::size_t tile = std::max<std::size_t>(1, 4096 / p);
    for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
        const std::size_t r1 = std::min(rows, r0 + tile);
        for (std::size_t j0 = 0; j0 < p; j0 += G * W) {
            B ca[G], ck[G], cb[G], cc[G];
            for (std::size_t g = 0; g < G; ++g) {
                ca[g] = B::load_unaligned(a + j0 + g * W);
                ck[g] = Centered ? B::load_unaligned(k + j0 + g * W) : B(T(0));
                cb[g] = Centered ? B::load_unaligned(b + j0 + g * W) : B(T(0));
                cc[g] = Centered ? B::load_unaligned(c0 + j0 + g * W) : B(T(0));
            }
            for (std::size_t r = r0; r < r1; ++r) {
                const std::size_t o = r * p + j0;
                if (j0 == 0 && p > G * W && r + tile < rows)
                    for (std::size_t j = 0; j < p; j += line) {
                        __builtin_prefetch(x + (r + tile) * p + j, 0, 3);
                        __builtin_prefetch(dy + (r + tile) * p + j, 0, 3);
                    }
                for (std::size_t g = 0; g < G; ++g) {
                    const std::size_t i = o + g * W;
                    const B v = slot_gradient_batch<Arch, Centered, Accumulate>(x + i, dy + i, dx + i, ca[g], ck[g],
                                                                                cb[g], cc[g]);
                    if constexpr (Stream)
                        nf::detail::stream_store(dx + i, v);
                    else
                        v.store_unaligned(dx + i);
                }
            }
        }
    }
}

/// Elements of each array per chunk of the dx pass (64 KiB of floats).
inline constexpr std::size_t slot_gradient_chunk = 16384;

/// Runs `chunk(q)` for q < chunks in order, on the caller's thread or cut into pieces of
/// consecutive chunks (the same chunks, and bits, for any number of threads); after the
/// streaming stores of each piece, a fence.
template <class F>
void run_gradient_chunks(std::size_t chunks, std::size_t work, bool stream, const F& chunk) {
    nf::detail::executor ex(chunks > 1 ? work : 0);
    const std::size_t pieces = std::min(ex.pieces(), chunks);
    auto some = [&](std::size_t first, std::size_t end) {
        for (std::size_t q = first; q < end; ++q) chunk(q);
        if (stream) nf::detail::store_fence();
    };
    if (pieces <= 1)
        some(0, chunks);
    else
        ex.run([&](std::size_t piece) {
            if (piece < pieces) some(chunks * piece / pieces, chunks * (piece + 1) / pieces);
        });
}

/// dx = A * dy + B * (x - k) + C0 (with `Centered`), or dx = A * dy, per slot of canonical views;
/// `dx + ` that when accumulating (k, b, c0 are not read without `Centered`). Streaming stores
/// for outputs of at least nf::streaming_threshold() bytes.
/// * slot-major layouts (NCHW: runs of one slot): a kernel with the run's coefficients in
///   registers, in chunks of about 64 KiB of each array;
/// * channels-last rows of one register group of channels (channel_group batches, or one or two
///   batches; 64 float channels with AVX-512): a kernel holding the row's coefficients in
///   registers;
/// * other rows (several groups, or not a multiple of the width): one fused DSL assignment
///   (faster than a kernel loading the coefficients of each batch, measured on 256 channels).
template <class Arch, bool Centered, class XC, class DYC, class DXC, class T>
void write_slot_gradient(const XC& xc, const DYC& dyc, const DXC& dxc, const T* k, const T* a, const T* b, const T* c0,
                         grad_write mode) {
    using CA = typename XC::axes;
    constexpr std::size_t W = xsimd::batch<T, Arch>::size, G = channel_group<Arch>;
    const auto& e = xc.extents().values();
    const std::size_t total = xc.size();
    if (total == 0) return;
    const bool stream = total * sizeof(T) >= nf::streaming_threshold();
    const bool acc = mode == grad_write::accumulate;
    const T* x = xc.data();
    const T* dy = dyc.data();
    T* dx = dxc.data();
    if constexpr (std::is_same_v<CA, nf::detail::slot_ends_reduced>) {
        // (slot_outer, reduced_outer, slot_inner, reduced_inner): runs of reduced_inner per slot
        const std::size_t ro = e[1], si = e[2], ri = e[3], runs = total / ri;
        const std::size_t per = std::max<std::size_t>(1, slot_gradient_chunk / ri);
        run_gradient_chunks((runs + per - 1) / per, total, stream, [&](std::size_t q) {
            for (std::size_t r = q * per; r < std::min(runs, (q + 1) * per); ++r) {
                const std::size_t s = r / (ro * si) * si + r % si, o = r * ri;
                const T ks = Centered ? k[s] : T(0), bs = Centered ? b[s] : T(0), cs = Centered ? c0[s] : T(0);
                if (stream && acc)
                    slot_gradient_run<Arch, Centered, true, true>(x + o, dy + o, dx + o, ri, a[s], ks, bs, cs);
                else if (stream)
                    slot_gradient_run<Arch, Centered, false, true>(x + o, dy + o, dx + o, ri, a[s], ks, bs, cs);
                else if (acc)
                    slot_gradient_run<Arch, Centered, true, false>(x + o, dy + o, dx + o, ri, a[s], ks, bs, cs);
                else
                    slot_gradient_run<Arch, Centered, false, false>(x + o, dy + o, dx + o, ri, a[s], ks, bs, cs);
            }
        });
    } else {
        // (reduced_outer, slot_outer, reduced_inner, slot_inner): blocks of reduced_inner rows
        const std::size_t so = e[1], ri = e[2], si = e[3];
        if (si == G * W && ri > 0) {
            const std::size_t per = std::max<std::size_t>(1, slot_gradient_chunk / si); // rows per chunk
            const std::size_t per_block = (ri + per - 1) / per;
            auto aligned = [](const T* q) { return reinterpret_cast<std::uintptr_t>(q) % (W * sizeof(T)) == 0; };
            run_gradient_chunks(e[0] * so * per_block, total, stream, [&](std::size_t q) {
                const std::size_t blk = q / per_block, r0 = q % per_block * per, s = blk % so * si;
                const std::size_t o = (blk * ri + r0) * si, rows = std::min(ri, r0 + per) - r0;
                const bool st = stream && aligned(dx + o);
                if (st && acc)
                    slot_gradient_blocked<Arch, G, Centered, true, true>(x + o, dy + o, dx + o, rows, si, a + s, k + s,
                                                                         b + s, c0 + s);
                else if (st)
                    slot_gradient_blocked<Arch, G, Centered, false, true>(x + o, dy + o, dx + o, rows, si, a + s, k + s,
                                                                          b + s, c0 + s);
                else if (acc)
                    slot_gradient_blocked<Arch, G, Centered, true, false>(x + o, dy + o, dx + o, rows, si, a + s, k + s,
                                                                          b + s, c0 + s);
                else
                    slot_gradient_blocked<Arch, G, Centered, false, false>(x + o, dy + o, dx + o, rows, si, a + s,
                                                                           k + s, b + s, c0 + s);
            });
            return;
        }
        using KL = nf::detail::slot_kept;
        const auto av = slot_view<KL>(a, xc);
        if constexpr (Centered) {
            const auto kv = slot_view<KL>(k, xc);
            const auto bv = slot_view<KL>(b, xc);
            const auto cv = slot_view<KL>(c0, xc);
            if (acc)
                write<Arch>(dxc, dxc + (dyc * av + (xc - kv) * bv + cv), store_kind::automatic);
            else
                write<Arch>(dxc, dyc * av + (xc - kv) * bv + cv, store_kind::automatic);
        } else {
            if (acc)
                write<Arch>(dxc, dxc + dyc * av, store_kind::automatic);
            else
                write<Arch>(dxc, dyc * av, store_kind::automatic);
        }
    }
}

} // namespace nf::nn::detail
