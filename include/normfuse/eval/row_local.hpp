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
// Distinct reductions of one slot over operands of the same axes (a derived gradient's `mean(x^2)`
// and `sum(w dy x)`, or LayerNorm's moments of x, `sum(w dy)` and `sum(w dy x)`) are fused when
// there are at least two distinct sums: the first to reach a slot sums all of them in one loop over
// the slot (slot_group), and each takes its value from its sums.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <optional>
#include <tuple>
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
#include <normfuse/reduce/widen.hpp>

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

/// True when two slot indices are equal (a loop: std::array's == is a call to memcmp in g++ 12).
template <std::size_t KR>
NF_ALWAYS_INLINE bool same_slot(const outer_index<KR>& a, const outer_index<KR>& b) {
    for (std::size_t j = 0; j < KR; ++j)
        if (a[j] != b[j]) return false;
    return true;
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

// --- Fused slot sums: the distinct row-local reductions of one slot in one loop ------------------

/// What one read of a group's operand sums: `plain`: c1 = sum v; `squares`: c2 = sum v^2;
/// `moments`: c1 = sum (v - k), c2 = sum (v - k)^2 with k the slot's first value (as the
/// reductions' own slot_value and slot_sums, reduce/reductions.hpp).
enum class group_sums { plain, squares, moments };

/// The sums a slot of the row-local reduction R takes in Plan's loop.
template <class R, class Plan>
constexpr group_sums group_sums_of() {
    if constexpr (R::sums_squares)
        return group_sums::squares;
    else if constexpr (R::from_shifted_sums || shares_sums<R, Plan>())
        return group_sums::moments;
    else
        return group_sums::plain;
}

/// One distinct sum of a group: an operand expression type and what is summed over it.
template <class Operand, group_sums What>
struct group_entry {
    using operand = Operand;
    static constexpr group_sums what = What;
};

template <class... Ts>
struct type_list {
    static constexpr std::size_t size = sizeof...(Ts);
};

template <class L, class T>
struct add_unique;
template <class... Ts, class T>
struct add_unique<type_list<Ts...>, T> {
    using type = std::conditional_t<(std::is_same_v<T, Ts> || ...), type_list<Ts...>, type_list<Ts..., T>>;
};

/// The distinct sums (group_entry) of the row-local reductions in E that keep the axes KL of an
/// operand over the axes OA, in Plan's loop, appended to Acc.
template <class Plan, class KL, class OA, class E, class Acc>
auto collect_group(Acc) {
    if constexpr (E::kind == node_kind::reduction) {
        if constexpr (std::is_same_v<typename E::axes, KL> && std::is_same_v<typename operand_t<E>::axes, OA> &&
                      slot_local<E, Plan>())
            return typename add_unique<Acc, group_entry<operand_t<E>, group_sums_of<E, Plan>()>>::type{};
        else
            return Acc{};
    } else if constexpr (E::kind == node_kind::unary) {
        return collect_group<Plan, KL, OA, operand_t<E>>(Acc{});
    } else if constexpr (E::kind == node_kind::binary) {
        return collect_group<Plan, KL, OA, right_t<E>>(collect_group<Plan, KL, OA, left_t<E>>(Acc{}));
    } else {
        return Acc{};
    }
}

template <class T, class L>
struct index_in;
template <class T, class... Ts>
struct index_in<T, type_list<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool hit[] = {std::is_same_v<T, Ts>...};
        for (std::size_t j = 0; j < sizeof...(Ts); ++j)
            if (hit[j]) return j;
        return sizeof...(Ts);
    }();
};

/// A member of a slot group as bound: its operand bound to the loop PR, what it sums.
template <class Bound, class PR, group_sums What>
struct group_member {
    using bound = Bound;
    using plan = PR;
    static constexpr group_sums what = What;
};

