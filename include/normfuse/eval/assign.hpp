// normfuse/eval/assign.hpp: evaluates an expression into contiguous memory in one fused SIMD loop nest.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/convert.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/eval/blocked.hpp>
#include <normfuse/eval/bound.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/row_local.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/eval/stream.hpp>
#include <normfuse/eval/transpose.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>

namespace nf {

namespace detail {

struct assignment_call {
    static constexpr std::string_view name = "assignment";
};

/// Position in `EA` of the first axis that `DL` lacks.
template <class EA, class DL>
constexpr std::size_t first_missing_axis() {
    constexpr auto pos = positions_in<EA, DL>::value;
    for (std::size_t j = 0; j < pos.size(); ++j)
        if (pos[j] == npos) return j;
    return 0;
}

/// True when values of the expression `E` may be stored into elements of `T`: a floating `T`
/// takes any floating expression of its compute type (a store into nf::bf16 or nf::fp16 rounds
/// once, to nearest even; one into float from nf::bf16 or nf::fp16 is exact); an integer `T`
/// takes only an expression of its own type (a copy: integers are never computed on).
template <class T, class E>
inline constexpr bool storable =
    FloatingElement<T>
        ? FloatingElement<typename E::element_type>&& std::is_same_v<compute_t<T>, typename E::value_type>
        : std::is_same_v<T, typename E::element_type>;

/// True when `destination = expression` obeys the compile-time rules.
template <class T, class DL, class E>
inline constexpr bool assignable = !std::is_same_v<E, invalid_expression> && storable<T, E> &&
                                   is_subset<typename E::axes, DL> && mismatch_position<typename E::axes, DL> == npos;

/// Instantiates the diagnostic that explains why `destination = expression` is rejected.
template <class Call, class T, class DL, class E>
void report_unassignable() {
    using EA = typename E::axes;
    if constexpr (std::is_same_v<E, invalid_expression>) {
        // already reported where the expression was built: no second wave of errors
    } else if constexpr (!FloatingElement<T> && !storable<T, E>) {
        (void)sizeof(error::integer_destination<integer_destination_message<Call, T>(), Call, T>);
    } else if constexpr (!storable<T, E>) {
        using ET = typename E::element_type;
        (void)sizeof(error::element_type_mismatch<type_mismatch_message<Call, T, ET>(), Call, T, ET>);
    } else if constexpr (!is_subset<EA, DL>) {
        using A = axis_at_t<first_missing_axis<EA, DL>(), EA>;
        (void)sizeof(error::axis_not_in_destination<missing_axis_message<Call, A>(
                                                        " is in the expression but not in the destination",
                                                        "; reduce over it or assign to a tensor that has it"),
                                                    Call, A, DL>);
    } else {
        using A = axis_at_t<mismatch_position<EA, DL>, EA>;
        using B = find_axis_t<A, DL>;
        (void)sizeof(error::axis_extent_mismatch<extent_mismatch_message<Call, B, A>(), Call, B, A>);
    }
}

/// Run-time extent of every axis met so far (destination axes first), to compare operands.
template <class All>
struct extent_table {
    std::array<std::size_t, All::size> value;
    std::array<bool, All::size> from_destination{};
    std::string_view call;

