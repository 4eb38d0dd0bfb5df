// normfuse/core/diagnostics.hpp: compile-time diagnostics that name the call, the rule, the axes and the fix.
//
// Each misuse instantiates one template of `nf::error`. Its static_assert states the rule and the
// fix; its first template argument is a message computed at compile time (g++ prints it verbatim,
// for example "normfuse: operator*: axis C has extent 3 on the left and 16 on the right") and the
// remaining arguments are the call and the axis tags involved, which every compiler prints.
//
// clang 14 prints a class-type template argument as its members' values, the message as
// character codes (`{{110, 111, 114, ...}, 72}`), and it has no static_assert with a computed
// message in C++20. What it prints as written are type names. With clang the templates of
// `nf::error` are therefore aliases of a type whose name spells the misuse, from the call and the
// axes involved:
//   nf::error::in<nf::op::multiplies>::axis<nf::axes::C>::has_extent<3>::on_the_left_and<16>::on_the_right
// and the static_assert that fails names that type in its requirement, on the first line of the
// error. (The message argument is still computed, and checked, but not shown.)
#pragma once

#include <cstddef>
#include <string_view>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/element.hpp>
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
    m.append(element_name<L>());
    m.append(" and ");
    m.append(element_name<R>());
    m.append("); convert one side with nf::cast<T>(x)");
    return m;
}

template <class Call, class T>
constexpr message integer_operand_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": ");
    m.append(element_name<T>());
    m.append(" elements are not computed on; widen them with nf::cast<float>(x)");
    return m;
}

template <class Call, class T>
constexpr message integer_destination_message() {
    message m;
    m.append("normfuse: ");
    m.append(Call::name);
    m.append(": no conversion stores into ");
    m.append(element_name<T>());
    m.append(" elements; only a copy of the same type does");
    return m;
}

} // namespace nf::detail

