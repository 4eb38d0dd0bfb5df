// normfuse/grad/wrt.hpp: nf::wrt(x), the name of an array that nf::gradient differentiates with respect to.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <normfuse/core/element.hpp>
#include <normfuse/core/tensor_fwd.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf {

/// The array (tensor or view) named in `nf::wrt(x)`. It is identified in the expression by its
/// memory: the operands of its element type and shape whose data and extents are its own.
template <class T, class Shape>
struct wrt_t {
    using element_type = T;
    using shape_type = Shape;
    using axes = typename Shape::axes;
    const T* data;
    std::array<std::size_t, Shape::rank> extents;
};

/// Names the tensor or view `x` as one that nf::gradient differentiates with respect to:
/// `auto [dx, dgamma] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(gamma));`.
template <class X>
auto wrt(const X& x) {
    static_assert(detail::is_array_operand<X>,
                  "normfuse: nf::wrt(x): x must be a tensor or a view (an operand of the expression), not an "
                  "expression or a number. Fix: differentiate with respect to the arrays the expression reads.");
    if constexpr (detail::is_array_operand<X>) {
        using T = std::remove_const_t<typename X::value_type>;
        static_assert(FloatingElement<T>,
                      "normfuse: nf::wrt(x): x has integer elements, and a gradient with respect to integers is "
                      "not defined. Fix: differentiate with respect to floating arrays.");
        using S = typename X::shape_type;
        return wrt_t<T, S>{x.data(), x.extents().values()};
    }
}

} // namespace nf