/// One thread's state of a slot group: a copy of each member's bound operand (claimed when the
/// first reduction of that sum is bound; another of the same type with other values sums alone),
/// the slot summed last and its sums. `compute` sums every claimed member over the slot in one
/// loop (U batches of each in flight), in double, with the arithmetic of the reductions' own
/// loops (reduce/accumulate.hpp: sum_run).
template <class Arch, class T, std::size_t KR, class... Ms>
struct slot_group_state {
    static constexpr std::size_t count = sizeof...(Ms);
    std::tuple<std::optional<typename Ms::bound>...> operands;
    std::array<const void*, count> keys{}; // the operand expression each member was claimed for
    outer_index<KR> slot{};
    bool valid = false;
    std::size_t length = 0;
    std::array<double, count> k{}, c1{}, c2{};

    void compute(const outer_index<KR>& s) {
        using seq = std::index_sequence_for<Ms...>;
        bool all = true;
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            ((all = all && std::get<J>(operands).has_value()), ...);
        }
        (seq{});
        if (all) {
            ++evaluations.slot_reads;
            sum_members(s, seq{});
        } else { // a member not bound in this loop: the others, each alone
            [&]<std::size_t... J>(std::index_sequence<J...>) {
                auto one = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
                    if (std::get<I>(operands).has_value()) {
                        ++evaluations.slot_reads;
                        sum_members(s, std::index_sequence<I>{});
                    }
                };
                (one(std::integral_constant<std::size_t, J>{}), ...);
            }
            (seq{});
        }
        slot = s;
        valid = true;
    }

private:
    template <std::size_t J>
    using member = std::tuple_element_t<J, std::tuple<Ms...>>;

    template <std::size_t... J>
    NF_ALWAYS_INLINE void sum_members(const outer_index<KR>& s, std::index_sequence<J...>) {
        using DB = xsimd::batch<double, Arch>;
        constexpr std::size_t B = xsimd::batch<T, Arch>::size, H = B / DB::size, U = 2, M = sizeof...(J);
        constexpr std::array<group_sums, M> what{member<J>::what...};
        (std::get<J>(operands)->seek(s), ...);
        std::array<double, M> kk{};
        if (length > 0)
            ((kk[index_of<J, J...>()] =
                  member<J>::what == group_sums::moments
                      ? usable_shift(static_cast<double>(std::get<J>(operands)->load_scalar(0, 0)))
                      : 0.0),
             ...);
        const DB one = opaque_one<Arch>();
        std::array<DB, M> nk;
        for (std::size_t m = 0; m < M; ++m) nk[m] = DB(-kk[m]);
        DB a1[M][U][H], a2[M][U][H];
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t u = 0; u < U; ++u)
                for (std::size_t h = 0; h < H; ++h) a1[m][u][h] = a2[m][u][h] = DB(0.0);
        auto add = [&]<std::size_t I>(std::integral_constant<std::size_t, I>, std::size_t u, std::size_t at) {
            constexpr std::size_t m = index_of<I, J...>();
            constexpr group_sums w = what[m];
            std::array<DB, H> hv;
            if constexpr (std::is_same_v<T, float>) {
                const auto [lo, hi] = widen_load(*std::get<I>(operands), at, 0);
                hv[0] = lo;
                hv[1] = hi;
            } else {
                hv[0] = std::get<I>(operands)->load(at, 0);
            }
            for (std::size_t h = 0; h < H; ++h) {
                if constexpr (w == group_sums::plain) {
                    a1[m][u][h] = plus_on_fma(a1[m][u][h], hv[h], one);
                } else if constexpr (w == group_sums::squares) {
                    a2[m][u][h] = xsimd::fma(hv[h], hv[h], a2[m][u][h]);
                } else {
                    const DB dv = minus_shift(hv[h], one, nk[m]);
                    a1[m][u][h] += dv;
                    a2[m][u][h] = xsimd::fma(dv, dv, a2[m][u][h]);
                }
            }
        };
        std::size_t i = 0;
        for (; i + U * B <= length; i += U * B)
            for (std::size_t u = 0; u < U; ++u) (add(std::integral_constant<std::size_t, J>{}, u, i + u * B), ...);
        for (; i + B <= length; i += B) (add(std::integral_constant<std::size_t, J>{}, 0, i), ...);
        std::array<double, M> r1{}, r2{};
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t h = 0; h < H; ++h) {
                DB t1 = a1[m][0][h], t2 = a2[m][0][h];
                for (std::size_t u = 1; u < U; ++u) {
                    t1 += a1[m][u][h];
                    t2 += a2[m][u][h];
                }
                r1[m] += lane_sum(t1);
                r2[m] += lane_sum(t2);
            }
        for (; i < length; ++i) {
            auto tail = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
                constexpr std::size_t m = index_of<I, J...>();
                const double dv = static_cast<double>(std::get<I>(operands)->load_scalar(i, 0)) - kk[m];
                if constexpr (what[m] != group_sums::squares) r1[m] += dv;
                if constexpr (what[m] != group_sums::plain) r2[m] += dv * dv;
            };
            (tail(std::integral_constant<std::size_t, J>{}), ...);
        }
        ((k[J] = kk[index_of<J, J...>()], c1[J] = r1[index_of<J, J...>()], c2[J] = r2[index_of<J, J...>()]), ...);
    }

    /// The position of I among Js.
    template <std::size_t I, std::size_t... Js>
    static constexpr std::size_t index_of() {
        constexpr std::size_t v[] = {Js...};
        for (std::size_t j = 0; j < sizeof...(Js); ++j)
            if (v[j] == I) return j;
        return sizeof...(Js);
    }
};

