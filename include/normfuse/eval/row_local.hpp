// normfuse/eval/row_local.hpp: reductions computed slot by slot inside the loop that uses them, so that the second read of a slot hits L1.
//
// In `y = x * rsqrt(mean<C>(x * x) + eps) * w` over (N, L, C), the reduction keeps N and L, the
// loop's outer axes, and reduces over C, its run. Hoisted (eval/plan.hpp), it would be computed
// for every row in one pass over x before the output pass, which reads x again: from memory when
// x is larger than the cache. Such a reduction is instead *row-local*: when the loop reaches a new
// slot (`seek`), the slot's value is computed from the slot's own elements, and the output run that
// follows reads them again from L1, as a hand-written loop does. The sub-expression around it that
// depends on the outer axes only (`rsqrt(. + eps)`) is evaluated once per slot as well.
//
// A reduction is row-local in the loop over destination axes DL when (all checked at compile time)
//  - its kept axes are the destination's first axes (in any order) and all outer axes of the loop,
//    so the loop meets each slot in consecutive runs, and computes it once;
//  - its operand leads with the kept axes, and the rest of it can be read as one run: a slot is
//    one outer index of the reduction's own loop (the same loop nf::sum uses, in double);
//  - its operand has no reduction inside.
// The arithmetic is that of the hoisted reduction: sums in double, the variance in one read of the
// slot, shifted by the slot's first value.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/config.hpp>
#include <normfuse/eval/blocked.hpp>
#include <normfuse/eval/bound.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf::detail {

/// The loop of the reduction R over its operand, with the slots (R's kept axes) as accumulators.
template <class R, class Plan>
using slot_plan = plan<typename Plan::value_type, typename Plan::arch, typename operand_t<R>::axes, operand_t<R>,
                       layout_list<typename R::axes>>;

/// True when the reduction R can be computed slot by slot inside the loop of Plan (see above).
template <class R, class Plan>
constexpr bool slot_local() {
    using KL = typename R::axes;
    if constexpr (has_reduction<operand_t<R>>() || KL::size == 0 || KL::size > Plan::outer) {
        return false;
    } else {
        using PR = slot_plan<R, Plan>;
        if constexpr (PR::outer != KL::size ||
                      mode_of<KL, typename operand_t<R>::axes, PR::outer>() != leaf_mode::invariant) {
            return false;
        } else {
            for (std::size_t p : positions_in<KL, typename Plan::dest_axes>::value)
                if (p >= KL::size) return false; // not a leading axis of the destination (or not one of its axes)
            return true;
        }
    }
}

template <class E, class Plan>
constexpr bool reductions_slot_local() {
    if constexpr (E::kind == node_kind::reduction)
        return slot_local<E, Plan>();
    else if constexpr (E::kind == node_kind::unary)
        return reductions_slot_local<operand_t<E>, Plan>();
    else if constexpr (E::kind == node_kind::binary)
        return reductions_slot_local<left_t<E>, Plan>() && reductions_slot_local<right_t<E>, Plan>();
    else
        return true;
}

/// True when the hoisted node E of Plan's loop holds reductions and is evaluated slot by slot.
template <class E, class Plan>
constexpr bool row_local() {
    using DL = typename Plan::dest_axes;
    if constexpr (!has_reduction<E>())
        return false;
    else
        return mode_of<hoisted_layout<E, DL>, DL, Plan::outer>() == leaf_mode::invariant &&
               reductions_slot_local<E, Plan>();
}

/// True when every reduction in `E` is row-local in Plan's loop: the assignment is then one pass
/// and needs no boxes (eval/blocked.hpp).
template <class E, class Plan>
constexpr bool all_row_local() {
    if constexpr (is_hoisted<E, typename Plan::dest_axes>)
        return !has_reduction<E>() || row_local<E, Plan>();
    else if constexpr (E::kind == node_kind::unary)
        return all_row_local<operand_t<E>, Plan>();
    else if constexpr (E::kind == node_kind::binary)
        return all_row_local<left_t<E>, Plan>() && all_row_local<right_t<E>, Plan>();
    else
        return true;
}

/// A sub-expression that depends on the loop's outer axes only, evaluated once per seek, as a
/// batch; the scalar positions of the run (its tail) read the same number, lane 0.
template <class Sub>
struct bound_invariant {
    using batch = decltype(std::declval<const Sub&>().load(0, 0));
    using value_type = typename batch::value_type;
    Sub sub;
    batch value{};
    value_type scalar{};

    void own_tiles(scratch_arena& arena) { sub.own_tiles(arena); }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        sub.seek(index);
        value = sub.load(0, 0);
        scalar = value.get(0);
    }
    NF_ALWAYS_INLINE batch load(std::size_t, std::size_t) const { return value; }
    NF_ALWAYS_INLINE value_type load_scalar(std::size_t, std::size_t) const { return scalar; }
};

/// A row-local reduction R: its operand is bound to R's own loop PR, whose outer indices are the
/// slots; `seek` computes the value of the slot the destination's loop has reached, unless it is
/// the one computed last.
template <class R, class PR, class Operand>
struct bound_slot_reduction {
    using value_type = typename R::value_type;
    using batch = xsimd::batch<value_type, typename PR::arch>;
    static constexpr std::size_t KR = PR::outer;
    Operand operand;
    std::array<std::size_t, KR> dest_pos{}; // position of each slot axis among the destination's axes
    std::size_t length = 0;                 // elements per slot
    std::size_t chunk = 0;
    double param = 0;          // the reduction's parameter (reduce_expr::param)
    outer_index<KR> current{}; // the slot computed last
    bool computed = false;
    value_type scalar{};
    batch value{};

    void own_tiles(scratch_arena& arena) {
        operand.own_tiles(arena);
        computed = false;
    }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        outer_index<KR> slot;
        for (std::size_t j = 0; j < KR; ++j) slot[j] = index[dest_pos[j]];
        if (!computed || slot != current) {
            scalar = R::template slot_value<PR>(operand, slot, length, chunk, param);
            value = batch(scalar);
            current = slot;
            computed = true;
        }
    }
    NF_ALWAYS_INLINE batch load(std::size_t, std::size_t) const { return value; }
    NF_ALWAYS_INLINE value_type load_scalar(std::size_t, std::size_t) const { return scalar; }
};

} // namespace nf::detail
