// normfuse/grad/diagnostics.hpp: the compile errors of nf::gradient (no derivative rule, wrt of an absent array, dy unlike y).
//
// As in core/diagnostics.hpp: with g++ the first template argument, a message computed at compile
// time, is printed verbatim ("normfuse: nf::gradient: nf::cast has no derivative rule ..."); with
// clang the errors are aliases of types whose names spell the misuse, for example
//   nf::error::gradient_through<nf::op::cast_to<nf::bf16, true>>::has_no_derivative_rule
#pragma once

#include <string_view>

#include <normfuse/core/diagnostics.hpp>

namespace nf::detail {

struct gradient_call {
    static constexpr std::string_view name = "nf::gradient";
};

template <class Op>
constexpr message no_derivative_message() {
    message m;
    m.append("normfuse: nf::gradient: ");
    m.append(Op::name);
    m.append(" has no derivative rule; differentiate through other operations");
    return m;
}

template <class Call>
constexpr message absent_operand_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": no operand of the expression has the type and shape of the array named in nf::wrt");
    return m;
}

template <class Call>
constexpr message adjoint_axes_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": dy must have the axes (and static extents) of y, in any order");
    return m;
}

} // namespace nf::detail

namespace nf::error {

/// Types whose names spell a misuse of nf::gradient (see the top of this file).
template <class Op>
struct gradient_through {
    struct has_no_derivative_rule {
        static_assert(detail::always_false<Op>,
                      "normfuse: nf::gradient: an operation of the expression has no derivative rule (the type "
                      "in the requirement names it: a cast that changes the element type, or a layer's internal "
                      "statistic). Fix: write the expression with operations that have one (+ - * /, the element "
                      "functions, nf::sum, nf::mean, nf::var), in one element type.");
    };
};
template <class Array>
struct gradient_with_respect_to {
    struct an_array_that_is_not_an_operand_of_the_expression {
        static_assert(detail::always_false<Array>,
                      "normfuse: nf::gradient: nf::wrt names an array (the type in the requirement) of a type and "
                      "shape that no operand of the expression has, so the gradient is not defined. Fix: name a "
                      "tensor or view that the expression reads.");
    };
};
template <class YAxes, class DyAxes>
struct gradient_adjoint {
    struct must_have_the_axes_of_y {
        static_assert(detail::always_false<YAxes>,
                      "normfuse: nf::gradient(y, dy, ...): dy must have the axes of y, with the same static "
                      "extents, in any order (the types in the requirement list both). Fix: pass a dy shaped "
                      "like y.");
    };
};

#if defined(__clang__)

template <detail::message Message, class Op>
using no_derivative_rule = typename gradient_through<Op>::has_no_derivative_rule;

template <detail::message Message, class Array>
using wrt_not_an_operand = typename gradient_with_respect_to<Array>::an_array_that_is_not_an_operand_of_the_expression;

template <detail::message Message, class YAxes, class DyAxes>
using adjoint_axes_mismatch = typename gradient_adjoint<YAxes, DyAxes>::must_have_the_axes_of_y;

#else

template <detail::message Message, class Op>
struct no_derivative_rule {
    static_assert(detail::always_false<Op>,
                  "normfuse: nf::gradient: an operation of the expression has no derivative rule (see "
                  "nf::error::no_derivative_rule<message, operation> above). Fix: write the expression with "
                  "operations that have one (+ - * /, the element functions, nf::sum, nf::mean, nf::var), in "
                  "one element type.");
};

template <detail::message Message, class Array>
struct wrt_not_an_operand {
    static_assert(detail::always_false<Array>,
                  "normfuse: nf::gradient: nf::wrt names an array of a type and shape that no operand of the "
                  "expression has (see nf::error::wrt_not_an_operand<message, array> above). Fix: name a "
                  "tensor or view that the expression reads.");
};

template <detail::message Message, class YAxes, class DyAxes>
struct adjoint_axes_mismatch {
    static_assert(detail::always_false<YAxes>,
                  "normfuse: nf::gradient(y, dy, ...): dy must have the axes of y, with the same static "
                  "extents, in any order (see nf::error::adjoint_axes_mismatch<message, y axes, dy axes> "
                  "above). Fix: pass a dy shaped like y.");
};

#endif

} // namespace nf::error