/// The compile errors of normfuse, one template per rule.
namespace nf::error {

/// A list of axes, by name (without their extents), in a spelled diagnostic.
template <template <std::size_t> class... Names>
struct axes {};

/// Types whose names spell a misuse, read from left to right (see the top of this file); each
/// fails to instantiate with the rule and the fix. Used for the diagnostics under clang.
template <class Call>
struct in {
    template <template <std::size_t> class Axis>
    struct axis {
        template <std::size_t Left>
        struct has_extent {
            template <std::size_t Right>
            struct on_the_left_and {
                struct on_the_right {
                    static_assert(detail::always_false<on_the_right>,
                                  "normfuse: the same axis has two different static extents in one expression "
                                  "(the type in the requirement says which, and where). Fix: give both operands "
                                  "the same extent, or declare the axis dynamic (for example C<>) so that it is "
                                  "checked at run time.");
                };
            };
        };
        template <class DestinationAxes>
        struct is_in_the_expression_but_not_in_the_destination {
            static_assert(detail::always_false<is_in_the_expression_but_not_in_the_destination>,
                          "normfuse: the expression has an axis that the destination lacks, so its values would "
                          "have nowhere to go (the type in the requirement says which). Fix: reduce over that axis "
                          "first (nf::mean, nf::sum) or assign to a tensor that has the axis.");
        };
        template <class Axes>
        struct appears_twice_in {
            static_assert(detail::always_false<appears_twice_in>,
                          "normfuse: an axis appears twice in one shape (the type in the requirement says which). "
                          "Fix: every axis of a shape must be distinct; declare a new axis with NF_AXIS(Name) for "
                          "a second dimension of the same kind.");
        };
        template <class OperandAxes>
        struct is_not_an_axis_of_the_operand {
            static_assert(detail::always_false<is_not_an_axis_of_the_operand>,
                          "normfuse: a reduction names an axis that its operand does not have (the type in the "
                          "requirement says which). Fix: reduce only over axes of the operand.");
        };
    };
    template <class Left, class Right>
    struct element_types_differ {
        static_assert(detail::always_false<element_types_differ>,
                      "normfuse: the operands have different element types (the type in the requirement says "
                      "which); normfuse never converts silently. Fix: convert one side with nf::cast<T>(x), "
                      "for example nf::cast<float>(x) (exact for 8- and 16-bit inputs).");
    };
    template <class T>
    struct elements_are_integers_cast_them_with_nf_cast {
        static_assert(detail::always_false<elements_are_integers_cast_them_with_nf_cast>,
                      "normfuse: an operation reads integer elements (the type in the requirement says which); "
                      "normfuse computes on floating types only. Fix: widen them with nf::cast<float>(x) "
                      "(exact), then compute: nf::cast<float>(x) / 255.f.");
    };
    template <class T>
    struct cannot_store_converted_values_into {
        static_assert(detail::always_false<cannot_store_converted_values_into>,
                      "normfuse: an assignment would convert values into integer elements (the type in the "
                      "requirement says which); rounding and saturation to integers are not defined. Fix: "
                      "assign to a float, double, nf::bf16 or nf::fp16 destination (a copy of the same "
                      "integer type, in any layout, is allowed).");
    };
};

#if defined(__clang__)

namespace spelled {
/// The axis template of an axis tag (`nf::axes::C` of `C<3>`), and `axes<...>` of an axis_list.
template <class Call, class A>
struct axis_of;
template <class Call, template <std::size_t> class Name, std::size_t E>
struct axis_of<Call, Name<E>> {
    using type = typename in<Call>::template axis<Name>;
};
template <class List>
struct axes_of;
template <template <std::size_t> class... Names, std::size_t... Es>
struct axes_of<axis_list<Names<Es>...>> {
    using type = axes<Names...>;
};
template <class Call, class A>
using axis = typename axis_of<Call, A>::type;
template <class List>
using axes = typename axes_of<List>::type;
} // namespace spelled

template <detail::message Message, class Call, class LeftAxis, class RightAxis>
using axis_extent_mismatch = typename spelled::axis<Call, LeftAxis>::template has_extent<
    LeftAxis::extent>::template on_the_left_and<RightAxis::extent>::on_the_right;

template <detail::message Message, class Call, class Axis, class DestinationAxes>
using axis_not_in_destination = typename spelled::axis<
    Call, Axis>::template is_in_the_expression_but_not_in_the_destination<spelled::axes<DestinationAxes>>;

template <detail::message Message, class Call, class Axis, class Axes>
using duplicate_axis = typename spelled::axis<Call, Axis>::template appears_twice_in<spelled::axes<Axes>>;

template <detail::message Message, class Call, class LeftType, class RightType>
using element_type_mismatch = typename in<Call>::template element_types_differ<LeftType, RightType>;

template <detail::message Message, class Call, class Axis, class OperandAxes>
using reduce_axis_missing =
    typename spelled::axis<Call, Axis>::template is_not_an_axis_of_the_operand<spelled::axes<OperandAxes>>;

template <detail::message Message, class Call, class T>
using integer_elements_need_a_cast = typename in<Call>::template elements_are_integers_cast_them_with_nf_cast<T>;

template <detail::message Message, class Call, class T>
using integer_destination = typename in<Call>::template cannot_store_converted_values_into<T>;

#else // g++ prints the message argument verbatim in "In instantiation of ...", the first line

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
                  "normfuse never converts silently. Fix: convert one side with nf::cast<T>(x), for "
                  "example nf::cast<float>(x) (exact for 8- and 16-bit inputs).");
};

template <detail::message Message, class Call, class T>
struct integer_elements_need_a_cast {
    static_assert(detail::always_false<Call, T>,
                  "normfuse: an operation reads integer elements (see "
                  "nf::error::integer_elements_need_a_cast<message, call, type> above); normfuse "
                  "computes on floating types only. Fix: widen them with nf::cast<float>(x) (exact), "
                  "then compute: nf::cast<float>(x) / 255.f.");
};

template <detail::message Message, class Call, class T>
struct integer_destination {
    static_assert(detail::always_false<Call, T>,
                  "normfuse: an assignment would convert values into integer elements (see "
                  "nf::error::integer_destination<message, call, type> above); rounding and saturation "
                  "to integers are not defined. Fix: assign to a float, double, nf::bf16 or nf::fp16 "
                  "destination (a copy of the same integer type, in any layout, is allowed).");
};

template <detail::message Message, class Call, class Axis, class OperandAxes>
struct reduce_axis_missing {
    static_assert(detail::always_false<Call, Axis>,
                  "normfuse: a reduction names an axis that its operand does not have (see "
                  "nf::error::reduce_axis_missing<message, call, axis, operand axes> above). Fix: "
                  "reduce only over axes of the operand.");
};

#endif

} // namespace nf::error