template <class State>
struct slot_group_type {
    static constexpr char id = 0;
};

/// The registry's slot group of type State (one state per thread), made on first use; null when
/// the registry is full.
template <class State>
State* find_slot_group(slot_sums_registry& reg, scratch_arena& arena) {
    const void* type = &slot_group_type<State>::id;
    for (std::size_t i = 0; i < reg.used; ++i)
        if (reg.entries[i].type == type) return static_cast<State*>(reg.entries[i].sums);
    if (reg.used == slot_sums_registry::capacity) return nullptr;
    static_assert(std::is_trivially_destructible_v<State>, "normfuse: internal: arena objects are not destroyed");
    auto* states = arena.allocate<State>(reg.threads);
    for (std::size_t t = 0; t < reg.threads; ++t) new (states + t) State{};
    reg.entries[reg.used++] = {type, nullptr, states};
    return states;
}

/// The value of the reduction R (kind `what` of sums) from a slot's sums, with the arithmetic of
/// R::slot_value.
template <class R>
typename R::value_type value_from_group(group_sums what, double k, double c1, double c2, std::size_t length,
                                        double param) {
    if constexpr (R::moments_role != 0)
        if (what == group_sums::moments) return R::from_sums(k, c1, c2, length, param);
    return R::from_plain_sums(c1, c2, length, param);
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
template <class R, class PR, class Operand, class Group = void>
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
    Group* group = nullptr; // per piece: the fused sums of the slot's distinct reductions (slot_group_state)
    std::size_t group_threads = 0;
    std::size_t group_index = 0; // this reduction's member of the group
    group_sums group_what = group_sums::plain;

    /// A copy for the piece `worker`: tiles of its own; the slot computed last stays valid.
    void own_tiles(scratch_arena& arena, std::size_t w = 0) {
        operand.own_tiles(arena, w);
        worker = w;
    }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        outer_index<KR> slot;
        for (std::size_t j = 0; j < KR; ++j) slot[j] = index[dest_pos[j]];
        if (!computed || !same_slot(slot, current)) {
            if constexpr (!std::is_void_v<Group>) {
                if (worker < group_threads) {
                    Group& g = group[worker];
                    if (!g.valid || !same_slot(g.slot, slot)) g.compute(slot);
                    scalar = value_from_group<R>(group_what, g.k[group_index], g.c1[group_index], g.c2[group_index],
                                                 length, param);
                    value = batch(scalar);
                    current = slot;
                    computed = true;
                    return;
                }
            }
            shared_slot_value<KR, value_type>* twin = worker < same_threads ? same + worker : nullptr;
            if (twin != nullptr && twin->valid && same_slot(twin->slot, slot)) {
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
        if (s == nullptr || !s->valid || !same_slot(s->slot, slot)) {
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
