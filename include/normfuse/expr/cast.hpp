// normfuse/expr/cast.hpp: nf::cast<T>(x), the explicit change of an expression's element type.
#pragma once

#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/convert.hpp>
#include <normfuse/core/element.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>
#include <normfuse/expr/ops.hpp>

namespace nf {

namespace op {
/// The values of an expression as elements of `T`, held in T's compute type. With `Round` (T is
/// nf::bf16 or nf::fp16 and the operand is of another type) each value is rounded to T, to nearest
/// even, and widened back, as a store into T would; otherwise values pass unchanged (a widening is
/// exact, and a change of compute type is made by the leaf as it loads: eval/assign.hpp).
template <class T, bool Round>
struct cast_to {
    static constexpr std::string_view name = "nf::cast";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        if constexpr (!Round) {
            return a;
        } else if constexpr (detail::is_batch<V>) {
            using A = typename V::arch_type;
            if constexpr (std::is_same_v<T, bf16>) {
                using F = xsimd::batch<float, nf::detail::int_arch_t<A>>;
                return nf::detail::rearch<A>(xsimd::bitwise_cast<F>(nf::detail::bf16_bits_from(a) << 16));
            } else {
                return nf::detail::float_from_fp16_bits<A>(nf::detail::fp16_bits_from(a));
            }
        } else {
            return static_cast<float>(T(a));
        }
    }
};
} // namespace op

/// `x` as elements of `T` (float, double, nf::bf16 or nf::fp16), computed in T's compute type:
/// `nf::cast<float>(pixels) / 255.f` widens uint8 pixels exactly. Operands of one operation must
/// have the same element type, so a cast is how types are mixed. A cast to nf::bf16 or nf::fp16
/// rounds each value to that type (as PyTorch's x.to(torch.bfloat16) does) and keeps computing in
/// float. A cast between float and double compute types applies to tensors and views, which are
/// converted as they are read: cast the operands of a computed expression, not its result.
template <class T, ArrayOperand X>
auto cast(X&& x) {
    static_assert(Element<T> && !std::is_const_v<T>,
                  "normfuse: nf::cast<T>(x): T must be an element type (float, double, nf::bf16, nf::fp16)");
    auto a = as_expression(std::forward<X>(x));
    using A = decltype(a);
    using S = typename A::element_type;
    constexpr bool same_compute = std::is_same_v<compute_t<T>, typename A::value_type>;
    constexpr bool leaf = A::kind == detail::node_kind::terminal;
    if constexpr (std::is_same_v<A, invalid_expression>) {
        return invalid_expression{}; // already reported
    } else if constexpr (!FloatingElement<T>) {
        static_assert(!Element<T> || FloatingElement<T>, // (not an element type: reported above)
                      "normfuse: nf::cast<T>(x): no conversion to integer elements (std::uint8_t, std::int8_t, "
                      "std::uint16_t are read, never computed or stored by conversion). Fix: cast to float, "
                      "double, nf::bf16 or nf::fp16");
        return invalid_expression{};
    } else if constexpr (!same_compute && (!leaf || detail::is_half_element_v<T>)) {
        static_assert(same_compute && leaf && !detail::is_half_element_v<T>,
                      "normfuse: nf::cast<T>(x): x computes in double and T in float, or the reverse; that "
                      "conversion is made only as a tensor or view is read. Fix: cast the tensors and views of "
                      "x instead of its result (for nf::bf16 or nf::fp16 from double data: "
                      "nf::cast<T>(nf::cast<float>(v)))");
        return invalid_expression{};
    } else {
        return unary_expr<op::cast_to<T, detail::is_half_element_v<T> && !std::is_same_v<S, T>>, A>{{}, std::move(a)};
    }
}

} // namespace nf
