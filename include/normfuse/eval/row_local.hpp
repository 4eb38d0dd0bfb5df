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
// slot, shifted by the slot's first value. A mean and a variance of the same operand over the same
// axes (LayerNorm, GroupNorm written out), or LayerNorm's three coefficients, take all from that
// one read: the mean is k + sum (v - k) / n (has_moments_partner, find_slot_sums). Two identical
// reductions (the same type, and the same operand arrays, extents and constants: `mean<C>(square(x))`
// twice, as derived gradients have them) compute a slot once: the second takes the first's value
// (repeated, find_slot_value). The hoisted path shares identical hoisted parts alike (eval/assign.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <new>
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

/// True when the reduction R is one of those a slot's shifted sums give (a mean, a variance,
/// LayerNorm's coefficients: reduce_expr::moments_role) and the expression E holds another of them
/// over the same axes of an operand of the same type.
template <class E, class R>
constexpr bool has_moments_partner() {
    if constexpr (E::kind == node_kind::reduction) {
        if constexpr (E::moments_role != 0 && R::moments_role != 0 && E::moments_role != R::moments_role &&
                      std::is_same_v<typename E::reduced_axes, typename R::reduced_axes> &&
                      std::is_same_v<operand_t<E>, operand_t<R>>)
            return true;
        else
            return has_moments_partner<operand_t<E>, R>();
    } else if constexpr (E::kind == node_kind::unary) {
        return has_moments_partner<operand_t<E>, R>();
    } else if constexpr (E::kind == node_kind::binary) {
        return has_moments_partner<left_t<E>, R>() || has_moments_partner<right_t<E>, R>();
    } else {
        return false;
    }
}

/// True when E is a reduction that may share its shifted sums with another of the expression
/// Plan evaluates (has_moments_partner).
template <class E, class Plan>
constexpr bool shares_sums() {
    if constexpr (E::kind != node_kind::reduction)
        return false;
    else if constexpr (E::moments_role == 0)
        return false;
    else
        return has_moments_partner<typename Plan::expression, E>();
}

/// How many times the expression type X occurs in the expression E.
template <class X, class E>
constexpr std::size_t occurrences() {
    constexpr std::size_t here = std::is_same_v<X, E> ? 1 : 0;
    if constexpr (E::kind == node_kind::reduction || E::kind == node_kind::unary)
        return here + occurrences<X, operand_t<E>>();
    else if constexpr (E::kind == node_kind::binary)
        return here + occurrences<X, left_t<E>>() + occurrences<X, right_t<E>>();
    else
        return here;
}

/// True when the expression type E occurs more than once in the expression Plan evaluates: its
/// occurrences with the same values (same_values) are evaluated once.
template <class E, class Plan>
constexpr bool repeated() {
    return occurrences<E, typename Plan::expression>() > 1;
}

/// True when two expressions of the same type have the same values: the same arrays (data and
/// extents), the same constants.
template <class E>
bool same_values(const E& a, const E& b) {
    if constexpr (E::kind == node_kind::terminal)
        return a.data() == b.data() && a.extents().values() == b.extents().values();
    else if constexpr (E::kind == node_kind::scalar)
        return a.value == b.value;
    else if constexpr (E::kind == node_kind::unary)
        return same_values(a.arg, b.arg);
    else if constexpr (E::kind == node_kind::binary)
        return same_values(a.left, b.left) && same_values(a.right, b.right);
    else
        return a.param == b.param && same_values(a.arg, b.arg);
}

/// The shifted sums (reduce_expr::slot_sums) of the slot a thread computed last, shared by the
/// reductions of one operand that has_moments_partner pairs, so that only the first reads the slot.
template <std::size_t KR>
struct shared_slot_sums {
    outer_index<KR> slot{};
    bool valid = false;
    double k = 0, c1 = 0, c2 = 0;
};

/// The reductions of one bound expression that share their sums: those over the same operand find
/// each other here when they are bound (eval/assign.hpp).
struct slot_sums_registry {
    struct entry {
        const void* type = nullptr;    // identifies the reduction's axes and operand type
        const void* operand = nullptr; // the operand of the first one bound
        void* sums = nullptr;          // shared_slot_sums<KR>[threads]
    };
    static constexpr std::size_t capacity = 16;
    entry entries[capacity];
    std::size_t used = 0;
    std::size_t threads = 1; // entries per shared_slot_sums array: one per piece of a parallel loop
};

