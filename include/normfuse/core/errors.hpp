// normfuse/core/errors.hpp: the run-time errors, with their messages built out of line.
//
// Every check that can fail at run time sits in a template (one per expression, layout or layer),
// but the text of its message does not depend on the types, only on names and numbers. The
// templates therefore compare and, on failure, call one of the functions below with string_views
// and extents: the code that builds the message is compiled once per program, not once per
// instantiation, and stays off the hot path (cold, never inlined).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <normfuse/core/config.hpp>

namespace nf {

/// Thrown when run-time extents do not fit: a dynamic extent that disagrees between operands, a
/// static extent given a different run-time value, a null pointer with elements. Nothing has been
/// written when it is thrown.
class extent_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

namespace detail {

/// "[N=2, C=4, H=5, W=5]": axis names with their extents.
NF_COLD inline std::string describe_extents(const std::string_view* names, const std::size_t* extents,
                                            std::size_t rank) {
    std::string s = "[";
    for (std::size_t i = 0; i < rank; ++i) {
        if (i) s += ", ";
        s += names[i];
        s += '=';
        s += std::to_string(extents[i]);
    }
    return s + "]";
}

/// `nf::extent_error` with the message "normfuse: <text>".
[[noreturn]] NF_COLD inline void raise_extent(const std::string& text) {
    throw extent_error("normfuse: " + text);
}

/// `std::invalid_argument` with the message "normfuse: <text>".
[[noreturn]] NF_COLD inline void raise_invalid(const std::string& text) {
    throw std::invalid_argument("normfuse: " + text);
}

/// `std::logic_error` with the message "normfuse: <text>".
[[noreturn]] NF_COLD inline void raise_logic(const std::string& text) {
    throw std::logic_error("normfuse: " + text);
}

/// Two operands of one call disagree on the run-time extent of an axis.
[[noreturn]] NF_COLD inline void raise_operand_mismatch(std::string_view call, std::string_view axis, std::size_t left,
                                                        std::size_t right) {
    raise_extent(std::string(call) + ": axis " + std::string(axis) + " has extent " + std::to_string(left) +
                 " on the left and " + std::to_string(right) + " on the right");
}

/// An operand of an assignment disagrees with the destination or with another operand.
[[noreturn]] NF_COLD inline void raise_assignment_mismatch(std::string_view call, std::string_view axis,
                                                           std::size_t first, bool first_is_destination,
                                                           std::size_t other) {
    raise_extent(std::string(call) + ": axis " + std::string(axis) + " has extent " + std::to_string(first) +
                 (first_is_destination ? " in the destination and " : " in one operand and ") + std::to_string(other) +
                 " in an operand; nothing was written");
}

/// A static extent was given another value at run time.
[[noreturn]] NF_COLD inline void raise_static_extent(std::string_view axis, std::size_t declared, std::size_t given) {
    raise_extent("extents: axis " + std::string(axis) + " is declared with extent " + std::to_string(declared) +
                 " but was given " + std::to_string(given));
}

/// The number of extents given to a shape is neither its dynamic count nor its rank.
[[noreturn]] NF_COLD inline void raise_extent_count(std::size_t dynamic_count, std::size_t rank, std::size_t given) {
    raise_extent("extents: the shape has " + std::to_string(dynamic_count) + " dynamic axes (and " +
                 std::to_string(rank) + " axes in all) but " + std::to_string(given) +
                 " extents were given; give the dynamic extents in axis order");
}

/// A layer's output disagrees with its input on the extent of an axis.
[[noreturn]] NF_COLD inline void raise_output_mismatch(std::string_view call, std::string_view axis, std::size_t input,
                                                       std::size_t output) {
    raise_extent(std::string(call) + ": axis " + std::string(axis) + " has extent " + std::to_string(input) +
                 " in the input and " + std::to_string(output) + " in the output; nothing was written");
}

/// A layer parameter (weight, bias, running statistics) was reassigned with another length.
[[noreturn]] NF_COLD inline void raise_parameter_length(std::string_view layer, std::string_view name, std::size_t has,
                                                        std::size_t expected) {
    raise_extent(std::string(layer) + ": " + std::string(name) + " has " + std::to_string(has) +
                 " elements but the layer expects " + std::to_string(expected) + "; nothing was written");
}

} // namespace detail
} // namespace nf
