// normfuse/expr/ops.hpp: the element operations of expressions, each usable on a scalar and on an xsimd batch.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include <normfuse/core/simd.hpp>

namespace nf::op {

namespace detail {
template <class V>
inline constexpr bool is_batch = xsimd::is_batch<V>::value;

/// The architecture of a batch type; for a scalar, xsimd's default (the one the translation unit
/// is compiled for). Only a default: the loop nests pass their own (see eval/bound.hpp).
template <class V>
struct arch_of {
    using type = xsimd::default_arch;
};
template <class T, class A>
struct arch_of<xsimd::batch<T, A>> {
    using type = A;
};
template <class V>
using arch_of_t = typename arch_of<V>::type;

/// A scalar through the SIMD algorithm of `F` (lane 0 of a broadcast), so that the scalar tail of
/// a loop gives bit-identical results to its SIMD body for functions whose xsimd and libm
/// implementations round differently (exp, log, tanh).
template <class Arch, class T, class F>
T through_simd(T a, F f) {
    using B = xsimd::batch<T, Arch>;
    alignas(64) T lanes[B::size];
    f(B(a)).store_aligned(lanes);
    return lanes[0];
}

/// f(a) for a batch `a`, with the batch seen as one of avx512dq when it is of avx512bw (the same
/// registers, the same instructions for float and double). xsimd 8.1's `select` for integer
/// batches of avx512bw names the 8- and 16-bit blend intrinsics in every instantiation, and GCC
/// 12 without optimization (where those intrinsics are macros) rejects them for 32- and 64-bit
/// elements: xsimd's log, which selects on integers, then does not compile for
/// -march=skylake-avx512 at -O0. avx512dq's `select` is the one that runs for those elements
/// anyway, so the results are the same bit for bit.
template <class V, class F>
V avoiding_avx512bw_integer_select(const V& a, F f) {
    if constexpr (std::is_same_v<typename V::arch_type, xsimd::avx512bw>) {
        using D = xsimd::batch<typename V::value_type, xsimd::avx512dq>;
        return V(static_cast<typename D::register_type>(f(D(static_cast<typename V::register_type>(a)))));
    } else {
        return f(a);
    }
}
} // namespace detail

// Every operation is a stateless type with a printable `name` (used by diagnostics) and a static
// `apply` that works the same on `float`/`double` and on `xsimd::batch`, so that the SIMD body and
// the scalar tail of a loop compute identical values.
//
// `apply` takes the architecture as its second template parameter (deduced from a batch, given
// explicitly by the loop nests for a scalar): the scalar form of exp, log and tanh runs xsimd code,
// so `apply<float>` must not be one entity shared by translation units built for different
// instruction sets (see docs/dispatch.md, "The ODR rule").

struct plus {
    static constexpr std::string_view name = "operator+";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        return a + b;
    }
};
struct minus {
    static constexpr std::string_view name = "operator-";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        return a - b;
    }
};
struct multiplies {
    static constexpr std::string_view name = "operator*";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        return a * b;
    }
};
/// True (IEEE) division, never a multiplication by a reciprocal: torchvision's Normalize divides.
struct divides {
    static constexpr std::string_view name = "operator/";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        return a / b;
    }
};
/// Minimum; like `minps`, the second operand is returned when either is NaN.
struct minimum {
    static constexpr std::string_view name = "nf::min";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        if constexpr (detail::is_batch<V>)
            return xsimd::select(a < b, a, b);
        else
            return a < b ? a : b;
    }
};
/// Maximum; like `maxps`, the second operand is returned when either is NaN.
struct maximum {
    static constexpr std::string_view name = "nf::max";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a, const V& b) {
        if constexpr (detail::is_batch<V>)
            return xsimd::select(a > b, a, b);
        else
            return a > b ? a : b;
    }
};

struct negate {
    static constexpr std::string_view name = "operator-";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        return -a;
    }
};
struct square_root {
    static constexpr std::string_view name = "nf::sqrt";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        if constexpr (detail::is_batch<V>) {
#if defined(__AVX512F__)
            // The zero-masked form: the plain intrinsic starts from _mm512_undefined_*(), which
            // makes g++ 12 warn (maybe-uninitialized) in every caller built with -Wall.
            if constexpr (std::is_base_of_v<xsimd::avx512f, typename V::arch_type>) {
                if constexpr (std::is_same_v<typename V::value_type, float>)
                    return V(_mm512_maskz_sqrt_ps(0xFFFF, a));
                else
                    return V(_mm512_maskz_sqrt_pd(0xFF, a));
            } else
#endif
                return xsimd::sqrt(a);
        } else {
            return std::sqrt(a);
        }
    }
};
/// 1 / sqrt(x), correctly rounded in both steps (no hardware estimate).
struct reciprocal_sqrt {
    static constexpr std::string_view name = "nf::rsqrt";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        return V(1) / square_root::apply<V, Arch>(a);
    }
};
struct exponential {
    static constexpr std::string_view name = "nf::exp";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        if constexpr (detail::is_batch<V>)
            return xsimd::exp(a);
        else
            return detail::through_simd<Arch>(a, [](const auto& b) { return xsimd::exp(b); });
    }
};
struct logarithm {
    static constexpr std::string_view name = "nf::log";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        constexpr auto f = [](const auto& b) {
            return detail::avoiding_avx512bw_integer_select(b, [](const auto& c) { return xsimd::log(c); });
        };
        if constexpr (detail::is_batch<V>)
            return f(a);
        else
            return detail::through_simd<Arch>(a, f);
    }
};
struct absolute {
    static constexpr std::string_view name = "nf::abs";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        if constexpr (detail::is_batch<V>)
            return xsimd::abs(a);
        else
            return std::abs(a);
    }
};
struct hyperbolic_tangent {
    static constexpr std::string_view name = "nf::tanh";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        if constexpr (detail::is_batch<V>)
            return xsimd::tanh(a);
        else
            return detail::through_simd<Arch>(a, [](const auto& b) { return xsimd::tanh(b); });
    }
};
/// 1 / (1 + exp(-x)).
struct logistic {
    static constexpr std::string_view name = "nf::sigmoid";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        return V(1) / (V(1) + exponential::apply<V, Arch>(-a));
    }
};
/// max(x, 0).
struct rectifier {
    static constexpr std::string_view name = "nf::relu";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        return maximum::apply<V, Arch>(a, V(0));
    }
};
/// x * x.
struct square {
    static constexpr std::string_view name = "nf::square";
    template <class V, class Arch = detail::arch_of_t<V>>
    static V apply(const V& a) {
        return a * a;
    }
};

} // namespace nf::op
