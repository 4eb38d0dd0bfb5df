// normfuse/core/io.hpp: printing tensors and views as nested brackets, like PyTorch, with the axis names.
#pragma once

#include <cstddef>
#include <ios>
#include <ostream>
#include <sstream>
#include <string>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>

namespace nf {

namespace detail {
template <class Array>
void print_level(std::ostream& os, const Array& a, std::size_t dim, std::size_t offset, std::size_t indent) {
    constexpr std::size_t rank = Array::rank;
    const std::size_t n = a.extent(dim);
    std::size_t stride = 1;
    for (std::size_t d = dim + 1; d < rank; ++d) stride *= a.extent(d);
    os << '[';
    for (std::size_t i = 0; i < n; ++i) {
        if (dim + 1 == rank) {
            if (i) os << ", ";
            std::ostringstream cell;
            cell.setf(std::ios::fixed);
            cell.precision(4);
            cell << a.data()[offset + i];
            os << (cell.str()[0] == '-' ? "" : " ") << cell.str();
        } else {
            if (i) os << (dim + 2 == rank ? ",\n" : ",\n\n") << std::string(indent + 1, ' ');
            print_level(os, a, dim + 1, offset + i * stride, indent + 1);
        }
    }
    os << ']';
}
template <class Array>
std::ostream& print_array(std::ostream& os, const Array& a) {
    os << "tensor(";
    if constexpr (Array::rank == 0)
        os << a.data()[0];
    else
        print_level(os, a, 0, 0, 7);
    os << ", axes=(";
    [&]<class... As>(axis_list<As...>) {
        std::size_t i = 0;
        ((os << (i++ ? ", " : "") << As::name << '=' << a.template extent<As>()), ...);
    }(typename Array::axes{});
    return os << "))";
}
} // namespace detail

/// Prints the values in nested brackets (4 decimals) and the axis names with their extents.
template <class T, class S>
std::ostream& operator<<(std::ostream& os, const tensor<T, S>& t) {
    return detail::print_array(os, t);
}
template <class T, class S>
std::ostream& operator<<(std::ostream& os, const view<T, S>& v) {
    return detail::print_array(os, v);
}

} // namespace nf
