// normfuse/expr/operators.hpp: + - * / and unary minus between tensors, views, expressions and numbers.
#pragma once

#include <utility>

#include <normfuse/expr/nodes.hpp>
#include <normfuse/expr/ops.hpp>

namespace nf {

/// At least one side must be an array operand, so that built-in arithmetic is never hijacked.
template <class X, class Y>
concept BinaryOperands = Operand<X> && Operand<Y> &&(ArrayOperand<X> || ArrayOperand<Y>);

template <class X, class Y>
    requires BinaryOperands<X, Y>
auto operator+(X&& x, Y&& y) {
    return detail::make_binary<op::plus>(std::forward<X>(x), std::forward<Y>(y));
}
template <class X, class Y>
    requires BinaryOperands<X, Y>
auto operator-(X&& x, Y&& y) {
    return detail::make_binary<op::minus>(std::forward<X>(x), std::forward<Y>(y));
}
template <class X, class Y>
    requires BinaryOperands<X, Y>
auto operator*(X&& x, Y&& y) {
    return detail::make_binary<op::multiplies>(std::forward<X>(x), std::forward<Y>(y));
}
template <class X, class Y>
    requires BinaryOperands<X, Y>
auto operator/(X&& x, Y&& y) {
    return detail::make_binary<op::divides>(std::forward<X>(x), std::forward<Y>(y));
}
template <ArrayOperand X>
auto operator-(X&& x) {
    return detail::make_unary<op::negate>(std::forward<X>(x));
}
template <ArrayOperand X>
auto operator+(X&& x) {
    return as_expression(std::forward<X>(x));
}

} // namespace nf
