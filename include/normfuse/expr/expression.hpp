// normfuse/expr/expression.hpp: the Expression concept and its leaves (tensors, views, scalars).
//
// Leaves that refer to memory are "terminals". A named tensor is held by reference, a temporary
// tensor is moved into the expression and held by value, a view is copied (it is a pointer and
// extents): so an expression stored with `auto e = ...` never dangles.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor_fwd.hpp>

namespace nf {

namespace detail {
struct expression_tag {};

enum class node_kind { terminal, scalar, unary, binary, reduction };

/// Holds a named tensor by address: the expression sees later changes of it.
template <class Tensor>
struct by_reference {
    const Tensor* target;
    const auto* data() const { return target->data(); }
    const auto& extents() const { return target->extents(); }
};

/// Owns a temporary tensor (moved in): the expression keeps it alive.
template <class Tensor>
struct by_value {
    Tensor target;
    const auto* data() const { return target.data(); }
    const auto& extents() const { return target.extents(); }
};
/// Refers to the memory of an nf::strided_view: per-axis element strides, any sign.
template <class T, class Shape>
struct by_strides {
    const T* base;
    nf::extents<Shape> ext;
    std::array<std::ptrdiff_t, Shape::rank> step;
    const T* data() const { return base; }
    const nf::extents<Shape>& extents() const { return ext; }
    const std::array<std::ptrdiff_t, Shape::rank>& strides() const { return step; }
};
} // namespace detail

/// Anything that can stand in an expression tree: terminals, scalars and operation nodes.
template <class E>
concept Expression = std::is_base_of_v<detail::expression_tag, std::remove_cvref_t<E>>;

// Every node has an `element_type`, the element type it stands for (that of its leaves, or the
// target of an nf::cast), and a `value_type`, the type it computes in: compute_t<element_type>
// (core/element.hpp). Operands of one operation must have the same element type.

/// A leaf over memory laid out as `Shape` (row-major in its axis order), holding elements of `T`
/// (read widened to their compute type).
template <class T, class Shape, class Holder>
struct terminal : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::terminal;
    using storage_type = std::remove_const_t<T>;
    using element_type = storage_type;
    using value_type = compute_t<storage_type>;
    using shape_type = Shape;
    using axes = typename Shape::axes;
    using all_axes = axes;

    Holder holder;

    const storage_type* data() const { return holder.data(); }
    const nf::extents<Shape>& extents() const { return holder.extents(); }
    template <Axis A>
    std::size_t extent() const {
        return extents()[index_of<A, axes>];
    }
};

/// A number that broadcasts along every axis, standing for the element type `T` (it takes the
/// element type of the other operand) and held in T's compute type.
template <class T>
struct scalar : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::scalar;
    using element_type = T;
    using value_type = compute_t<T>;
    using axes = axis_list<>;
    using all_axes = axes;
    value_type value;
};

namespace detail {

template <class X>
inline constexpr bool is_arithmetic_operand = std::is_arithmetic_v<std::remove_cvref_t<X>>;

template <class X>
inline constexpr bool is_array_operand = is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>> ||
                                         is_strided_view_v<std::remove_cvref_t<X>>;

} // namespace detail

/// What may appear in an expression: expressions, tensors, views and plain numbers.
template <class X>
concept Operand = Expression<X> || detail::is_array_operand<X> || detail::is_arithmetic_operand<X>;

/// An operand that is not a plain number (fixes the element type of a mixed operation).
template <class X>
concept ArrayOperand = Expression<X> || detail::is_array_operand<X>;

/// Turns an operand into an expression node; `Hint` is the element type a plain number takes.
template <class Hint = void, class X>
constexpr auto as_expression(X&& x) {
    using D = std::remove_cvref_t<X>;
    if constexpr (Expression<D>) {
        return D(std::forward<X>(x));
    } else if constexpr (is_tensor_v<D>) {
        using T = typename D::value_type;
        using S = typename D::shape_type;
        if constexpr (std::is_lvalue_reference_v<X>)
            return terminal<T, S, detail::by_reference<D>>{{}, {&x}};
        else
            return terminal<T, S, detail::by_value<D>>{{}, {std::move(x)}};
    } else if constexpr (is_strided_view_v<D>) {
        using T = typename D::value_type;
        using S = typename D::shape_type;
        return terminal<T, S, detail::by_strides<T, S>>{{}, {x.data(), x.extents(), x.strides()}};
    } else if constexpr (is_view_v<D>) {
        using T = typename D::value_type;
        using S = typename D::shape_type;
        using CV = view<const T, S>;
        return terminal<T, S, detail::by_value<CV>>{{}, {CV(x)}};
    } else {
        static_assert(std::is_arithmetic_v<D>, "normfuse: as_expression: not an operand");
        using T = std::conditional_t<std::is_void_v<Hint>, D, Hint>;
        return scalar<T>{{}, static_cast<compute_t<T>>(x)};
    }
}

namespace detail {
/// True for a terminal over an nf::strided_view.
template <class E>
constexpr bool is_strided_terminal() {
    if constexpr (E::kind == node_kind::terminal) return requires(const E& e) {
            e.holder.strides();
        };
    else
        return false;
}
/// True when a leaf of `E` is an nf::strided_view.
template <class E>
constexpr bool has_strided_leaf() {
    if constexpr (E::kind == node_kind::terminal)
        return is_strided_terminal<E>();
    else if constexpr (E::kind == node_kind::unary || E::kind == node_kind::reduction)
        return has_strided_leaf<std::remove_cvref_t<decltype(std::declval<E>().arg)>>();
    else if constexpr (E::kind == node_kind::binary)
        return has_strided_leaf<std::remove_cvref_t<decltype(std::declval<E>().left)>>() ||
               has_strided_leaf<std::remove_cvref_t<decltype(std::declval<E>().right)>>();
    else
        return false;
}
} // namespace detail

/// The expression node type an operand becomes.
template <class X, class Hint = void>
using expression_t = decltype(as_expression<Hint>(std::declval<X>()));

/// Element type of an array operand (what its expression stands for; see compute_t for the type
/// it computes in).
template <class X>
using element_t = typename std::remove_cvref_t<expression_t<X>>::element_type;

/// Axes (with extents) of an expression or array operand.
template <class X>
using axes_of = typename std::remove_cvref_t<expression_t<X>>::axes;

} // namespace nf
