// normfuse/core/diagnostics.hpp: compile-time diagnostics that name the call, the rule, the axes and the fix.
//
// Each misuse instantiates one template of `nf::error`. Its static_assert states the rule and the
// fix; its first template argument is a message computed at compile time (g++ prints it verbatim,
// for example "normfuse: operator*: axis C has extent 3 on the left and 16 on the right") and the
// remaining arguments are the call and the axis tags involved, which every compiler prints.
#pragma once

#include <cstddef>
#include <string_view>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/fixed_string.hpp>

namespace nf::detail {

template <class...>
inline constexpr bool always_false = false;

using message = fixed_string<192>;

template <class Call, class Left, class Right>
constexpr message extent_mismatch_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": axis ");
    m.append(Left::name);
    m.append(" has extent ");
    m.append_number(Left::extent);
    m.append(" on the left and ");
    m.append_number(Right::extent);
    m.append(" on the right");
    return m;
}

template <class Call, class A>
constexpr message missing_axis_message(std::string_view where, std::string_view rule) {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": axis ");
    m.append(A::name);
    m.append(where);
    m.append(rule);
    return m;
}

template <class Call, class L, class R>
constexpr message type_mismatch_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": element types differ (");
    m.append(sizeof(L) == 4 ? "float" : sizeof(L) == 8 ? "double" : "other");
    m.append(" and ");
    m.append(sizeof(R) == 4 ? "float" : sizeof(R) == 8 ? "double" : "other");
    m.append(")");
    return m;
}

} // namespace nf::detail

/// The compile errors of normfuse, one template per rule.
namespace nf::error {

template <detail::message Message, class Call, class LeftAxis, class RightAxis>
struct axis_extent_mismatch {
    static_assert(detail::always_false<Call, LeftAxis>,
                  "normfuse: the same axis has two different static extents in one expression "
                  "(see nf::error::axis_extent_mismatch<message, call, left axis, right axis> above). "
                  "Fix: give both operands the same extent, or declare the axis dynamic (for "
                  "example C<>) so that it is checked at run time.");
};

template <detail::message Message, class Call, class Axis, class DestinationAxes>
struct axis_not_in_destination {
    static_assert(detail::always_false<Call, Axis>,
                  "normfuse: the expression has an axis that the destination lacks, so its values "
                  "would have nowhere to go (see nf::error::axis_not_in_destination<message, call, "
                  "axis, destination axes> above). Fix: reduce over that axis first (nf::mean, "
                  "nf::sum) or assign to a tensor that has the axis.");
};

template <detail::message Message, class Call, class Axis, class Axes>
struct duplicate_axis {
    static_assert(detail::always_false<Call, Axis>,
                  "normfuse: an axis appears twice in one shape (see nf::error::duplicate_axis<"
                  "message, call, axis, axes> above). Fix: every axis of a shape must be distinct; "
                  "declare a new axis with NF_AXIS(Name) for a second dimension of the same kind.");
};

template <detail::message Message, class Call, class LeftType, class RightType>
struct element_type_mismatch {
    static_assert(detail::always_false<Call, LeftType>,
                  "normfuse: the operands have different element types (see "
                  "nf::error::element_type_mismatch<message, call, left type, right type> above); "
                  "normfuse never converts silently. Fix: use one element type throughout, or "
                  "copy the data into a tensor of the other element type first.");
};

template <detail::message Message, class Call, class Axis, class OperandAxes>
struct reduce_axis_missing {
    static_assert(detail::always_false<Call, Axis>,
                  "normfuse: a reduction names an axis that its operand does not have (see "
                  "nf::error::reduce_axis_missing<message, call, axis, operand axes> above). Fix: "
                  "reduce only over axes of the operand.");
};

} // namespace nf::error
