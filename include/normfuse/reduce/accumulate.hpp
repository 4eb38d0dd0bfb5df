// normfuse/reduce/accumulate.hpp: the reduction loop: per-slot sums (and shifted sums of squares) in double, in one read.
//
// The operand is evaluated with the same loop nest as an assignment; instead of being stored, each
// value is added into the accumulator slot it belongs to (the slots are laid out as the kept
// axes `KL`). The accumulator is read in the same four ways a leaf is (see eval/plan.hpp), so a
// per-channel reduction is fast whether C is the outermost or the innermost axis:
//   invariant  : the whole run falls in one slot: lane-wise partial sums, one horizontal add;
//   contiguous : the run walks the slots one to one (reducing over an outer axis);
//   periodic   : the run cycles through the slots (C innermost): tiled accumulators, folded
//                into the slots when the block changes;
//   strided    : scalar fallback.
// Values are widened to double before they are added, and a per-slot shift k is subtracted
// first, so that sums of squares of (x - k) stay accurate when |mean| >> std.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/eval/assign.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/reduce/widen.hpp>

namespace nf::detail {

/// max(v, 0) for a variance computed as E[d^2] - E[d]^2 (rounding may leave it slightly below 0),
/// except that NaN stays NaN: std::max(0.0, NaN) is 0, which would hide a NaN or an Inf of the data
/// (Inf - Inf) as a zero variance. PyTorch's variance of data holding NaN or Inf is NaN. (Always
/// inlined, as the other small helpers here: no out-of-line copy compiled for one instruction set
/// can be shared with translation units built for another.)
NF_ALWAYS_INLINE double nonnegative_or_nan(double v) {
    return v > 0.0 || v != v ? v : 0.0;
}

/// What a reduction loop sums, per slot: `plain`: s1 = sum v; `squares`: s2 = sum v^2;
/// `moments`: s1 = sum (v - k) and s2 = sum (v - k)^2, with k the slot's shift.
enum class sums { plain, squares, moments };

/// The values of a bound operand at (at, ph) of its run as double batches (two per float batch).
template <class Arch, class T, class Bound>
NF_ALWAYS_INLINE auto wide_at(const Bound& root, std::size_t at, std::size_t ph) {
    using DB = xsimd::batch<double, Arch>;
    std::array<DB, xsimd::batch<T, Arch>::size / DB::size> h;
    if constexpr (std::is_same_v<T, float>) {
        auto [lo, hi] = widen_load(root, at, ph);
        h[0] = lo;
        h[1] = hi;
    } else {
        h[0] = root.load(at, ph);
    }
    return h;
}

/// v - k when What shifts (`minus_k` = -k, `one` from opaque_one), else v.
template <sums What, class DB>
NF_ALWAYS_INLINE DB shifted_by(const DB& v, const DB& one, const DB& minus_k) {
    if constexpr (What == sums::moments) {
        return minus_shift(v, one, minus_k);
    } else {
        (void)one;
        (void)minus_k;
        return v;
    }
}

/// acc + dv for the first sum. Alone (sums::plain) it goes to the multiply-add units, next to the
/// conversions on the adders; beside the shifted squares (sums::moments) the two kinds of units
/// are already evenly loaded, and it stays an addition.
template <sums What, class DB>
NF_ALWAYS_INLINE DB first_sum_plus(const DB& acc, const DB& dv, const DB& one) {
    if constexpr (What == sums::plain)
        return plus_on_fma(acc, dv, one);
    else {
        (void)one;
        return acc + dv;
    }
}

/// A contiguous leaf of 16-bit floating values (nf::bf16, nf::fp16) loaded as float: the operand
/// whose sum of squares half_squares_run takes in float.
template <class Node>
inline constexpr bool half_float_leaf = false;
template <class Arch, std::size_t K, class S>
inline constexpr bool half_float_leaf<bound_leaf<float, Arch, leaf_mode::contiguous, K, S>> =
    std::is_same_v<S, bf16> || std::is_same_v<S, fp16>;

/// sum v^2 over the positions [i_begin, i_end) of a 16-bit leaf (half_float_leaf), in float blocks
/// added into double; false (r2 untouched) when the float sums cannot be vouched for, and the
/// caller sums in double. The square of a 16-bit value (8 or 11 significant bits) is exact in
/// float while it is a normal number, so each lane of a block is a float sum of at most M + 2
/// nonnegative exact terms (M fused multiply-adds into each of U accumulators, then the U added
/// pairwise): relative error at most (M + 2) * 2^-24 = 10 * 2^-24 of the block's sum, which
/// carries over to the whole sum (all terms >= 0), about 5 float units on RMSNorm's
/// 1 / sqrt(mean + eps). The exceptions: a square or a block sum beyond float's range (the total
/// is then not finite), and squares below 2^-126 (|v| < 2^-63), each off by at most 2^-150: the
/// total is vouched for only when it is at least n * 2^-100 (n values), where those errors are
/// below 2^-50 of it. NaN inputs give a NaN total, summed again in double (the same NaN result).
template <class Arch, class Bound>
NF_ALWAYS_INLINE bool half_squares_run(const Bound& root, std::size_t i_begin, std::size_t i_end, double& r2) {
    using FB = xsimd::batch<float, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t B = FB::size;
    constexpr std::size_t U = 4; // independent accumulators (the latency of an add)
    constexpr std::size_t M = 8; // batches into each before the block goes into double
    DB wide_sum(0.0);
    std::size_t i = i_begin;
    while (i + U * B <= i_end) {
        FB a[U];
        for (std::size_t u = 0; u < U; ++u) a[u] = FB(0.0f);
        const std::size_t stop = i_end - i >= M * U * B ? i + M * U * B : i_end;
        for (; i + U * B <= stop; i += U * B)
            for (std::size_t u = 0; u < U; ++u) {
                const FB v = root.load(i + u * B, 0);
                a[u] = xsimd::fma(v, v, a[u]);
            }
        const auto [lo, hi] = widen((a[0] + a[1]) + (a[2] + a[3]));
        wide_sum += lo + hi;
    }
    double total = lane_sum(wide_sum);
    for (; i < i_end; ++i) {
        const double v = static_cast<double>(root.load_scalar(i, 0));
        total += v * v;
    }
    if (!(total >= static_cast<double>(i_end - i_begin) * 0x1p-100) || !std::isfinite(total))
        return i_end == i_begin; // (nothing to add: the empty sum is exact)
    r2 += total;
    return true;
}

/// The sums of the positions [i_begin, i_end) of the run `root` is at (seeked), all of one slot
/// whose shift is k: r1 += sum (v - k) and r2 += sum (v - k)^2, as far as What asks for them.
/// U independent sets of lane-wise partial sums: one set would make every batch wait for the
/// previous add (4 cycles), which bounds a run in cache far below its read speed.
template <class Arch, sums What, class P, class Bound>
NF_ALWAYS_INLINE void sum_run(const Bound& root, std::size_t i_begin, std::size_t i_end, std::size_t chunk, double k,
                              double& r1, double& r2) {
    using T = typename P::value_type;
    if constexpr (What == sums::squares && half_float_leaf<Bound>)
        if (half_squares_run<Arch>(root, i_begin, i_end, r2)) return;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t B = xsimd::batch<T, Arch>::size;
    constexpr std::size_t halves = B / DB::size;
    constexpr bool First = What != sums::squares, Second = What != sums::plain;
    constexpr std::size_t U = 4;
    const DB one = opaque_one<Arch>();
    const DB nk(-k);
    DB a1[U][halves], a2[U][halves];
    for (std::size_t u = 0; u < U; ++u)
        for (std::size_t h = 0; h < halves; ++h) a1[u][h] = a2[u][h] = DB(0.0);
    auto add = [&](std::size_t u, std::size_t at, std::size_t ph) {
        const auto hv = wide_at<Arch, T>(root, at, ph);
        for (std::size_t h = 0; h < halves; ++h) {
            const DB dv = shifted_by<What>(hv[h], one, nk);
            if constexpr (First) a1[u][h] = first_sum_plus<What>(a1[u][h], dv, one);
            if constexpr (Second) a2[u][h] = xsimd::fma(dv, dv, a2[u][h]);
        }
    };
    std::size_t i = i_begin;
    if constexpr (!P::periodic) // (periodic operand leaves need the tile phase: walk_run)
        for (; i + U * B <= i_end; i += U * B)
            for (std::size_t u = 0; u < U; ++u) add(u, i + u * B, 0);
    walk_run<P::periodic, B>(
        i, i_end, chunk, [&](std::size_t at, std::size_t ph) { add(0, at, ph); },
        [&](std::size_t at, std::size_t ph) {
            const double dv = static_cast<double>(root.load_scalar(at, ph)) - k;
            if constexpr (First) r1 += dv;
            if constexpr (Second) r2 += dv * dv;
        });
    for (std::size_t h = 0; h < halves; ++h) {
        DB t1 = a1[0][h], t2 = a2[0][h];
        for (std::size_t u = 1; u < U; ++u) {
            t1 += a1[u][h];
            t2 += a2[u][h];
        }
        if constexpr (First) r1 += lane_sum(t1);
        if constexpr (Second) r2 += lane_sum(t2);
    }
}

/// The accumulator slots of one reduction as the loop nest sees them, and one thread's share of
/// the work: runs [o_begin, o_end), positions [i_begin, i_end) of each run.
template <class Arch, class DL, class KL, sums What, class P, class Bound>
void accumulate_block(const Bound& bound, const std::array<std::size_t, DL::size>& ext,
                      const std::array<std::ptrdiff_t, P::outer>& kouter, std::ptrdiff_t kinner, std::size_t length,
                      std::size_t chunk, const double* shift, double* s1, double* s2, scratch_arena& arena,
                      std::size_t o_begin, std::size_t o_end, std::size_t i_begin, std::size_t i_end) {
    using T = typename P::value_type;
    using TB = xsimd::batch<T, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr std::size_t K = P::outer;
    constexpr std::size_t B = TB::size;
    constexpr std::size_t BD = DB::size;
    constexpr std::size_t halves = B / BD;
    constexpr leaf_mode mode = mode_of<KL, DL, K>();
    constexpr bool First = What != sums::squares;   // s1 is summed
    constexpr bool Second = What != sums::plain;    // s2 is summed
    constexpr bool Shifted = What == sums::moments; // values are shifted first
    (void)length;

    Bound root = bound;
    auto wide = [&root](std::size_t at, std::size_t ph) { return wide_at<Arch, T>(root, at, ph); };
    const DB one = opaque_one<Arch>();
    auto shifted = [&](const DB& v, const DB& minus_k) { return shifted_by<What>(v, one, minus_k); };

    // Periodic mode: tiled accumulators of one block of slots, folded back when the block changes.
    double* t1 = nullptr;
    double* t2 = nullptr;
    double* tk = nullptr;
    std::size_t period = 1;
    std::ptrdiff_t block = -1;
    if constexpr (mode == leaf_mode::periodic) {
        period = period_of<KL, DL, K>(ext);
        t1 = arena.allocate<double>(chunk);
        t2 = arena.allocate<double>(chunk);
        tk = arena.allocate<double>(chunk);
    }
    auto fold = [&] {
        if constexpr (mode == leaf_mode::periodic) {
            if (block < 0) return;
            for (std::size_t j = 0; j < chunk; ++j) {
                if constexpr (First) s1[block + static_cast<std::ptrdiff_t>(j % period)] += t1[j];
                if constexpr (Second) s2[block + static_cast<std::ptrdiff_t>(j % period)] += t2[j];
            }
        }
    };

    outer_index<K> index{};
    std::size_t rest = o_begin;
    for (std::size_t d = K; d-- > 0;) {
        index[d] = rest % ext[d];
        rest /= ext[d];
    }
    for (std::size_t o = o_begin; o < o_end; ++o) {
        root.seek(index);
        std::ptrdiff_t s0 = 0;
        for (std::size_t d = 0; d < K; ++d) s0 += static_cast<std::ptrdiff_t>(index[d]) * kouter[d];

        if constexpr (mode == leaf_mode::invariant) {
            double r1 = 0, r2 = 0;
            sum_run<Arch, What, P>(root, i_begin, i_end, chunk, Shifted ? shift[s0] : 0.0, r1, r2);
            if constexpr (First) s1[s0] += r1;
            if constexpr (Second) s2[s0] += r2;
        } else if constexpr (mode == leaf_mode::contiguous) {
            double* p1 = First ? s1 + s0 : nullptr;
            double* p2 = Second ? s2 + s0 : nullptr;
            const double* pk = Shifted ? shift + s0 : nullptr;
            walk_run<P::periodic, B>(
                i_begin, i_end, chunk,
                [&](std::size_t at, std::size_t ph) {
                    const auto hv = wide(at, ph);
                    for (std::size_t h = 0; h < halves; ++h) {
                        const std::size_t q = at + h * BD;
                        const DB dv = Shifted ? hv[h] - DB::load_unaligned(pk + q) : hv[h];
                        if constexpr (First) (DB::load_unaligned(p1 + q) + dv).store_unaligned(p1 + q);
                        if constexpr (Second) xsimd::fma(dv, dv, DB::load_unaligned(p2 + q)).store_unaligned(p2 + q);
                    }
                },
                [&](std::size_t at, std::size_t ph) {
                    const double dv = static_cast<double>(root.load_scalar(at, ph)) - (Shifted ? pk[at] : 0.0);
                    if constexpr (First) p1[at] += dv;
                    if constexpr (Second) p2[at] += dv * dv;
                });
        } else if constexpr (mode == leaf_mode::periodic) {
            if (s0 != block) {
                fold();
                block = s0;
                for (std::size_t j = 0; j < chunk; ++j) {
                    t1[j] = 0;
                    t2[j] = 0;
                    tk[j] = Shifted ? shift[s0 + static_cast<std::ptrdiff_t>(j % period)] : 0.0;
                }
            }
            std::size_t i = i_begin; // a multiple of chunk
            constexpr std::size_t R = 4;
            if (chunk <= R * B) {
                // A tile of at most R batches (e.g. 64 float channels with AVX-512): its sums stay
                // in registers for the whole run and go to the tiles once at the end.
                const std::size_t nb = chunk / B;
                DB a1[R][halves], a2[R][halves], nk[R][halves];
                for (std::size_t j = 0; j < R; ++j)
                    for (std::size_t h = 0; h < halves; ++h) {
                        a1[j][h] = a2[j][h] = DB(0.0);
                        nk[j][h] = j < nb ? -DB::load_aligned(tk + j * B + h * BD) : DB(0.0);
                    }
                for (; i + chunk <= i_end; i += chunk)
                    for (std::size_t j = 0; j < R; ++j) {
                        if (j >= nb) break;
                        const auto hv = wide(i + j * B, j * B);
                        for (std::size_t h = 0; h < halves; ++h) {
                            const DB dv = shifted(hv[h], nk[j][h]);
                            if constexpr (First) a1[j][h] = first_sum_plus<What>(a1[j][h], dv, one);
                            if constexpr (Second) a2[j][h] = xsimd::fma(dv, dv, a2[j][h]);
                        }
                    }
                for (std::size_t j = 0; j < nb; ++j)
                    for (std::size_t h = 0; h < halves; ++h) {
                        const std::size_t q = j * B + h * BD;
                        if constexpr (First) (DB::load_aligned(t1 + q) + a1[j][h]).store_aligned(t1 + q);
                        if constexpr (Second) (DB::load_aligned(t2 + q) + a2[j][h]).store_aligned(t2 + q);
                    }
            } else {
                // Longer tiles: R consecutive tiles at a time, so that each tiled sum is loaded and
                // stored once per R batches of x instead of once per batch.
                for (; i + R * chunk <= i_end; i += R * chunk)
                    for (std::size_t ph = 0; ph < chunk; ph += B) {
                        std::array<std::array<DB, halves>, R> hv;
                        for (std::size_t u = 0; u < R; ++u) hv[u] = wide(i + u * chunk + ph, ph);
                        for (std::size_t h = 0; h < halves; ++h) {
                            const std::size_t q = ph + h * BD;
                            const DB nk = -DB::load_aligned(tk + q);
                            DB b1 = DB::load_aligned(t1 + q), b2 = DB::load_aligned(t2 + q);
                            for (std::size_t u = 0; u < R; ++u) {
                                const DB dv = shifted(hv[u][h], nk);
                                if constexpr (First) b1 = first_sum_plus<What>(b1, dv, one);
                                if constexpr (Second) b2 = xsimd::fma(dv, dv, b2);
                            }
                            if constexpr (First) b1.store_aligned(t1 + q);
                            if constexpr (Second) b2.store_aligned(t2 + q);
                        }
                    }
            }
            walk_run<true, B>(
                i, i_end, chunk,
                [&](std::size_t at, std::size_t ph) {
                    const auto hv = wide(at, ph);
                    for (std::size_t h = 0; h < halves; ++h) {
                        const std::size_t q = ph + h * BD;
                        const DB dv = Shifted ? hv[h] - DB::load_aligned(tk + q) : hv[h];
                        if constexpr (First) (DB::load_aligned(t1 + q) + dv).store_aligned(t1 + q);
                        if constexpr (Second) xsimd::fma(dv, dv, DB::load_aligned(t2 + q)).store_aligned(t2 + q);
                    }
                },
                [&](std::size_t at, std::size_t ph) {
                    const double dv = static_cast<double>(root.load_scalar(at, ph)) - tk[ph];
                    if constexpr (First) t1[ph] += dv;
                    if constexpr (Second) t2[ph] += dv * dv;
                });
        } else {
            for (std::size_t i = i_begin; i < i_end; ++i) {
                const std::ptrdiff_t sl = s0 + static_cast<std::ptrdiff_t>(i) * kinner;
                const double dv = static_cast<double>(root.load_scalar(i, 0)) - (Shifted ? shift[sl] : 0.0);
                if constexpr (First) s1[sl] += dv;
                if constexpr (Second) s2[sl] += dv * dv;
            }
        }

        for (std::size_t d = K; d-- > 0;) {
            if (++index[d] < ext[d]) break;
            index[d] = 0;
        }
    }
    fold();
}

template <class Arch, class DL, class KL, sums What, class P, class E>
void accumulate_with(const E& e, const std::array<std::size_t, DL::size>& ext, const double* shift, double* s1,
                     double* s2, scratch_arena& arena);

/// The loop nest of `P` with the run cut down to the innermost axis: every leaf and the
/// accumulator are then read contiguously, invariantly or strided, never periodically.
template <class P>
struct inner_run_plan : P {
    static constexpr std::size_t outer = P::rank == 0 ? 0 : P::rank - 1;
    static constexpr bool periodic = false;
};

/// The longest tile of a periodic accumulator (in slots): the tiles (three arrays of doubles,
/// plus a copy of every periodic leaf) hold lcm(batch size, period) slots, which is the whole
/// kept extent when the slots are the run's inner axes (sum<N> over (N, L): L slots) and up to 16
/// times more when the period is not a multiple of the batch size. Above this, the run is cut to
/// the innermost axis instead, and the sums go straight to the slots: scratch stays the slots'.
inline constexpr std::size_t max_periodic_tile = std::size_t{1} << 14;

/// For every slot s of the kept layout KL, over all values v of `e` that fall in s: with
/// sums::plain, s1[s] += sum v; with sums::squares, s2[s] += sum v^2; with sums::moments,
/// s1[s] += sum (v - shift[s]) and s2[s] += sum (v - shift[s])^2. Pointers that What does not
/// use may be null. `e` is looped in the order of `DL` (its axes, extents `ext`). With
/// nf::set_num_threads(n > 1) (eval/parallel.hpp), pieces sum into private slots, added up at the end.
template <class Arch, class DL, class KL, sums What, class E>
void accumulate(const E& e, const std::array<std::size_t, DL::size>& ext, const double* shift, double* s1, double* s2,
                scratch_arena& arena) {
    using T = typename E::value_type;
    using P = plan<T, Arch, DL, E, layout_list<KL>>;
    if constexpr (P::periodic && mode_of<KL, DL, P::outer>() == leaf_mode::periodic) {
        if (chunk_length<P>(ext, typename P::layouts{}) > max_periodic_tile) {
            accumulate_with<Arch, DL, KL, What, inner_run_plan<P>>(e, ext, shift, s1, s2, arena);
            return;
        }
    }
    accumulate_with<Arch, DL, KL, What, P>(e, ext, shift, s1, s2, arena);
}

template <class Arch, class DL, class KL, sums What, class P, class E>
void accumulate_with(const E& e, const std::array<std::size_t, DL::size>& ext, const double* shift, double* s1,
                     double* s2, scratch_arena& arena) {
    using T = typename E::value_type;
    constexpr std::size_t K = P::outer;
    constexpr auto kpos = positions_in<KL, DL>::value;

    std::size_t outer_count = 1, length = 1;
    for (std::size_t d = 0; d < DL::size; ++d) (d < K ? outer_count : length) *= ext[d];
    if (outer_count == 0 || length == 0) return;

    // Strides of the accumulator slots along the loop's outer axes and its innermost axis.
    const auto kext = restrict_extents<KL, DL>(ext);
    std::array<std::ptrdiff_t, K> kouter{};
    std::ptrdiff_t kinner = 0;
    std::size_t slots = 1;
    {
        std::ptrdiff_t st = 1;
        for (std::size_t j = KL::size; j-- > 0;) {
            if (kpos[j] < K) kouter[kpos[j]] = st;
            if (kpos[j] + 1 == DL::size) kinner = st;
            st *= static_cast<std::ptrdiff_t>(kext[j]);
        }
        slots = static_cast<std::size_t>(st);
    }

    const std::size_t total = outer_count * length;
    bind_context<P> ctx{ext, chunk_length<P>(ext, typename P::layouts{}), arena};
    const auto root = bind(e, ctx);
    executor ex(total); // after bind: hoisted parts of the operand take the threads first
    const std::size_t chunk = ctx.chunk;
    // A piece's private sums (and periodic tiles) must stay small against the data it reads:
    // summing (2, 16M) into 16M slots would need 512 MB more per piece for 128 MB of input.
    const std::size_t private_bytes = sizeof(double) * ((What == sums::moments ? 2 : 1) * slots +
                                                        (mode_of<KL, DL, K>() == leaf_mode::periodic ? 3 * chunk : 0));
    if (ex.pieces() > 1 && private_bytes * (ex.pieces() - 1) <= total * sizeof(T) / 2) {
        // Every piece sums into slots of its own, allocated here before any piece starts; the
        // pieces' sums are then added in piece order (the same result whichever thread ran which).
        const std::size_t pieces = ex.pieces();
        const bool by_runs = outer_count >= pieces;
        constexpr bool First = What != sums::squares, Second = What != sums::plain;
        using Bound = std::remove_cvref_t<decltype(root)>;
        std::unique_ptr<scratch_arena[]> arenas(new scratch_arena[pieces]);
        std::vector<Bound> mine(pieces, root);
        std::vector<double*> p1(pieces, nullptr), p2(pieces, nullptr);
        for (std::size_t t = 0; t < pieces; ++t) {
            mine[t].own_tiles(arenas[t], t);
            if constexpr (First) p1[t] = arenas[t].template allocate<double>(slots);
            if constexpr (Second) p2[t] = arenas[t].template allocate<double>(slots);
        }
        ex.run([&](std::size_t t) {
            if constexpr (First) std::fill_n(p1[t], slots, 0.0);
            if constexpr (Second) std::fill_n(p2[t], slots, 0.0);
            if (by_runs) {
                accumulate_block<Arch, DL, KL, What, P>(mine[t], ext, kouter, kinner, length, chunk, shift, p1[t],
                                                        p2[t], arenas[t], outer_count * t / pieces,
                                                        outer_count * (t + 1) / pieces, 0, length);
            } else {
                const std::size_t units = (length + chunk - 1) / chunk;
                const std::size_t ib = std::min(length, units * t / pieces * chunk);
                const std::size_t ie = std::min(length, units * (t + 1) / pieces * chunk);
                accumulate_block<Arch, DL, KL, What, P>(mine[t], ext, kouter, kinner, length, chunk, shift, p1[t],
                                                        p2[t], arenas[t], 0, outer_count, ib, ie);
            }
        });
        for (std::size_t t = 0; t < pieces; ++t) {
            if constexpr (First)
                for (std::size_t q = 0; q < slots; ++q) s1[q] += p1[t][q];
            if constexpr (Second)
                for (std::size_t q = 0; q < slots; ++q) s2[q] += p2[t][q];
        }
        return;
    }
    accumulate_block<Arch, DL, KL, What, P>(root, ext, kouter, kinner, length, chunk, shift, s1, s2, arena, 0,
                                            outer_count, 0, length);
}

} // namespace nf::detail
