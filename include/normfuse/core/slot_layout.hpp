// normfuse/core/slot_layout.hpp: an array seen as alternating groups of kept and reduced axes, to share kernels across layouts.
//
// A normalization layer works per slot: one value of the kept axes (C for BatchNorm, (N, C) for
// InstanceNorm, N for LayerNorm) with statistics over all the other axes. For the loops only the
// grouping matters: NCHW with C kept is (reduced N | kept C | reduced H*W), NCL is the same, and
// NDHWC with (N, C) kept is (kept N | reduced D*H*W | kept C). Merging neighbouring axes of the
// same kind leaves an alternating sequence, which fits one of two canonical four-group shapes:
//   ends reduced:  (slot_outer, reduced_outer, slot_inner, reduced_inner)
//   ends kept:     (reduced_outer, slot_outer, reduced_inner, slot_inner)
// (missing leading groups get extent 1). Layers run their statistics and their per-slot affine
// on these views, so one program compiles two kernels of each kind for all its layouts and ranks,
// not one per layout. The slots keep their order: slot s of the canonical view (slot_outer,
// slot_inner) is slot s of the kept axes in the array's order. Arrays with more than four groups
// are not canonical and are used as they are.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/view.hpp>

namespace nf::detail::slot_axes {
NF_AXIS(slot_outer);
NF_AXIS(slot_inner);
NF_AXIS(reduced_outer);
NF_AXIS(reduced_inner);
} // namespace nf::detail::slot_axes

namespace nf::detail {

/// How the axes of an array of rank R fall into alternating groups of kept and reduced axes.
template <std::size_t R>
struct slot_groups {
    std::size_t count = 0;
    bool last_kept = false;
    std::array<std::size_t, R> group_of{};
};

template <class XL, class KL>
constexpr slot_groups<XL::size> group_slot_axes() {
    constexpr auto pos = []<class... As>(axis_list<As...>) {
        return std::array<std::size_t, sizeof...(As)>{index_of<As, XL>...};
    }(KL{});
    slot_groups<XL::size> r;
    bool previous = false;
    for (std::size_t i = 0; i < XL::size; ++i) {
        bool kept = false;
        for (std::size_t j = 0; j < pos.size(); ++j)
            if (pos[j] == i) kept = true;
        if (i == 0 || kept != previous) ++r.count;
        r.group_of[i] = r.count - 1;
        previous = kept;
        r.last_kept = kept;
    }
    return r;
}

/// The groups of the axes `XL` when the axes `KL` (a sub-list of XL) are kept.
template <class XL, class KL>
inline constexpr slot_groups<XL::size> slot_grouping = group_slot_axes<XL, KL>();

/// True when arrays over `XL` with `KL` kept fit a canonical four-group shape.
template <class XL, class KL>
inline constexpr bool slot_canonical_ok = XL::size > 0 && slot_grouping<XL, KL>.count <= 4;

using slot_ends_reduced =
    axis_list<slot_axes::slot_outer<>, slot_axes::reduced_outer<>, slot_axes::slot_inner<>, slot_axes::reduced_inner<>>;
using slot_ends_kept =
    axis_list<slot_axes::reduced_outer<>, slot_axes::slot_outer<>, slot_axes::reduced_inner<>, slot_axes::slot_inner<>>;
/// The kept axes of both canonical shapes, in slot order.
using slot_kept = axis_list<slot_axes::slot_outer<>, slot_axes::slot_inner<>>;
/// The reduced axes of both canonical shapes, in the order of the array's reduced axes.
using slot_reduced = axis_list<slot_axes::reduced_outer<>, slot_axes::reduced_inner<>>;

/// The canonical axes of arrays over `XL` with `KL` kept.
template <class XL, class KL>
using slot_canonical_axes = std::conditional_t<slot_grouping<XL, KL>.last_kept, slot_ends_kept, slot_ends_reduced>;

/// The array `x` (a view) seen in its canonical four-group shape; `x` must be canonical.
template <class KL, class X>
auto slot_canonical(const X& x) {
    using XL = typename X::axes;
    static_assert(slot_canonical_ok<XL, KL>);
    constexpr auto g = slot_grouping<XL, KL>;
    using S = shape_from<slot_canonical_axes<XL, KL>>;
    std::array<std::size_t, 4> ext{1, 1, 1, 1};
    const auto& xe = x.extents().values();
    for (std::size_t i = 0; i < XL::size; ++i) ext[4 - g.count + g.group_of[i]] *= xe[i];
    return view<std::remove_pointer_t<decltype(x.data())>, S>(x.data(), nf::extents<S>::from_all(ext));
}

} // namespace nf::detail
