// normfuse/expr/functions.hpp: element functions of expressions (sqrt, rsqrt, exp, log, abs, min, max, clamp, relu, sigmoid, tanh, square).
#pragma once

#include <utility>

#include <normfuse/expr/nodes.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/expr/ops.hpp>

namespace nf {

/// Square root.
template <ArrayOperand X>
auto sqrt(X&& x) {
    return detail::make_unary<op::square_root>(std::forward<X>(x));
}
/// 1 / sqrt(x), rounded as a true division (no hardware estimate).
template <ArrayOperand X>
auto rsqrt(X&& x) {
    return detail::make_unary<op::reciprocal_sqrt>(std::forward<X>(x));
}
/// e^x.
template <ArrayOperand X>
auto exp(X&& x) {
    return detail::make_unary<op::exponential>(std::forward<X>(x));
}
/// Natural logarithm.
template <ArrayOperand X>
auto log(X&& x) {
    return detail::make_unary<op::logarithm>(std::forward<X>(x));
}
/// |x|.
template <ArrayOperand X>
auto abs(X&& x) {
    return detail::make_unary<op::absolute>(std::forward<X>(x));
}
/// Hyperbolic tangent.
template <ArrayOperand X>
auto tanh(X&& x) {
    return detail::make_unary<op::hyperbolic_tangent>(std::forward<X>(x));
}
/// 1 / (1 + e^-x).
template <ArrayOperand X>
auto sigmoid(X&& x) {
    return detail::make_unary<op::logistic>(std::forward<X>(x));
}
/// max(x, 0).
template <ArrayOperand X>
auto relu(X&& x) {
    return detail::make_unary<op::rectifier>(std::forward<X>(x));
}
/// x * x.
template <ArrayOperand X>
auto square(X&& x) {
    return detail::make_unary<op::square>(std::forward<X>(x));
}

/// Element-wise minimum, broadcasting by axis name.
template <class X, class Y>
    requires BinaryOperands<X, Y>
auto min(X&& x, Y&& y) {
    return detail::make_binary<op::minimum>(std::forward<X>(x), std::forward<Y>(y));
}
/// Element-wise maximum, broadcasting by axis name.
template <class X, class Y>
    requires BinaryOperands<X, Y>
auto max(X&& x, Y&& y) {
    return detail::make_binary<op::maximum>(std::forward<X>(x), std::forward<Y>(y));
}
/// min(max(x, lo), hi); the bounds may be numbers or expressions (per-channel bounds broadcast).
template <ArrayOperand X, Operand Lo, Operand Hi>
auto clamp(X&& x, Lo&& lo, Hi&& hi) {
    return nf::min(nf::max(std::forward<X>(x), std::forward<Lo>(lo)), std::forward<Hi>(hi));
}

} // namespace nf
