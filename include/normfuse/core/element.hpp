// normfuse/core/element.hpp: the element types tensors and views hold, and the type each computes in.
//
// The compute type rule: an expression computes in the compute type of its element type --
// double for double, float for everything else (float, nf::bf16, nf::fp16, std::uint8_t,
// std::int8_t, std::uint16_t). Narrow elements are widened as they are loaded (exactly: every
// value of the integer types and of the 16-bit floating types is a float) and a 16-bit floating
// destination is rounded once, when it is stored.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include <normfuse/core/half.hpp>

namespace nf {

namespace detail {
template <class T>
inline constexpr bool is_integer_element_v =
    std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint16_t>;
template <class T>
inline constexpr bool is_half_element_v = std::is_same_v<T, bf16> || std::is_same_v<T, fp16>;
template <class T>
inline constexpr bool is_wide_element_v = std::is_same_v<T, float> || std::is_same_v<T, double>;
} // namespace detail

/// Element type accepted by tensors and views (possibly const): float, double, nf::bf16, nf::fp16,
/// std::uint8_t, std::int8_t, std::uint16_t.
template <class T>
concept Element = detail::is_wide_element_v<std::remove_const_t<T>> ||
    detail::is_half_element_v<std::remove_const_t<T>> || detail::is_integer_element_v<std::remove_const_t<T>>;

/// An element type expressions compute on directly (the integer types need an nf::cast first).
template <class T>
concept FloatingElement = detail::is_wide_element_v<T> || detail::is_half_element_v<T>;

/// The type an element type computes in: double for double, float for the others.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<std::remove_const_t<T>, double>, double, float>;

namespace detail {
/// The name of an element type, for diagnostics.
template <class T>
constexpr std::string_view element_name() {
    if constexpr (std::is_same_v<T, float>)
        return "float";
    else if constexpr (std::is_same_v<T, double>)
        return "double";
    else if constexpr (std::is_same_v<T, bf16>)
        return "nf::bf16";
    else if constexpr (std::is_same_v<T, fp16>)
        return "nf::fp16";
    else if constexpr (std::is_same_v<T, std::uint8_t>)
        return "std::uint8_t";
    else if constexpr (std::is_same_v<T, std::int8_t>)
        return "std::int8_t";
    else if constexpr (std::is_same_v<T, std::uint16_t>)
        return "std::uint16_t";
    else
        return "a type that is not an element type";
}
} // namespace detail

} // namespace nf
