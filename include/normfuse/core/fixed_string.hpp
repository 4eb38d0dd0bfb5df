// normfuse/core/fixed_string.hpp: a compile-time string usable as a template argument, for diagnostics.
#pragma once

#include <cstddef>
#include <string_view>

namespace nf::detail {

/// A string that can be built in a constant expression and passed as a template argument, so that
/// a compile error can carry a computed message (g++ prints it verbatim in the instantiation).
template <std::size_t Capacity>
struct fixed_string {
    char text[Capacity]{};
    std::size_t length = 0;

    constexpr fixed_string() = default;
    constexpr fixed_string(const char (&literal)[Capacity]) {
        for (std::size_t i = 0; i + 1 < Capacity; ++i) text[i] = literal[i];
        length = Capacity - 1;
    }
    constexpr void append(std::string_view s) {
        for (char ch : s)
            if (length + 1 < Capacity) text[length++] = ch;
    }
    constexpr void append_number(std::size_t value) {
        char digits[24]{};
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + value % 10);
            value /= 10;
        } while (value != 0);
        while (n != 0)
            if (length + 1 < Capacity)
                text[length++] = digits[--n];
            else
                --n;
    }
    constexpr std::string_view view() const { return {text, length}; }
};

} // namespace nf::detail
