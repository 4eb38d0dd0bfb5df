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

/// `std::length_error` with the message "normfuse: <text>": a size or byte count that does not fit.
[[noreturn]] NF_COLD inline void raise_length(const std::string& text) {
    throw std::length_error("normfuse: " + text);
}

/// An array of `elements` of `element_size` bytes each is larger than any object can be.
[[noreturn]] NF_COLD inline void raise_too_many_bytes(std::string_view what, std::size_t elements,
                                                      std::size_t element_size) {
    raise_length(std::string(what) + ": " + std::to_string(elements) + " elements of " + std::to_string(element_size) +
                 " bytes are more bytes than an array can hold; nothing was allocated");
}

/// a * b, with `overflow` set when the product does not fit in std::size_t. (These helpers are
/// always inlined: no out-of-line copy built for one instruction set is shared across
/// translation units built for others.)
NF_ALWAYS_INLINE constexpr std::size_t multiply_checked(std::size_t a, std::size_t b, bool& overflow) noexcept {
    if (b != 0 && a > static_cast<std::size_t>(-1) / b) overflow = true;
    return a * b;
}

/// The product of the non-zero values of `v` (the number of elements an array of these extents
/// would have without its zero extents), or `overflow` set when it does not fit in std::size_t.
/// Every partial product of the extents (slot counts, strides, run lengths) is at most this.
template <class Range>
NF_ALWAYS_INLINE constexpr std::size_t nonzero_product(const Range& v, bool& overflow) noexcept {
    std::size_t n = 1;
    for (std::size_t e : v)
        if (e != 0) n = multiply_checked(n, e, overflow);
    return n;
}

/// The largest number of elements of `element_size` bytes an array may have: its byte count must
/// fit in std::ptrdiff_t (pointer differences over it must be defined) and stay below the
/// alignment padding added to it.
NF_ALWAYS_INLINE constexpr std::size_t max_array_elements(std::size_t element_size) noexcept {
    return (static_cast<std::size_t>(-1) / 2 - 4096) / element_size;
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