    template <class A>
    void record(std::size_t extent) {
        constexpr std::size_t i = index_of<A, All>;
        if (value[i] == npos) {
            value[i] = extent;
        } else if (value[i] != extent) {
            raise_assignment_mismatch(call, A::name, value[i], from_destination[i], extent);
        }
    }
};

template <class Table, class E>
void check_leaves(Table& table, const E& e) {
    if constexpr (E::kind == node_kind::terminal) {
        [&]<class... As>(axis_list<As...>) {
            std::size_t j = 0;
            (table.template record<As>(e.extents()[j++]), ...);
        }(typename E::axes{});
    } else if constexpr (E::kind == node_kind::unary || E::kind == node_kind::reduction) {
        check_leaves(table, e.arg);
    } else if constexpr (E::kind == node_kind::binary) {
        check_leaves(table, e.left);
        check_leaves(table, e.right);
    }
}

/// Throws `extent_error` unless every operand agrees with the destination and with each other.
template <class DL, class E>
void check_extents(const E& e, const std::array<std::size_t, DL::size>& dest, std::string_view call) {
    using All = axis_union<DL, typename E::all_axes>;
    extent_table<All> table;
    table.value.fill(npos);
    table.call = call;
    for (std::size_t d = 0; d < DL::size; ++d) {
        table.value[d] = dest[d];
        table.from_destination[d] = true;
    }
    check_leaves(table, e);
}

template <class Plan>
struct bind_context {
    std::array<std::size_t, Plan::rank> extents;
    std::size_t chunk; // tile length of periodic leaves: a multiple of the batch size and of every period
    scratch_arena& arena;
    slot_sums_registry* sums = nullptr; // reductions of one operand that share their sums (row_local.hpp)
};

/// The context's registry of shared sums (eval/row_local.hpp), made on first use.
template <class Plan>
slot_sums_registry& sums_registry(bind_context<Plan>& ctx) {
    if (ctx.sums == nullptr) {
        ctx.sums = new (ctx.arena.template allocate<slot_sums_registry>(1)) slot_sums_registry{};
        ctx.sums->threads = static_cast<std::size_t>(std::max(1, num_threads()));
    }
    return *ctx.sums;
}

template <class LA, class DL>
std::array<std::size_t, LA::size> restrict_extents(const std::array<std::size_t, DL::size>& dest) {
    constexpr auto pos = positions_in<LA, DL>::value;
    std::array<std::size_t, LA::size> out{};
    for (std::size_t j = 0; j < LA::size; ++j) out[j] = dest[pos[j]];
    return out;
}

template <class LA, class DL, std::size_t K>
std::size_t period_of(const std::array<std::size_t, DL::size>& dest) {
    constexpr auto pos = positions_in<LA, DL>::value;
    std::size_t p = 1;
    for (std::size_t j = 0; j < LA::size; ++j)
        if (pos[j] >= K) p *= dest[pos[j]];
    return p;
}

template <class Plan, class... Ls>
std::size_t chunk_length(const std::array<std::size_t, Plan::rank>& dest, layout_list<Ls...>) {
    using DL = typename Plan::dest_axes;
    constexpr std::size_t B = xsimd::batch<typename Plan::value_type, typename Plan::arch>::size;
    std::size_t chunk = B;
    auto add = [&]<class LA>(LA*) {
        if constexpr (mode_of<LA, DL, Plan::outer>() == leaf_mode::periodic) {
            const std::size_t p = period_of<LA, DL, Plan::outer>(dest);
            if (p != 0) chunk = std::lcm(chunk, p);
        }
    };
    (add(static_cast<Ls*>(nullptr)), ...);
    return chunk;
}

/// Binds memory of elements `S` laid out as `LA` (row-major, extents `ext`) to the loop nest of
/// `Plan`; they are loaded converted to its compute type.
template <class Plan, class LA, class S>
auto bind_memory(const S* data, const std::array<std::size_t, LA::size>& ext, bind_context<Plan>& ctx) {
    using T = typename Plan::value_type;
    using DL = typename Plan::dest_axes;
    constexpr std::size_t K = Plan::outer;
    constexpr leaf_mode mode = mode_of<LA, DL, K>();
    constexpr auto pos = positions_in<LA, DL>::value;
    bound_leaf<T, typename Plan::arch, mode, K, S> leaf;
    leaf.base = data;
    std::array<std::ptrdiff_t, LA::size> stride{};
    std::ptrdiff_t s = 1;
    for (std::size_t j = LA::size; j-- > 0;) {
        stride[j] = s;
        s *= static_cast<std::ptrdiff_t>(ext[j]);
    }
    for (std::size_t j = 0; j < LA::size; ++j) {
        if (pos[j] < K) leaf.outer_stride[pos[j]] = stride[j];
        if constexpr (Plan::rank > 0)
            if (pos[j] == Plan::rank - 1) leaf.inner_stride = stride[j];
    }
    if constexpr (mode == leaf_mode::strided) leaf.window.prepare(leaf.inner_stride);
    if constexpr (mode == leaf_mode::periodic) {
        leaf.period = period_of<LA, DL, K>(ctx.extents);
        constexpr std::size_t B = xsimd::batch<T, typename Plan::arch>::size;
        leaf.tile_length = ctx.chunk + B;
        leaf.tile = ctx.arena.template allocate<T>(ctx.chunk + B);
    }
    return leaf;
}

/// Binds an nf::strided_view's memory (elements `S`, axes `LA`, strides `strides`) to the loop
/// nest of `Plan`, whose run is the destination's innermost axis (plan.hpp).
template <class Plan, class LA, class S>
auto bind_strided(const S* data, const std::array<std::ptrdiff_t, LA::size>& strides) {
    constexpr std::size_t K = Plan::outer;
    static_assert(K + 1 >= Plan::rank, "normfuse: internal: a strided leaf in a run of several axes");
    constexpr auto pos = positions_in<LA, typename Plan::dest_axes>::value;
    bound_strided_leaf<typename Plan::value_type, typename Plan::arch, K, S> leaf;
    leaf.base = data;
    for (std::size_t j = 0; j < LA::size; ++j) {
        if (pos[j] < K) leaf.outer_stride[pos[j]] = strides[j];
        if constexpr (Plan::rank > 0)
            if (pos[j] == Plan::rank - 1) leaf.inner_stride = strides[j];
    }
    leaf.window.prepare(leaf.inner_stride);
    return leaf;
}

template <class Arch, class T, class DL, class E>
void evaluate_into(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, scratch_arena& arena,
                   store_kind store);
template <class Arch, class T, class DL, class Root, class E>
void evaluate_part_into(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, scratch_arena& arena,
                        store_kind store, slot_sums_registry* sums);

/// True for an nf::cast whose compute type differs from its operand's (a tensor or view then).
template <class E>
constexpr bool converting_cast() {
    if constexpr (E::kind == node_kind::unary) {
        if constexpr (is_cast_op<typename E::op>)
            return !std::is_same_v<typename operand_t<E>::value_type, typename E::value_type>;
        else
            return false;
    } else {
        return false;
    }
}

/// Bytes per destination element that `e` reads from operands with as many axes as the
/// destination (rank R): what an assignment moves besides what it writes (the streaming policy,
/// eval/settings.hpp). Broadcast operands (a per-channel mean) are left out.
template <class E, std::size_t R>
constexpr std::size_t full_size_read_bytes() {
    if constexpr (E::kind == node_kind::terminal)
        return E::axes::size == R ? sizeof(typename E::element_type) : 0;
    else if constexpr (E::kind == node_kind::unary || E::kind == node_kind::reduction)
        return full_size_read_bytes<std::remove_cvref_t<decltype(std::declval<E>().arg)>, R>();
    else if constexpr (E::kind == node_kind::binary)
        return full_size_read_bytes<std::remove_cvref_t<decltype(std::declval<E>().left)>, R>() +
               full_size_read_bytes<std::remove_cvref_t<decltype(std::declval<E>().right)>, R>();
    else
        return 0;
}

/// True when a leaf of the bound expression `b` reads its run through windows at a stride of 2
/// to 4 elements (eval/bound.hpp: window_masks; the channels of interleaved pixels into planes).
/// Such loops are written with ordinary stores unless streaming is asked for: measured on Zen 5
/// (docs/bench/pipeline.md), uint8 (N, 224, 224, 3) into float planes, at 0.4 to 3 times the
/// last-level cache, streaming stores took 1.4 to 1.8 times the time of ordinary ones in one
/// sweep of batch sizes and 0.9 to 1.2 times in another: never clearly faster. Each image is read
/// once per channel, from L2, which ordinary stores do not seem to disturb.
template <class Bound>
bool reads_windows(const Bound& b) {
    if constexpr (requires { b.arg; })
        return reads_windows(b.arg);
    else if constexpr (requires {
                           b.left;
                           b.right;
                       })
        return reads_windows(b.left) || reads_windows(b.right);
    else if constexpr (requires {
                           b.window.from;
                           b.inner_stride;
                       })
        return b.inner_stride >= 2 && b.inner_stride <= 4;
    else
        return false;
}

/// True for a converting nf::cast of an nf::strided_view.
template <class E>
constexpr bool strided_converting_cast() {
    if constexpr (converting_cast<E>())
        return is_strided_terminal<operand_t<E>>();
    else
        return false;
}

template <class Plan, bool Inside = false, class E>
auto bind(const E& e, bind_context<Plan>& ctx);

/// The member of a slot group (row_local.hpp) for the sum Entry of operands over OA kept over KL.
template <class Plan, class KL, class OA, class Entry>
struct slot_group_member {
    using PR = plan<typename Plan::value_type, typename Plan::arch, OA, typename Entry::operand, layout_list<KL>>;
    using bound =
        decltype(bind<PR, false>(std::declval<const typename Entry::operand&>(), std::declval<bind_context<PR>&>()));
    using type = group_member<bound, PR, Entry::what>;
};

template <class Plan, class KL, class OA, class L>
struct slot_group_for {
    using type = void;
};
template <class Plan, class KL, class OA, class... Es>
struct slot_group_for<Plan, KL, OA, type_list<Es...>> {
    // Fused when there are two distinct sums or more, none periodic in its loop (no tiles: each
    // thread's copy of an operand is a plain copy), and no sum of squares (nn::rms_norm's, whose
    // 16-bit operands have a loop of their own).
    static constexpr bool fused = sizeof...(Es) >= 2 && (!slot_group_member<Plan, KL, OA, Es>::PR::periodic && ...) &&
                                  ((Es::what != group_sums::squares) && ...);
    using type = std::conditional_t<fused,
                                    slot_group_state<typename Plan::arch, typename Plan::value_type, KL::size,
                                                     typename slot_group_member<Plan, KL, OA, Es>::type...>,
                                    void>;
};

/// The slot group of the row-local reduction R in Plan's loop, or void (R sums alone).
template <class Plan, class R>
using slot_group_of =
    typename slot_group_for<Plan, typename R::axes, typename operand_t<R>::axes,
                            decltype(collect_group<Plan, typename R::axes, typename operand_t<R>::axes,
                                                   typename Plan::expression>(type_list<>{}))>::type;

/// Binds the expression `e` to the loop nest of `Plan`. With `Inside`, `e` is part of a row-local
/// node (eval/row_local.hpp): nothing is hoisted, reductions are computed slot by slot.
template <class Plan, bool Inside, class E>
auto bind(const E& e, bind_context<Plan>& ctx) {
    using T = typename Plan::value_type;
    using DL = typename Plan::dest_axes;
    constexpr std::size_t K = Plan::outer;
    if constexpr (!Inside && is_hoisted<E, DL> && row_local<E, Plan>()) {
        auto sub = bind<Plan, true>(e, ctx);
        return bound_invariant<decltype(sub)>{std::move(sub)};
    } else if constexpr (Inside && E::kind == node_kind::reduction) {
        using PR = slot_plan<E, Plan>;
        using KL = typename E::axes;
        constexpr std::size_t KR = PR::outer;
        const auto ext = e.operand_extents();
        bind_context<PR> rctx{ext, chunk_length<PR>(ext, typename PR::layouts{}), ctx.arena};
        auto operand = bind(e.arg, rctx);
        using Group = slot_group_of<Plan, E>;
        bound_slot_reduction<E, PR, decltype(operand), Group> node{std::move(operand)};
        node.chunk = rctx.chunk;
        node.param = e.param;
        node.length = 1;
        for (std::size_t d = KR; d < ext.size(); ++d) node.length *= ext[d];
        for (std::size_t j = 0; j < KR; ++j) node.dest_pos[j] = positions_in<KL, DL>::value[j];
        if constexpr (!std::is_void_v<Group>) {
            // Distinct sums of this slot: all in one loop (slot_group_state), this one among them
            // unless another reduction of its type with other values has its place.
            constexpr group_sums what = group_sums_of<E, Plan>();
            using entries = decltype(collect_group<Plan, KL, typename operand_t<E>::axes, typename Plan::expression>(
                type_list<>{}));
            constexpr std::size_t J = index_in<group_entry<operand_t<E>, what>, entries>::value;
            static_assert(J < entries::size, "normfuse: internal: a row-local reduction outside its group");
            if (Group* g = find_slot_group<Group>(sums_registry(ctx), ctx.arena)) {
                bool mine = false;
                if (g[0].keys[J] == nullptr) {
                    for (std::size_t t = 0; t < ctx.sums->threads; ++t) {
                        std::get<J>(g[t].operands).emplace(node.operand);
                        g[t].length = node.length;
                    }
                    g[0].keys[J] = &e.arg;
                    mine = true;
                } else {
                    mine = same_values(*static_cast<const operand_t<E>*>(g[0].keys[J]), e.arg);
                }
                if (mine) {
                    node.group = g;
                    node.group_threads = ctx.sums->threads;
                    node.group_index = J;
                    node.group_what = what;
                    return node;
                }
            }
        }
        if constexpr (shares_sums<E, Plan>()) {
            node.shared = find_slot_sums<KR>(sums_registry(ctx), e, ctx.arena);
            node.shared_threads = node.shared != nullptr ? ctx.sums->threads : 0;
        }
        if constexpr (repeated<E, Plan>()) {
            // The same reduction elsewhere in the expression: a slot is computed once for all.
            node.same = find_slot_value<KR>(sums_registry(ctx), e, ctx.arena);
            node.same_threads = node.same != nullptr ? ctx.sums->threads : 0;
        }
        return node;
    } else if constexpr (!Inside && is_hoisted<E, DL>) {
        using LA = hoisted_layout<E, DL>;
        using twin_tag = hoisted_value_type<E, LA, T>;
        const auto ext = restrict_extents<LA, DL>(ctx.extents);
        if constexpr (repeated<E, Plan>()) {
            // An identical part computed already (the same arrays and constants): its buffer.
            if (void* twin = find_registered<twin_tag>(sums_registry(ctx), e))
                return bind_memory<Plan, LA>(static_cast<const T*>(twin), ext, ctx);
        }
        std::size_t n = 1;
        for (auto v : ext) n *= v;
        T* buffer = ctx.arena.template allocate<T>(n);
        ++evaluations.hoisted_parts;
        if constexpr (shares_sums<E, Plan>()) {
            // A mean and a variance (say) of the same operand: one pass of shifted sums for both.
            hoisted_slot_sums* hs = find_hoisted_sums<LA>(sums_registry(ctx), e, ctx.arena);
            if (hs == nullptr) {
                e.template materialize<typename Plan::arch, LA>(buffer, ext, ctx.arena);
            } else {
                if (!hs->ready) {
                    hs->count = e.template shifted_sums<typename Plan::arch, LA>(ext, ctx.arena, hs->k, hs->c1, hs->c2);
                    hs->ready = true;
                }
                for (std::size_t s = 0; s < n; ++s)
                    buffer[s] = E::from_sums(hs->k[s], hs->c1[s], hs->c2[s], hs->count, e.param);
            }
        } else if constexpr (E::kind == node_kind::reduction) {
            e.template materialize<typename Plan::arch, LA>(buffer, ext, ctx.arena);
        } else if constexpr (has_reduction<E>()) {
            // Its reductions may share sums with others of the whole expression (shares_sums).
            evaluate_part_into<typename Plan::arch, T, LA, typename Plan::expression>(
                buffer, ext, e, ctx.arena, store_kind::regular, &sums_registry(ctx));
        } else {
            evaluate_into<typename Plan::arch, T, LA>(buffer, ext, e, ctx.arena, store_kind::regular);
        }
        if constexpr (repeated<E, Plan>()) register_shared<twin_tag>(sums_registry(ctx), e, buffer);
        return bind_memory<Plan, LA>(static_cast<const T*>(buffer), ext, ctx);
    } else if constexpr (is_strided_terminal<E>()) {
        return bind_strided<Plan, typename E::axes>(e.data(), e.holder.strides());
    } else if constexpr (E::kind == node_kind::terminal) {
        return bind_memory<Plan, typename E::axes>(e.data(), e.extents().values(), ctx);
    } else if constexpr (strided_converting_cast<E>()) {
        return bind_strided<Plan, typename E::axes>(e.arg.data(), e.arg.holder.strides());
    } else if constexpr (converting_cast<E>()) {
        // nf::cast between float and double of a tensor or view (expr/cast.hpp): converted as loaded.
        return bind_memory<Plan, typename E::axes>(e.arg.data(), e.arg.extents().values(), ctx);
    } else if constexpr (E::kind == node_kind::scalar) {
        using batch = xsimd::batch<T, typename Plan::arch>;
        return bound_constant<T, typename Plan::arch, K>{T(e.value), batch(T(e.value))};
    } else if constexpr (E::kind == node_kind::unary) {
        using A = decltype(bind<Plan, Inside>(e.arg, ctx));
        return bound_unary<typename E::op, A>{bind<Plan, Inside>(e.arg, ctx)};
    } else {
        using L = decltype(bind<Plan, Inside>(e.left, ctx));
        using R = decltype(bind<Plan, Inside>(e.right, ctx));
        return bound_binary<typename E::op, L, R>{bind<Plan, Inside>(e.left, ctx), bind<Plan, Inside>(e.right, ctx)};
    }
}

/// Calls `batch(i, phase)` for every full batch of the positions [begin, end) of a run and
/// `scalar(i, phase)` for the tail; `phase` is the position modulo `chunk` (periodic leaves), so
/// `begin` must be a multiple of `chunk`.
template <bool Periodic, std::size_t B, class FB, class FS>
NF_ALWAYS_INLINE void walk_run(std::size_t begin, std::size_t end, std::size_t chunk, FB&& batch, FS&& scalar) {
    std::size_t i = begin, phase = 0;
    const std::size_t length = end;
    if constexpr (Periodic) {
        for (; i + chunk <= length; i += chunk)
            for (std::size_t p = 0; p < chunk; p += B) batch(i + p, p);
    }
    for (; i + B <= length; i += B, phase += B) batch(i, phase);
    for (; i < length; ++i, ++phase) scalar(i, phase);
}

/// Positions [begin, begin + n) of a run (n < batch size: the head before the first aligned
/// batch, the tail after the last full one), `phase` being that of `begin`: evaluated as a batch
/// whose other lanes are not stored, so that they round as the body does (an FMA contracted in
/// the batch code is contracted here too). Kept out of line: one copy per loop nest.
template <class T, class Arch, class D, class Bound>
NF_NOINLINE void run_partial(D* NF_RESTRICT out, std::size_t begin, std::size_t n, const Bound& root,
                             std::size_t phase) {
    alignas(64) T lanes[xsimd::batch<T, Arch>::size];
    root.load_partial(begin, phase, n).store_aligned(lanes);
    for (std::size_t l = 0; l < n; ++l) out[begin + l] = from_compute<D>(lanes[l]);
}

/// Positions [begin, end) of one run of contiguous destination elements. `phase` follows the
/// position modulo `chunk` (the tile length of periodic leaves; tiles hold one extra batch, so a
/// batch may start at any phase below `chunk`). With `stream`, full batches are written with
/// aligned non-temporal stores after a partial head up to the first aligned address. Elements of
/// `D` other than the compute type `T` are stored converted (core/convert.hpp), streamed only when
/// 16-bit floating on AVX-512 or AVX2 (streams_narrowed).
template <bool Periodic, class T, class Arch, class D, class Bound>
NF_ALWAYS_INLINE void run(D* NF_RESTRICT out, std::size_t begin, std::size_t end, const Bound& root, std::size_t chunk,
                          bool stream) {
    using batch = xsimd::batch<T, Arch>;
    constexpr std::size_t B = batch::size;
    std::size_t i = begin;
    std::size_t phase = Periodic ? begin % chunk : 0;
    auto advance = [&](std::size_t by) { // by <= chunk
        if constexpr (Periodic) {
            phase += by;
            if (phase >= chunk) phase -= chunk;
        }
    };
    if constexpr (!std::is_same_v<D, T>) {
        (void)stream;
        if constexpr (streams_narrowed<Arch, D>) {
            if (stream) { // as below, aligned to the B * sizeof(D) bytes of one converted batch
                const std::size_t misalign = reinterpret_cast<std::uintptr_t>(out + i) % (B * sizeof(D));
                const std::size_t peel = std::min(end - i, misalign ? (B * sizeof(D) - misalign) / sizeof(D) : 0);
                if (peel > 0) {
                    run_partial<T, Arch>(out, i, peel, root, phase);
                    i += peel;
                    advance(peel);
                }
                for (; i + B <= end; i += B, advance(B)) store_converted<Arch, true>(out + i, root.load(i, phase));
            }
        }
        for (; i + B <= end; i += B, advance(B)) store_converted<Arch>(out + i, root.load(i, phase));
    } else if (stream) {
        const std::size_t misalign = reinterpret_cast<std::uintptr_t>(out + i) % sizeof(batch);
        const std::size_t peel = std::min(end - i, misalign ? (sizeof(batch) - misalign) / sizeof(T) : 0);
        if (peel > 0) {
            run_partial<T, Arch>(out, i, peel, root, phase);
            i += peel;
            advance(peel);
        }
        for (; i + B <= end; i += B, advance(B)) stream_store<T, Arch>(out + i, root.load(i, phase));
    } else {
        for (; i + B <= end; i += B, advance(B)) root.load(i, phase).store_unaligned(out + i);
    }
    if (i < end) run_partial<T, Arch>(out, i, end - i, root, phase);
}

/// Runs `o_begin .. o_end` of the loop nest (whole runs), or, with one run, its positions
/// `i_begin .. i_end`: the unit of work of one thread.
template <class P, class D, class Bound>
void run_block(D* dst, const std::array<std::size_t, P::rank>& ext, const Bound& bound, std::size_t length,
               std::size_t chunk, bool stream, std::size_t o_begin, std::size_t o_end, std::size_t i_begin,
               std::size_t i_end) {
    constexpr std::size_t K = P::outer;
    Bound root = bound; // seek changes the cursor; the copy keeps the caller's untouched
    outer_index<K> index{};
    std::size_t rest = o_begin;
    for (std::size_t d = K; d-- > 0;) {
        index[d] = rest % ext[d];
        rest /= ext[d];
    }
    for (std::size_t o = o_begin; o < o_end; ++o) {
        root.seek(index);
        run<P::periodic, typename P::value_type, typename P::arch>(dst + o * length, i_begin, i_end, root, chunk,
                                                                   stream);
        for (std::size_t d = K; d-- > 0;) {
            if (++index[d] < ext[d]) break;
            index[d] = 0;
        }
    }
}

/// The loop nest of `dst = e` over destination axes DL (checks already done). Large destinations
/// get streaming stores (unless `store` says otherwise); with nf::set_num_threads(n > 1) (see
/// eval/parallel.hpp), runs (or the positions of a few long runs) are shared among pieces, each
/// with its own copy of the bound expression. Inside a piece of another loop it runs serially.
template <class Arch, class T, class DL, class E>
void evaluate_into(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, scratch_arena& arena,
                   store_kind store) {
    evaluate_part_into<Arch, T, DL, E>(dst, ext, e, arena, store, nullptr);
}

/// The number of leading outer axes that the slots of `E`'s row-local reductions (row_local.hpp)
/// keep, at least: the loop meets a new slot when one of these indices changes. Plan::outer + 1
/// when there is no row-local reduction.
template <class E, class Plan, bool Inside = false>
constexpr std::size_t row_slot_axes() {
    constexpr std::size_t none = Plan::outer + 1;
    if constexpr (Inside && E::kind == node_kind::reduction) {
        return E::axes::size;
    } else if constexpr (!Inside && is_hoisted<E, typename Plan::dest_axes>) {
        if constexpr (row_local<E, Plan>())
            return row_slot_axes<E, Plan, true>();
        else
            return none;
    } else if constexpr (E::kind == node_kind::unary) {
        return row_slot_axes<operand_t<E>, Plan, Inside>();
    } else if constexpr (E::kind == node_kind::binary) {
        return std::min(row_slot_axes<left_t<E>, Plan, Inside>(), row_slot_axes<right_t<E>, Plan, Inside>());
    } else {
        return none;
    }
}

/// One part of a parallel loop nest: outer indices [ob, oe), run positions [ib, ie), evaluated
/// with `root`, a copy of the bound expression with tiles of its own.
template <class Bound>
struct loop_segment {
    std::size_t piece, ob, oe, ib, ie;
    Bound root;
};

/// Cuts the loop nest of `root` (outer_count runs of `length` positions) into `pieces` for a
/// parallel loop and prepares each segment (its copy of `root`, its tiles) on the calling thread,
/// so that nothing is allocated once the first store is made. Row-local reductions (whose slots
/// change every `slot_runs` outer indices) read the destination's own elements when it is also
/// an operand (in place): a slot must be complete before any piece stores into it. So pieces
/// are cut at slot boundaries when there are enough slots; otherwise (few large slots) the
/// values of every slot are computed first, on the calling thread, and the pieces start from
/// copies that hold them.
template <std::size_t K, class Bound>
void plan_segments(std::vector<loop_segment<Bound>>& segments, std::unique_ptr<scratch_arena[]>& arenas,
                   const Bound& root, const std::array<std::size_t, K>& outer_ext, std::size_t outer_count,
                   std::size_t length, std::size_t grain, std::size_t slot_runs, bool row_local_slots,
                   std::size_t pieces) {
    arenas.reset(new scratch_arena[pieces]);
    const std::size_t slots = outer_count / slot_runs;
    const bool by_runs = outer_count >= pieces;
    const bool seeded = row_local_slots && slots < pieces;
    std::vector<Bound> seeds;
    if (seeded) {
        seeds.reserve(slots);
        for (std::size_t s = 0; s < slots; ++s) {
            outer_index<K> index{};
            std::size_t rest = s * slot_runs;
            for (std::size_t d = K; d-- > 0;) {
                index[d] = rest % outer_ext[d];
                rest /= outer_ext[d];
            }
            seeds.push_back(root);
            seeds.back().seek(index); // computes the slot's reductions
        }
    }
    const std::size_t units = (length + grain - 1) / grain;
    for (std::size_t k = 0; k < pieces; ++k) {
        std::size_t ob = 0, oe = outer_count, ib = 0, ie = length;
        if (by_runs && row_local_slots && !seeded) {
            ob = slots * k / pieces * slot_runs;
            oe = slots * (k + 1) / pieces * slot_runs;
        } else if (by_runs) {
            ob = outer_count * k / pieces;
            oe = outer_count * (k + 1) / pieces;
        } else {
            ib = std::min(length, units * k / pieces * grain);
            ie = std::min(length, units * (k + 1) / pieces * grain);
        }
        if (ob >= oe || ib >= ie) continue;
        if (seeded) {
            for (std::size_t s = ob / slot_runs; s * slot_runs < oe; ++s) {
                segments.push_back(
                    {k, std::max(ob, s * slot_runs), std::min(oe, (s + 1) * slot_runs), ib, ie, seeds[s]});
                segments.back().root.own_tiles(arenas[k], k);
            }
        } else {
            segments.push_back({k, ob, oe, ib, ie, root});
            segments.back().root.own_tiles(arenas[k], k);
        }
    }
}

/// evaluate_into for `e`, a part of the expression Root hoisted out of its loop, whose bind
/// context's shared sums are `sums` (null: a registry of its own, when needed).
template <class Arch, class T, class DL, class Root, class E>
void evaluate_part_into(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, scratch_arena& arena,
                        store_kind store, slot_sums_registry* sums) {
    using P = plan<typename E::value_type, Arch, DL, E, layout_list<>, Root>; // T: the stored type
    constexpr std::size_t K = P::outer;
    std::size_t outer_count = 1, length = 1;
    for (std::size_t d = 0; d < DL::size; ++d) (d < K ? outer_count : length) *= ext[d];
    if (outer_count == 0 || length == 0) return;

    const std::size_t total = outer_count * length;
    bind_context<P> ctx{ext, chunk_length<P>(ext, typename P::layouts{}), arena, sums};
    const auto root = bind(e, ctx);
    executor ex(total); // after bind: hoisted parts (reductions) take the threads first
    const bool by_size = store == store_kind::automatic &&
                         streams_by_size(total * sizeof(T), total * full_size_read_bytes<E, DL::size>());
    constexpr bool streamable = std::is_same_v<T, typename E::value_type> || streams_narrowed<Arch, T>;
    const bool stream = streamable && ((by_size && !reads_windows(root)) || store == store_kind::streaming) &&
                        reinterpret_cast<std::uintptr_t>(dst) % sizeof(T) == 0;
    if (ex.pieces() > 1) {
        using Bound = std::remove_cvref_t<decltype(root)>;
        constexpr std::size_t KS = row_slot_axes<E, P>();
        std::size_t slot_runs = 1;                                // outer indices per slot of the row-local reductions
        for (std::size_t d = KS; d < K; ++d) slot_runs *= ext[d]; // 1 when KS >= K
        std::array<std::size_t, K> outer_ext{};
        for (std::size_t d = 0; d < K; ++d) outer_ext[d] = ext[d];
        // Few long runs are split at multiples of the tile length (64 bytes at least).
        const std::size_t grain = std::lcm(ctx.chunk, 64 / sizeof(T));
        std::vector<loop_segment<Bound>> segments;
        std::unique_ptr<scratch_arena[]> arenas;
        plan_segments<K>(segments, arenas, root, outer_ext, outer_count, length, grain, slot_runs, KS <= K,
                         ex.pieces());
        ex.run([&](std::size_t piece) {
            for (const auto& s : segments)
                if (s.piece == piece) run_block<P>(dst, ext, s.root, length, ctx.chunk, stream, s.ob, s.oe, s.ib, s.ie);
            if (stream) store_fence();
        });
        return;
    }
    run_block<P>(dst, ext, root, length, ctx.chunk, stream, 0, outer_count, 0, length);
    if (stream) store_fence();
}

/// `dst = e` over `DL` as a blocked transpose (eval/transpose.hpp): `e` bound in the order of its
/// operand that changes the innermost axis, evaluated tile by tile and written transposed. With
/// nf::set_num_threads(n > 1), the tiles are shared among pieces, each with its own copy of the
/// bound expression and its own buffers, all prepared on the calling thread.
template <class Arch, class T, class DL, class E>
void evaluate_transposed(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, store_kind store) {
    using SL = transposed_source_t<E, DL>;
    using V = typename E::value_type;
    using P = plan<V, Arch, SL, E>;
    constexpr std::size_t R = DL::size, KS = P::outer;
    constexpr auto source_pos = positions_in<SL, DL>::value;
    std::size_t total = 1;
    for (std::size_t v : ext) total *= v;
    if (total == 0) return;

    std::array<std::size_t, R> ext_s{}, spos{};
    for (std::size_t j = 0; j < R; ++j) {
        spos[j] = source_pos[j];
        ext_s[j] = ext[source_pos[j]];
    }
    const auto g = make_transpose_geometry<V, Arch, KS>(ext, spos);

    scratch_arena arena;
    bind_context<P> ctx{ext_s, chunk_length<P>(ext_s, typename P::layouts{}), arena};
    const auto root = bind(e, ctx);
    using Bound = std::remove_cvref_t<decltype(root)>;
    executor ex(total);
    const bool by_size =
        store == store_kind::automatic && streams_by_size(total * sizeof(T), total * full_size_read_bytes<E, R>());
    const bool stream = std::is_same_v<T, V> && (by_size || store == store_kind::streaming) &&
                        reinterpret_cast<std::uintptr_t>(dst) % sizeof(T) == 0;
    const std::size_t units = g.units(), pieces = ex.pieces();
    if (pieces > 1) {
        std::unique_ptr<scratch_arena[]> arenas(new scratch_arena[pieces]);
        std::vector<Bound> roots(pieces, root);
        std::vector<V*> buffers(2 * pieces);
        for (std::size_t k = 0; k < pieces; ++k) {
            roots[k].own_tiles(arenas[k], k);
            buffers[2 * k] = arenas[k].template allocate<V>(g.tb * g.ta);
            buffers[2 * k + 1] = arenas[k].template allocate<V>(g.tb * g.ld);
        }
        ex.run([&](std::size_t k) {
            const std::size_t ub = units * k / pieces, ue = units * (k + 1) / pieces;
            if (ub < ue)
                transpose_tiles<P::periodic, V, Arch, KS>(dst, g, roots[k], ctx.chunk, stream, ub, ue, buffers[2 * k],
                                                          buffers[2 * k + 1]);
            if (stream) store_fence();
        });
        return;
    }
    Bound r = root;
    V* src = arena.template allocate<V>(g.tb * g.ta);
    V* tile = arena.template allocate<V>(g.tb * g.ld);
    transpose_tiles<P::periodic, V, Arch, KS>(dst, g, r, ctx.chunk, stream, 0, units, src, tile);
    if (stream) store_fence();
}

} // namespace detail

namespace detail {

/// True when the array laid out as `TA` is read element for element as the destination over `DL`
/// is written: the same axes in the same order (extents are checked equal separately).
template <class TA, class DL>
constexpr bool same_layout() {
    if constexpr (TA::size != DL::size) {
        return false;
    } else {
        constexpr auto pos = positions_in<TA, DL>::value;
        for (std::size_t j = 0; j < pos.size(); ++j)
            if (pos[j] != j) return false;
        return true;
    }
}

/// True when an operand of `e` shares memory with the destination [dst, dst + count) other than
/// as the destination itself (same first element, same layout: in place). Then a store could
/// change a value that is still to be read, at a distance that depends on the SIMD width and the
/// threads.
template <class DL, class T, class E>
bool overlaps_partially(const T* dst, std::size_t count, const E& e) {
    if constexpr (is_strided_terminal<E>()) {
        // The bytes the view can reach, from its lowest to its highest element: an overlap with
        // them is taken as one (the assignment then goes through a temporary).
        const auto& ext = e.extents().values();
        const auto& st = e.holder.strides();
        std::ptrdiff_t lo = 0, hi = 0;
        for (std::size_t j = 0; j < ext.size(); ++j) {
            if (ext[j] == 0 || count == 0) return false;
            const std::ptrdiff_t reach = static_cast<std::ptrdiff_t>(ext[j] - 1) * st[j];
            (reach < 0 ? lo : hi) += reach;
        }
        using S = std::remove_cvref_t<decltype(*e.data())>;
        const auto a = reinterpret_cast<std::uintptr_t>(e.data() + lo),
                   a_end = reinterpret_cast<std::uintptr_t>(e.data() + hi) + sizeof(S),
                   b = reinterpret_cast<std::uintptr_t>(dst);
        return !(a_end <= b || b + count * sizeof(T) <= a);
    } else if constexpr (E::kind == node_kind::terminal) {
        std::size_t size = 1;
        for (std::size_t v : e.extents().values()) size *= v;
        if (size == 0 || count == 0) return false;
        const auto a = reinterpret_cast<std::uintptr_t>(e.data()), b = reinterpret_cast<std::uintptr_t>(dst);
        const bool disjoint = a + size * sizeof(*e.data()) <= b || b + count * sizeof(T) <= a;
        if (disjoint) return false;
        if constexpr (same_layout<typename E::axes, DL>() && sizeof(*e.data()) == sizeof(T)) return a != b;
        return true;
    } else if constexpr (E::kind == node_kind::unary || E::kind == node_kind::reduction) {
        return overlaps_partially<DL>(dst, count, e.arg);
    } else if constexpr (E::kind == node_kind::binary) {
        return overlaps_partially<DL>(dst, count, e.left) || overlaps_partially<DL>(dst, count, e.right);
    } else {
        return false;
    }
}

/// `dst = e` after the checks: boxes or one loop nest.
template <class Arch, class T, class DL, class E>
void assign_checked(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, store_kind store) {
    // Boxes only when a reduction is not computed row by row in the loop itself.
    constexpr std::size_t p = all_row_local<E, plan<typename E::value_type, Arch, DL, E>>() ? 0 : block_prefix<DL, E>();
    if constexpr (transposable<E, DL>()) {
        evaluate_transposed<Arch, T, DL>(dst, ext, e, store);
    } else if constexpr (p > 0) {
        evaluate_blocked<p, Arch, T, DL>(dst, ext, e, store);
    } else {
        scratch_arena arena;
        evaluate_into<Arch, T, DL>(dst, ext, e, arena, store);
    }
}

} // namespace detail

/// Evaluates `e` into `dst`, a contiguous row-major array over the axes `DL` with extents `ext`:
/// compile-time rules first, then every run-time extent, then one fused loop. Nothing is
/// written if a check fails. The destination may be an operand (in place: same memory, same
/// layout), with no copy; when an operand overlaps it otherwise (a shifted or transposed view of
/// the same memory), `e` is evaluated into a temporary first, then copied: the result is that of
/// an assignment from a copy.
template <class Arch = xsimd::default_arch, class T, class DL, class E>
void assign_expression(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, DL = {},
                       store_kind store = store_kind::automatic) {
    static_assert(!(detail::has_strided_leaf<E>() && detail::has_reduction<E>()),
                  "normfuse: assignment: a reduction over an nf::strided_view is not supported in this version; "
                  "copy the view into a tensor first (tensor = strided_view) and reduce over that");
    if constexpr (detail::assignable<T, DL, E>) {
        detail::check_extents<DL>(e, ext, "assignment");
        std::size_t total = 1;
        for (std::size_t v : ext) total *= v;
        if (detail::overlaps_partially<DL>(dst, total, e)) {
            struct aligned_delete {
                void operator()(T* p) const noexcept { ::operator delete (p, std::align_val_t{buffer_alignment}); }
            };
            const std::unique_ptr<T, aligned_delete> temporary(
                static_cast<T*>(::operator new (total * sizeof(T), std::align_val_t{buffer_alignment})));
            detail::assign_checked<Arch, T, DL>(temporary.get(), ext, e, store_kind::regular);
            std::copy_n(temporary.get(), total, dst);
            return;
        }
        detail::assign_checked<Arch, T, DL>(dst, ext, e, store);
    } else {
        detail::report_unassignable<detail::assignment_call, T, DL, E>();
    }
}

} // namespace nf
