// normfuse/expr/nodes.hpp: unary and binary operation nodes, with their compile-time and run-time shape checks.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf {

namespace op {
template <class T, bool Round>
struct cast_to;
} // namespace op

namespace detail {
/// The element and compute types of `Op(A)`: A's, but for an nf::cast (expr/cast.hpp).
template <class Op, class A>
struct unary_types {
    using element_type = typename A::element_type;
    using value_type = typename A::value_type;
};
template <class T, bool Round, class A>
struct unary_types<op::cast_to<T, Round>, A> {
    using element_type = T;
    using value_type = compute_t<T>;
};
/// True for the operation of an nf::cast.
template <class Op>
inline constexpr bool is_cast_op = false;
template <class T, bool Round>
inline constexpr bool is_cast_op<op::cast_to<T, Round>> = true;
} // namespace detail

/// `Op(arg)` applied element by element.
template <class Op, Expression A>
struct unary_expr : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::unary;
    using op = Op;
    using element_type = typename detail::unary_types<Op, A>::element_type;
    using value_type = typename detail::unary_types<Op, A>::value_type;
    using axes = typename A::axes;
    using all_axes = typename A::all_axes;
    A arg;

    template <Axis X>
    std::size_t extent() const {
        return arg.template extent<X>();
    }
};

namespace detail {
template <class Node, class X>
std::size_t extent_in(const Node& n) {
    return n.template extent<X>();
}

template <class Call, class X, class L, class R>
void check_shared_axis(const L& l, const R& r) {
    if constexpr (contains<X, typename R::axes>) {
        const std::size_t le = l.template extent<X>(), re = r.template extent<X>();
        if (le != re) raise_operand_mismatch(Call::name, X::name, le, re);
    }
}

/// Compares the run-time extents of the axes both sides share; throws before anything is written.
template <class Call, class L, class R, class... LeftAxes>
void check_shared(const L& l, const R& r, axis_list<LeftAxes...>) {
    (check_shared_axis<Call, LeftAxes>(l, r), ...);
}
} // namespace detail

/// `Op(left, right)` with broadcasting by axis name: the result has the axes of the left operand
/// followed by those only the right one has.
template <class Op, Expression L, Expression R>
struct binary_expr : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::binary;
    using op = Op;
    using element_type = typename L::element_type;
    using value_type = typename L::value_type;
    using axes = axis_union<typename L::axes, typename R::axes>;
    using all_axes = axis_union<typename L::all_axes, typename R::all_axes>;
    L left;
    R right;

    binary_expr(L l, R r) : left(std::move(l)), right(std::move(r)) {
        detail::check_shared<Op>(left, right, typename L::axes{});
    }

    template <Axis X>
    std::size_t extent() const {
        if constexpr (contains<X, typename L::axes>)
            return left.template extent<X>();
        else
            return right.template extent<X>();
    }
};

/// Returned in place of an expression after a compile error, so that no second wave follows.
struct invalid_expression : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::scalar;
    using element_type = float;
    using value_type = float;
    using axes = axis_list<>;
    using all_axes = axes;
    float value = 0;
};

namespace detail {

/// True when two operands of one call have the same element type (one that is computed on, not an
/// integer type) and agree on static extents.
template <class L, class R>
inline constexpr bool compatible_operands =
    std::is_same_v<typename L::element_type, typename R::element_type>&& FloatingElement<typename L::element_type>&&
        mismatch_position<typename L::axes, typename R::axes> == npos;

/// Instantiates the diagnostic for an operand of integer elements used without an nf::cast. (A
/// deduced return type, as report_incompatible's: clang then instantiates it where it is called and
/// its diagnostic reaches the user's line.)
template <class Call, class T>
auto report_integer_operand() {
    (void)sizeof(error::integer_elements_need_a_cast<integer_operand_message<Call, T>(), Call, T>);
}

/// Instantiates the diagnostic that explains why two operands of `Call` are not compatible. (Its
/// return type is deduced so that clang instantiates it where it is called, not at the end of the
/// file, and its diagnostic shows the chain of calls back to the user's line.)
template <class Call, class L, class R>
auto report_incompatible() {
    using LT = typename L::element_type;
    using RT = typename R::element_type;
    if constexpr (std::is_same_v<L, invalid_expression> || std::is_same_v<R, invalid_expression>) {
        // already reported where the operand was built: no second wave of errors
    } else if constexpr (!std::is_same_v<LT, RT>) {
        (void)sizeof(error::element_type_mismatch<type_mismatch_message<Call, LT, RT>(), Call, LT, RT>);
    } else if constexpr (!FloatingElement<LT>) {
        report_integer_operand<Call, LT>();
    } else {
        using A = axis_at_t<mismatch_position<typename L::axes, typename R::axes>, typename L::axes>;
        using B = find_axis_t<A, typename R::axes>;
        (void)sizeof(error::axis_extent_mismatch<extent_mismatch_message<Call, A, B>(), Call, A, B>);
    }
}

/// Builds `Op(l, r)` from any two operands, a plain number taking the other side's element type.
template <class Op, class X, class Y>
auto make_binary(X&& x, Y&& y) {
    using hint = std::conditional_t<ArrayOperand<X>, element_t<X>, element_t<Y>>;
    auto l = as_expression<hint>(std::forward<X>(x));
    auto r = as_expression<hint>(std::forward<Y>(y));
    using LE = decltype(l);
    using RE = decltype(r);
    if constexpr (compatible_operands<LE, RE>) {
        return binary_expr<Op, LE, RE>(std::move(l), std::move(r));
    } else {
        report_incompatible<Op, LE, RE>();
        return invalid_expression{};
    }
}

template <class Op, class X>
auto make_unary(X&& x) {
    auto a = as_expression(std::forward<X>(x));
    using A = decltype(a);
    if constexpr (FloatingElement<typename A::element_type>) {
        return unary_expr<Op, A>{{}, std::move(a)};
    } else {
        report_integer_operand<Op, typename A::element_type>();
        return invalid_expression{};
    }
}

} // namespace detail
} // namespace nf
