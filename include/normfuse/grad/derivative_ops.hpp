// normfuse/grad/derivative_ops.hpp: the element operations of derivatives (adjoint times f'(x)), usable on scalars and batches.
//
// Each is a binary operation of the incoming adjoint `g` and the operand `a` of the forward
// operation (or of the two operands of min and max), so that one node of the gradient expression
// does what PyTorch 1.13's autograd formula does, with the same subgradient at the points where
// the forward operation has no derivative.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <normfuse/expr/ops.hpp>

namespace nf::op {

namespace detail {
/// `select(c, a, b)` for a batch mask or a bool.
template <class C, class V>
V pick(const C& c, const V& a, const V& b) {
    if constexpr (is_batch<V>)
        return xsimd::select(c, a, b);
    else
        return c ? a : b;
}
} // namespace detail

/// g / (2 sqrt(a)): PyTorch's `grad / (2 * result)` (infinite at a = 0).
struct sqrt_backward {
    static constexpr std::string_view name = "derivative of nf::sqrt";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return g / (V(2) * square_root::apply<V, Arch>(a));
    }
};
/// -0.5 g r^3 with r = 1 / sqrt(a): PyTorch's `-0.5 * grad * result.pow(3)`.
struct rsqrt_backward {
    static constexpr std::string_view name = "derivative of nf::rsqrt";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        const V r = reciprocal_sqrt::apply<V, Arch>(a);
        return V(-0.5) * g * (r * r * r);
    }
};
/// g e^a: PyTorch's `grad * result`.
struct exp_backward {
    static constexpr std::string_view name = "derivative of nf::exp";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return g * exponential::apply<V, Arch>(a);
    }
};
/// g / a: PyTorch's `grad.div(self)`.
struct log_backward {
    static constexpr std::string_view name = "derivative of nf::log";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return g / a;
    }
};
/// g sgn(a), 0 at a = 0: PyTorch's `grad * self.sgn()`.
struct abs_backward {
    static constexpr std::string_view name = "derivative of nf::abs";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return detail::pick(a > V(0), g, detail::pick(a < V(0), -g, V(0)));
    }
};
/// g 2a: PyTorch's pow backward, `grad * (2 * self)`.
struct square_backward {
    static constexpr std::string_view name = "derivative of nf::square";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return g * (V(2) * a);
    }
};
/// g where a > 0, else 0 (0 at a = 0): PyTorch's `threshold_backward(grad, result, 0)`.
struct relu_backward {
    static constexpr std::string_view name = "derivative of nf::relu";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        return detail::pick(a > V(0), g, V(0));
    }
};
/// g (1 - s) s with s = sigmoid(a): PyTorch's `sigmoid_backward(grad, result)`.
struct sigmoid_backward {
    static constexpr std::string_view name = "derivative of nf::sigmoid";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        const V s = logistic::apply<V, Arch>(a);
        return g * (V(1) - s) * s;
    }
};
/// g (1 - t^2) with t = tanh(a): PyTorch's `tanh_backward(grad, result)`.
struct tanh_backward {
    static constexpr std::string_view name = "derivative of nf::tanh";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& g, const V& a) {
        const V t = hyperbolic_tangent::apply<V, Arch>(a);
        return g * (V(1) - t * t);
    }
};

/// The share of the adjoint that reaches one operand of nf::max or nf::min, as PyTorch's
/// `maximum` / `minimum` backward: 1 where that operand is the result, 0 where the other one is,
/// 1/2 to each at a tie (and 1 to both where a comparison is false both ways, at a NaN).
/// `Max`: of nf::max; `Left`: for its left operand.
template <bool Max, bool Left>
struct extremum_share {
    static constexpr std::string_view name = Max ? "derivative of nf::max" : "derivative of nf::min";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        // the operand loses where the other one is strictly above (max) or below (min) it
        const auto loses = (Max == Left) ? (a < b) : (a > b);
        return detail::pick(loses, V(0), detail::pick(a == b, V(0.5), V(1)));
    }
};

/// `a` where the mask `m` has all its bits set, 0 where it is 0: keeps the contribution of an
/// operand that is the array named in nf::wrt, drops that of another array of the same type
/// (grad/gradient.hpp). A bitwise and, so that a dropped contribution never leaks a NaN.
struct keep_if {
    static constexpr std::string_view name = "nf::gradient";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& m) {
        if constexpr (detail::is_batch<V>) {
            return a & m;
        } else {
            using U = std::conditional_t<sizeof(V) == 8, std::uint64_t, std::uint32_t>;
            return std::bit_cast<V>(static_cast<U>(std::bit_cast<U>(a) & std::bit_cast<U>(m)));
        }
    }
};

} // namespace nf::op