/// The value of the slot a thread computed last, shared by the identical reductions (repeated).
template <std::size_t KR, class V>
struct shared_slot_value {
    outer_index<KR> slot{};
    bool valid = false;
    V value{};
};

/// Evaluations the row-local and hoisted paths made on the calling thread (a diagnostic: the tests
/// check with it that identical reductions are computed once). Per slot or per hoisted part, so
/// counting costs nothing measurable.
struct evaluation_counts {
    std::size_t slot_reads = 0;    // reads of one slot by row-local reductions (not taken from a twin or partner)
    std::size_t hoisted_parts = 0; // hoisted parts computed into a buffer (not taken from a twin)
};
inline thread_local evaluation_counts evaluations{};

template <class Reduced, class Operand>
struct slot_sums_type {
    static constexpr char id = 0;
};

/// The shifted sums of all slots of a hoisted reduction (reduce_expr::shifted_sums), computed by
/// the first of the reductions that share them (the others of one operand read them).
struct hoisted_slot_sums {
    double* k = nullptr;
    double* c1 = nullptr;
    double* c2 = nullptr;
    std::size_t count = 0; // values per slot
    bool ready = false;
};

/// The registry's entry of tag type Tag whose key (an expression of type Key) has the values of
/// `key`, or null.
template <class Tag, class Key>
void* find_registered(const slot_sums_registry& reg, const Key& key) {
    const void* type = &Tag::id;
    for (std::size_t i = 0; i < reg.used; ++i)
        if (reg.entries[i].type == type && same_values(*static_cast<const Key*>(reg.entries[i].operand), key))
            return reg.entries[i].sums;
    return nullptr;
}

/// Registers `object` under the tag type Tag and the key `key` (an expression that outlives the
/// registry); false when the registry is full.
template <class Tag, class Key>
bool register_shared(slot_sums_registry& reg, const Key& key, void* object) {
    if (reg.used == slot_sums_registry::capacity) return false;
    reg.entries[reg.used++] = {&Tag::id, &key, object};
    return true;
}

/// The registry's `count` objects Sums (tag type Tag) for the key `key`: those registered by an
/// earlier one with the same values, else new ones (registered); null when the registry is full,
/// and the caller then works alone.
template <class Sums, class Tag, class Key>
Sums* find_shared(slot_sums_registry& reg, const Key& key, scratch_arena& arena, std::size_t count) {
    if (void* found = find_registered<Tag>(reg, key)) return static_cast<Sums*>(found);
    if (reg.used == slot_sums_registry::capacity) return nullptr;
    auto* sums = arena.allocate<Sums>(count);
    for (std::size_t t = 0; t < count; ++t) new (sums + t) Sums{};
    reg.entries[reg.used++] = {&Tag::id, &key, sums};
    return sums;
}

/// The registry's sums of kind Sums (tag type Tag) for the reduction `e`: those registered by a
/// partner with the same operand, else `count` new ones (registered); null when the registry is
/// full, and the reduction then sums alone.
template <class Sums, class Tag, class E>
Sums* find_shared_sums(slot_sums_registry& reg, const E& e, scratch_arena& arena, std::size_t count) {
    return find_shared<Sums, Tag>(reg, e.arg, arena, count);
}

template <class R>
struct slot_value_type {
    static constexpr char id = 0;
};

/// The per-thread value of one slot the row-local reduction `e` shares with its identical twins
/// (repeated): the first to reach a slot computes it, the others read it.
template <std::size_t KR, class E>
shared_slot_value<KR, typename E::value_type>* find_slot_value(slot_sums_registry& reg, const E& e,
                                                               scratch_arena& arena) {
    using V = shared_slot_value<KR, typename E::value_type>;
    return find_shared<V, slot_value_type<E>>(reg, e, arena, reg.threads);
}

