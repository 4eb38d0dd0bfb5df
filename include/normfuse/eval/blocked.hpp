// normfuse/eval/blocked.hpp: assignments with reductions inside, evaluated block by block so the second read of x hits the cache.
//
// In `y = x * rsqrt(mean<C>(square(x)) + eps) * w` the reduction is computed before the loop
// that uses it: one pass over x for the reduction, one for y, and x comes from memory twice when
// it is larger than the cache. When no reduction reduces over the destination's leading axes
// (here N and L of (N, L, C)), the rows of those axes are independent: the assignment can be cut
// into boxes of whole rows of about `block_bytes` (a range of the first axis, or one index of it
// and a range of the second) and each box evaluated on its own, the reduction's pass leaving the
// box in L2 for the output pass. Every operand that has a leading axis must have it as its own
// leading axis (in the destination's order), so that a box is one contiguous piece of it; the
// operands are then replaced by their piece (`slice`), whatever held them before.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>

namespace nf::detail {

/// Bytes of input one box of a blocked evaluation (or one block of a layer's rows) covers: a
/// quarter of a typical 1 MiB L2, leaving room for the output and the per-row values.
inline constexpr std::size_t block_bytes = std::size_t{256} << 10;

template <class E>
constexpr bool has_reduction() {
    if constexpr (E::kind == node_kind::reduction)
        return true;
    else if constexpr (E::kind == node_kind::unary)
        return has_reduction<operand_t<E>>();
    else if constexpr (E::kind == node_kind::binary)
        return has_reduction<left_t<E>>() || has_reduction<right_t<E>>();
    else
        return false;
}

/// True when the axes of `Pre` that the list `TA` has are TA's leading axes, in Pre's order.
template <class Pre, class TA>
constexpr bool leads_with() {
    constexpr auto pos = positions_in<Pre, TA>::value;
    std::size_t next = 0;
    for (std::size_t j = 0; j < pos.size(); ++j) {
        if (pos[j] == npos) continue;
        if (pos[j] != next) return false;
        ++next;
    }
    return true;
}

/// True when `e` can be cut along the destination axes `Pre`: operands lead with them, and no
/// reduction reduces over any of them.
template <class Pre, class E>
constexpr bool sliceable() {
    if constexpr (E::kind == node_kind::terminal)
        return leads_with<Pre, typename E::axes>();
    else if constexpr (E::kind == node_kind::scalar)
        return true;
    else if constexpr (E::kind == node_kind::unary)
        return sliceable<Pre, operand_t<E>>();
    else if constexpr (E::kind == node_kind::binary)
        return sliceable<Pre, left_t<E>>() && sliceable<Pre, right_t<E>>();
    else
        return axis_restrict<typename E::reduced_axes, Pre>::size == 0 && sliceable<Pre, operand_t<E>>();
}

/// The first `P` axes of a list.
template <std::size_t P, class L, class = std::make_index_sequence<P>>
struct leading;
template <std::size_t P, class L, std::size_t... I>
struct leading<P, L, std::index_sequence<I...>> {
    using type = axis_list<axis_at_t<I, L>...>;
};
template <std::size_t P, class L>
using leading_axes = typename leading<P, L>::type;

/// How many leading destination axes (0, 1 or 2) `dst = e` is cut along: 0 when `e` has no
/// reduction (one pass already) or cannot be cut.
template <class DL, class E>
constexpr std::size_t block_prefix() {
    if constexpr (!has_reduction<E>() || DL::size < 2)
        return 0;
    else if constexpr (DL::size >= 3 && sliceable<leading_axes<2, DL>, E>())
        return 2;
    else if constexpr (sliceable<leading_axes<1, DL>, E>())
        return 1;
    else
        return 0;
}

/// Calls `f(k)` for every block k in [0, count): in order, or, with nf::set_num_threads(n > 1)
/// (eval/parallel.hpp) and outside another parallel loop, in contiguous shares, one per piece.
template <class F>
void for_each_block(std::size_t count, F&& f) {
    executor ex(count > 1 ? count * parallel_min_work : 0);
    const std::size_t pieces = std::min(ex.pieces(), count);
    if (pieces <= 1) {
        for (std::size_t k = 0; k < count; ++k) f(k);
        return;
    }
    ex.run([&](std::size_t p) {
        if (p >= pieces) return;
        for (std::size_t k = count * p / pieces, e = count * (p + 1) / pieces; k < e; ++k) f(k);
    });
}

/// A box of the destination: indices [i0, i1) of its first axis and [j0, j1) of its second.
struct block_box {
    std::size_t i0, i1, j0, j1;
};

/// The list `L` with its axes that are in `Pre` made dynamic (a box has other extents).
template <class Pre, class L>
struct loosen;
template <class Pre, class... As>
struct loosen<Pre, axis_list<As...>> {
    using type = axis_list<std::conditional_t<contains<As, Pre>, axis_id<As>, As>...>;
};
template <class Pre, class L>
using loosen_t = typename loosen<Pre, L>::type;

/// Holds a piece of an operand: its first element and its extents (a view without the view
/// header, which includes the evaluator).
template <class T, class Shape>
struct by_piece {
    const T* first;
    nf::extents<Shape> ext;
    const T* data() const { return first; }
    const nf::extents<Shape>& extents() const { return ext; }
};

/// `e` restricted to the box `b` of the destination axes `Pre`, every operand held as its piece.
template <class Pre, class E>
auto slice(const E& e, const block_box& b) {
    if constexpr (E::kind == node_kind::terminal) {
        using T = typename E::storage_type;
        using TA = typename E::axes;
        using S = shape_from<loosen_t<Pre, TA>>;
        auto ext = e.extents().values();
        std::size_t offset = 0, stride = 1;
        for (std::size_t j = TA::size; j-- > 0;) {
            const std::size_t d = positions_in<TA, Pre>::value[j]; // which leading axis, if any
            if (d != npos) {
                const std::size_t lo = d == 0 ? b.i0 : b.j0, hi = d == 0 ? b.i1 : b.j1;
                offset += lo * stride;
                stride *= ext[j];
                ext[j] = hi - lo;
            } else {
                stride *= ext[j];
            }
        }
        return terminal<T, S, by_piece<T, S>>{{}, {e.data() + offset, nf::extents<S>::from_all(ext)}};
    } else if constexpr (E::kind == node_kind::scalar) {
        return e;
    } else if constexpr (E::kind == node_kind::unary) {
        auto a = slice<Pre>(e.arg, b);
        return unary_expr<typename E::op, decltype(a)>{{}, std::move(a)};
    } else if constexpr (E::kind == node_kind::binary) {
        auto l = slice<Pre>(e.left, b);
        auto r = slice<Pre>(e.right, b);
        return binary_expr<typename E::op, decltype(l), decltype(r)>(std::move(l), std::move(r));
    } else {
        return e.with_arg(slice<Pre>(e.arg, b));
    }
}

template <class Arch, class T, class DL, class E>
void evaluate_into(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, scratch_arena& arena,
                   store_kind store);

/// `dst = e` box by box along the first P destination axes (checks already done). The stores are
/// chosen once for the whole destination; with nf::set_num_threads(n > 1) the boxes are shared
/// among the threads (each box's reductions read the box only, and are complete before its
/// stores: in place is safe). An exception in one box leaves the boxes already written written.
template <std::size_t P, class Arch, class T, class DL, class E>
void evaluate_blocked(T* dst, const std::array<std::size_t, DL::size>& ext, const E& e, store_kind store) {
    using Pre = leading_axes<P, DL>;
    using DL2 = loosen_t<Pre, DL>;
    std::size_t total = 1, inner = 1;
    for (std::size_t d = 0; d < DL::size; ++d) {
        total *= ext[d];
        if (d >= P) inner *= ext[d];
    }
    if (total == 0) return;
    if (store == store_kind::automatic)
        store = total * sizeof(T) >= streaming_threshold() ? store_kind::streaming : store_kind::regular;
    const std::size_t e0 = ext[0], e1 = P == 2 ? ext[1] : 1;
    const std::size_t rows = std::max<std::size_t>(1, block_bytes / (inner * sizeof(T))); // rows of `inner` per box
    // Boxes: whole slabs of the first axis when one fits, else pieces of one slab.
    const bool whole = e1 <= rows;
    const std::size_t per = whole ? rows / e1 : (e1 + rows - 1) / rows; // first-axis indices per box, or boxes per slab
    const std::size_t boxes = whole ? (e0 + per - 1) / per : e0 * per;
    auto one = [&](std::size_t k) {
        block_box b{};
        if (whole) {
            b = {k * per, std::min(e0, k * per + per), 0, e1};
        } else {
            b.i0 = k / per;
            b.i1 = b.i0 + 1;
            b.j0 = k % per * rows;
            b.j1 = std::min(e1, b.j0 + rows);
        }
        auto ext2 = ext;
        ext2[0] = b.i1 - b.i0;
        if constexpr (P == 2) ext2[1] = b.j1 - b.j0;
        const std::size_t offset = (b.i0 * e1 + b.j0) * inner;
        scratch_arena arena;
        evaluate_into<Arch, T, DL2>(dst + offset, ext2, slice<Pre>(e, b), arena, store);
    };
    for_each_block(boxes, one);
}

} // namespace nf::detail
