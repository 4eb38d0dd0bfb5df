// normfuse/grad/gradient.hpp: nf::gradient(y, dy, nf::wrt(x)...), the gradients of an expression as lazy expressions.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>
#include <normfuse/grad/diagnostics.hpp>
#include <normfuse/grad/rules.hpp>
#include <normfuse/grad/wrt.hpp>

namespace nf {

namespace detail {

/// Throws extent_error unless dy has y's run-time extents (before anything is evaluated).
template <class Y, class Dy, class... Xs>
void check_adjoint_extents(const Y& y, const Dy& dy, axis_list<Xs...>) {
    auto one = [&]<class X>(X*) {
        const std::size_t ye = y.template extent<X>(), de = dy.template extent<X>();
        if (ye != de)
            raise_extent("nf::gradient: axis " + std::string(X::name) + " has extent " + std::to_string(ye) +
                         " in y and " + std::to_string(de) + " in dy; dy must have the extents of y");
    };
    (one(static_cast<Xs*>(nullptr)), ...);
}

/// The gradient of sum(dy * y) with respect to the array `w`, an expression over w's axes.
template <class Y, class Dy, class T, class S>
auto gradient_for(const Y& y, const Dy& dy, const wrt_t<T, S>& w) {
    using Target = wrt_t<T, S>;
    constexpr std::size_t leaves = target_leaves<Target, Y>();
    if constexpr (!FloatingElement<T>) {
        return invalid_expression{}; // reported by nf::wrt
    } else if constexpr (leaves == 0) {
        (void)sizeof(error::wrt_not_an_operand<absent_operand_message<gradient_call>(), nf::tensor<T, S>>);
        return invalid_expression{};
    } else {
        target_search<Target> search{&w};
        auto g = backprop<Target, (leaves > 1)>(y, Dy(dy), search);
        if (search.found == 0)
            raise_invalid("nf::gradient: an array named in nf::wrt is not an operand of the expression (operands "
                          "of its type and shape are, but they are other arrays: an operand is identified by its "
                          "data and extents)");
        return g;
    }
}

} // namespace detail

/// The gradients of the expression `y` with respect to the arrays named by `nf::wrt`: for each, an
/// expression over that array's axes, evaluated where it is assigned, whose value is the gradient
/// of sum(dy * y) (the vector-Jacobian product, as PyTorch's `y.backward(dy)` accumulates into
/// `x.grad`). `dy` has y's axes, in any order. The derivation is made on the expression's type at
/// compile time (grad/rules.hpp); an array used several times gets the sum of its contributions,
/// and one over fewer axes than y (a per-channel parameter) the sum over the axes it lacks.
/// ```
/// auto y = (x - nf::mean<N, H, W>(x)) * nf::rsqrt(nf::var<N, H, W>(x) + eps) * gamma + beta;
/// auto [dx, dgamma] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(gamma));
/// grad_x = dx;  // one fused evaluation
/// ```
/// The arrays are identified by their memory (data and extents) among the operands of their type
/// and shape; std::invalid_argument if none is theirs, and a compile error if no operand has their
/// type and shape. dy's extents are checked here (extent_error), before anything is evaluated.
template <ArrayOperand Y, ArrayOperand Dy, class... Ts, class... Ss>
auto gradient(Y&& y, Dy&& dy, const wrt_t<Ts, Ss>&... w) {
    static_assert(sizeof...(Ts) > 0, "normfuse: nf::gradient(y, dy, nf::wrt(x)...): name at least one array");
    auto ye = as_expression(std::forward<Y>(y));
    auto dye = as_expression(std::forward<Dy>(dy));
    using YE = decltype(ye);
    using DE = decltype(dye);
    using YA = typename YE::axes;
    using DA = typename DE::axes;
    if constexpr (std::is_same_v<YE, invalid_expression> || std::is_same_v<DE, invalid_expression>) {
        return std::tuple<decltype((void)w, invalid_expression{})...>{}; // already reported
    } else if constexpr (!std::is_same_v<typename YE::element_type, typename DE::element_type>) {
        using LT = typename YE::element_type;
        using RT = typename DE::element_type;
        (void)sizeof(error::element_type_mismatch<detail::type_mismatch_message<detail::gradient_call, LT, RT>(),
                                                  detail::gradient_call, LT, RT>);
        return std::tuple<decltype((void)w, invalid_expression{})...>{};
    } else if constexpr (!(YA::size == DA::size && is_subset<YA, DA> && is_subset<DA, YA> &&
                           mismatch_position<YA, DA> == detail::npos)) {
        (void)sizeof(error::adjoint_axes_mismatch<detail::adjoint_axes_message<detail::gradient_call>(), YA, DA>);
        return std::tuple<decltype((void)w, invalid_expression{})...>{};
    } else {
        detail::check_adjoint_extents(ye, dye, YA{});
        return std::tuple{detail::gradient_for(ye, dye, w)...};
    }
}

} // namespace nf
