// normfuse/eval/plan.hpp: compile-time planning of a loop nest: which sub-expressions are hoisted, how each leaf is read.
//
// The destination's axes are split into outer axes (looped one index at a time) and a trailing
// run (one flat, contiguous loop processed with SIMD batches). Every leaf of the expression is
// read in one of four ways along the run:
//   contiguous : the leaf's own trailing axes are the run's axes, in order (x in y = f(x));
//   invariant  : the leaf has none of the run's axes (gamma over C when C is an outer axis);
//                its value is loaded once per run and broadcast;
//   periodic   : the leaf has a trailing part of the run's axes (gamma over C when C is the
//                innermost axis of NHWC); its values repeat with a period and are read from a
//                small tiled copy, so the run can stay long;
//   strided    : the run is a single axis that is not the leaf's innermost one (reading an NCHW
//                operand into an NHWC destination); values are gathered.
// The plan takes the longest run for which every leaf has one of these modes.
// Sub-expressions whose axes are a strict subset of the destination's (gamma / sqrt(var + eps))
// are "hoisted": evaluated once into scratch memory before the main loop, then read as leaves
// (unless they hold reductions that can be computed row by row inside it: eval/row_local.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf::detail {

enum class leaf_mode { invariant, contiguous, periodic, strided, ineligible };

/// The children of an expression node: the operand of a unary node or a reduction, the sides of a
/// binary node.
template <class E>
using operand_t = std::remove_cvref_t<decltype(std::declval<E>().arg)>;
template <class E>
using left_t = std::remove_cvref_t<decltype(std::declval<E>().left)>;
template <class E>
using right_t = std::remove_cvref_t<decltype(std::declval<E>().right)>;

template <class... Layouts>
struct layout_list {};

template <class A, class B>
struct concat_layouts;
template <class... As, class... Bs>
struct concat_layouts<layout_list<As...>, layout_list<Bs...>> {
    using type = layout_list<As..., Bs...>;
};

/// True when the node `E` is evaluated into scratch memory before the main loop over `DL`.
template <class E, class DL>
inline constexpr bool is_hoisted = E::kind == node_kind::reduction ||
                                   ((E::kind == node_kind::unary || E::kind == node_kind::binary) &&
                                    E::axes::size < DL::size);

/// The memory layout a hoisted node gets: its axes in the destination's order.
template <class E, class DL>
using hoisted_layout = axis_restrict<DL, typename E::axes>;

/// The layouts of the leaves the main loop over `DL` reads (hoisted nodes count as leaves).
template <class E, class DL>
struct effective_layouts {
    static auto compute() {
        if constexpr (is_hoisted<E, DL>)
            return layout_list<hoisted_layout<E, DL>>{};
        else if constexpr (E::kind == node_kind::terminal)
            return layout_list<typename E::axes>{};
        else if constexpr (E::kind == node_kind::scalar)
            return layout_list<axis_list<>>{};
        else if constexpr (E::kind == node_kind::unary)
            return typename effective_layouts<operand_t<E>, DL>::type{};
        else
            return typename concat_layouts<typename effective_layouts<left_t<E>, DL>::type,
                                           typename effective_layouts<right_t<E>, DL>::type>::type{};
    }
    using type = decltype(compute());
};

/// Position in `DL` of every axis of the leaf layout `LA`.
template <class LA, class DL>
struct positions_in;
template <class... As, class DL>
struct positions_in<axis_list<As...>, DL> {
    static constexpr std::array<std::size_t, sizeof...(As)> value{index_of<As, DL>...};
};

/// How a leaf laid out as `LA` is read when the run is `DL`'s axes from `K` on.
template <class LA, class DL, std::size_t K>
constexpr leaf_mode mode_of() {
    constexpr std::size_t R = DL::size;
    constexpr auto pos = positions_in<LA, DL>::value;
    constexpr std::size_t n = LA::size;
    std::size_t in_run = 0;
    for (std::size_t j = 0; j < n; ++j)
        if (pos[j] >= K) ++in_run;
    if (in_run == 0) return leaf_mode::invariant;
    bool trailing = true;
    for (std::size_t t = 0; t < in_run; ++t)
        if (pos[n - in_run + t] != R - in_run + t) trailing = false;
    if (trailing) return in_run == R - K ? leaf_mode::contiguous : leaf_mode::periodic;
    if (K + 1 == R) return leaf_mode::strided;
    return leaf_mode::ineligible;
}

template <class Layouts, class DL, std::size_t K>
struct all_eligible;
template <class... Ls, class DL, std::size_t K>
struct all_eligible<layout_list<Ls...>, DL, K> {
    static constexpr bool value = ((mode_of<Ls, DL, K>() != leaf_mode::ineligible) && ...);
    static constexpr bool any_periodic = ((mode_of<Ls, DL, K>() == leaf_mode::periodic) || ...);
};

/// The number of outer axes: the smallest K for which every leaf can be read along the run.
template <class Layouts, class DL>
constexpr std::size_t outer_depth() {
    if constexpr (DL::size == 0) {
        return 0;
    } else {
        return []<std::size_t... Ks>(std::index_sequence<Ks...>) {
            constexpr bool ok[] = {all_eligible<Layouts, DL, Ks>::value...};
            for (std::size_t k = 0; k < sizeof...(Ks); ++k)
                if (ok[k]) return k;
            return sizeof...(Ks) - 1;
        }
        (std::make_index_sequence<DL::size>{});
    }
}

/// Everything the loop nest over destination axes `DL` knows at compile time. `Extra` lists the
/// layouts of further arrays the loop walks besides the expression's leaves (the accumulators of
/// a reduction).
template <class T, class Arch, class DL, class E, class Extra = layout_list<>, class Root = E>
struct plan {
    using value_type = T;
    using arch = Arch;
    using dest_axes = DL;
    using expression = Root; // the whole expression E is part of (E itself unless E is hoisted from one)
    using layouts = typename concat_layouts<typename effective_layouts<E, DL>::type, Extra>::type;
    static constexpr std::size_t rank = DL::size;
    // An nf::strided_view's strides are known at run time only: the run is then the innermost
    // axis alone, whose stride the leaf checks (core/strided_view.hpp).
    static constexpr std::size_t natural_outer = outer_depth<layouts, DL>();
    static constexpr std::size_t outer =
        has_strided_leaf<E>() && rank > 0 && natural_outer + 1 < rank ? rank - 1 : natural_outer;
    static constexpr bool periodic = all_eligible<layouts, DL, outer>::any_periodic;
};

} // namespace nf::detail