/// The per-thread sums of one slot a row-local reduction `e` shares (see find_shared_sums).
template <std::size_t KR, class E>
shared_slot_sums<KR>* find_slot_sums(slot_sums_registry& reg, const E& e, scratch_arena& arena) {
    using tag = slot_sums_type<typename E::reduced_axes, operand_t<E>>;
    return find_shared_sums<shared_slot_sums<KR>, tag>(reg, e, arena, reg.threads);
}

template <class Reduced, class Operand, class LA>
struct hoisted_sums_type {
    static constexpr char id = 0;
};

template <class E, class LA, class T>
struct hoisted_value_type {
    static constexpr char id = 0;
};

/// The sums of all slots a hoisted reduction `e`, laid out as LA, shares (see find_shared_sums).
template <class LA, class E>
hoisted_slot_sums* find_hoisted_sums(slot_sums_registry& reg, const E& e, scratch_arena& arena) {
    using tag = hoisted_sums_type<typename E::reduced_axes, operand_t<E>, LA>;
    return find_shared_sums<hoisted_slot_sums, tag>(reg, e, arena, 1);
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

    void own_tiles(scratch_arena& arena, std::size_t worker = 0) { sub.own_tiles(arena, worker); }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        sub.seek(index);
        value = sub.load(0, 0);
        scalar = value.get(0);
    }
    NF_ALWAYS_INLINE batch load(std::size_t, std::size_t) const { return value; }
    NF_ALWAYS_INLINE batch load_partial(std::size_t, std::size_t, std::size_t) const { return value; }
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
    shared_slot_sums<KR>* shared = nullptr; // per piece, with the partner (see find_slot_sums)
    std::size_t shared_threads = 0;
    shared_slot_value<KR, value_type>* same = nullptr; // per piece, with the identical twins (find_slot_value)
    std::size_t same_threads = 0;
    std::size_t worker = 0; // the piece of a parallel loop this copy belongs to

    /// A copy for the piece `worker`: tiles of its own; the slot computed last stays valid.
    void own_tiles(scratch_arena& arena, std::size_t w = 0) {
        operand.own_tiles(arena, w);
        worker = w;
    }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        outer_index<KR> slot;
        for (std::size_t j = 0; j < KR; ++j) slot[j] = index[dest_pos[j]];
        if (!computed || slot != current) {
            shared_slot_value<KR, value_type>* twin = worker < same_threads ? same + worker : nullptr;
            if (twin != nullptr && twin->valid && twin->slot == slot) {
                scalar = twin->value; // an identical reduction computed this slot
            } else {
                if constexpr (R::moments_role != 0) {
                    if (shared != nullptr) {
                        scalar = from_shared(slot);
                    } else {
                        ++evaluations.slot_reads;
                        scalar = R::template slot_value<PR>(operand, slot, length, chunk, param);
                    }
                } else {
                    ++evaluations.slot_reads;
                    scalar = R::template slot_value<PR>(operand, slot, length, chunk, param);
                }
                if (twin != nullptr) *twin = {slot, true, scalar};
            }
            value = batch(scalar);
            current = slot;
            computed = true;
        }
    }
    NF_ALWAYS_INLINE batch load(std::size_t, std::size_t) const { return value; }
    NF_ALWAYS_INLINE batch load_partial(std::size_t, std::size_t, std::size_t) const { return value; }
    NF_ALWAYS_INLINE value_type load_scalar(std::size_t, std::size_t) const { return scalar; }

private:
    /// The value from the sums the partner left for this slot, or from new sums, left for it.
    value_type from_shared(const outer_index<KR>& slot) {
        shared_slot_sums<KR>* s = worker < shared_threads ? shared + worker : nullptr;
        if (s == nullptr || !s->valid || s->slot != slot) {
            double k = 0, c1 = 0, c2 = 0;
            ++evaluations.slot_reads;
            R::template slot_sums<PR>(operand, slot, length, chunk, k, c1, c2);
            if (s == nullptr) return R::from_sums(k, c1, c2, length, param);
            *s = {slot, true, k, c1, c2};
        }
        return R::from_sums(s->k, s->c1, s->c2, length, param);
    }
};

} // namespace nf::detail
