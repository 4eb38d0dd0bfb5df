// normfuse/grad/rules.hpp: reverse-mode differentiation of an expression type: the adjoint rule of every node kind.
//
// `backprop<Target, Gated>(e, g, found)` returns the expression of the gradient of the sum of
// g * e (g, the adjoint of e: an expression with e's axes or fewer) with respect to the array
// `Target` (grad/wrt.hpp), or `no_contribution` when e reads no array of Target's type and shape.
// Every rule builds ordinary expression nodes from copies of the node's operands and the incoming
// adjoint; where an operand lacks axes of its adjoint (it was broadcast), the adjoint is summed over
// them, broadcasting's adjoint. The result is evaluated by the same fused machinery as any
// expression (eval/assign.hpp): its reductions are hoisted or computed row by row.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>
#include <normfuse/expr/ops.hpp>
#include <normfuse/grad/derivative_ops.hpp>
#include <normfuse/grad/diagnostics.hpp>
#include <normfuse/grad/wrt.hpp>
#include <normfuse/reduce/reductions.hpp>

namespace nf::detail {

/// Stands for a zero gradient: the sub-expression does not read the array differentiated against.
struct no_contribution {};

template <class X>
inline constexpr bool is_contribution = !std::is_same_v<std::remove_cvref_t<X>, no_contribution>;

/// The sum of two contributions (either may be none).
template <class A, class B>
auto add_contributions(A&& a, B&& b) {
    if constexpr (!is_contribution<A>)
        return std::forward<B>(b);
    else if constexpr (!is_contribution<B>)
        return std::forward<A>(a);
    else
        return make_binary<op::plus>(std::forward<A>(a), std::forward<B>(b));
}

/// True when the leaf `E` is an array of Target's element type and shape.
template <class Target, class E>
constexpr bool matches_target() {
    if constexpr (E::kind == node_kind::terminal)
        return std::is_same_v<typename E::storage_type, typename Target::element_type> &&
               std::is_same_v<typename E::shape_type, typename Target::shape_type>;
    else
        return false;
}

/// The number of leaves of `E` that may be the array `Target`.
template <class Target, class E>
constexpr std::size_t target_leaves() {
    if constexpr (E::kind == node_kind::terminal)
        return matches_target<Target, E>() ? 1 : 0;
    else if constexpr (E::kind == node_kind::unary || E::kind == node_kind::reduction)
        return target_leaves<Target, std::remove_cvref_t<decltype(std::declval<E>().arg)>>();
    else if constexpr (E::kind == node_kind::binary)
        return target_leaves<Target, std::remove_cvref_t<decltype(std::declval<E>().left)>>() +
               target_leaves<Target, std::remove_cvref_t<decltype(std::declval<E>().right)>>();
    else
        return 0;
}

/// True when the node `E` has none of the axes `List` (its value is the same all along them).
template <class E, class List>
inline constexpr bool constant_along = axis_remove<List, typename E::axes>::size == List::size;

template <class E>
constexpr bool is_negation() {
    if constexpr (E::kind == node_kind::unary)
        return std::is_same_v<typename E::op, op::negate>;
    else
        return false;
}

/// True when `E` is `v - m` with m constant along the axes `Extra` and holding a reduction.
template <class E, class Extra>
constexpr bool centers_on_reduction() {
    if constexpr (E::kind != node_kind::binary) {
        return false;
    } else if constexpr (!std::is_same_v<typename E::op, op::minus>) {
        return false;
    } else {
        using M = std::remove_cvref_t<decltype(std::declval<E>().right)>;
        return constant_along<M, Extra> && has_reduction<M>();
    }
}

/// The sum of `g` over the axes `Extra`, with the factors of g that are constant along them taken
/// out of the sum: sum(dy * w * a) over C, a per-row factor a, is a * sum(dy * w). The sum then
/// reads no reduction of its own operand (a nested reduction would cost a pass over memory of its
/// own), and there is one rounding fewer.
template <class Extra, class G>
auto sum_over(G g) {
    if constexpr (G::kind == node_kind::binary) {
        using Op = typename G::op;
        using L = std::remove_cvref_t<decltype(g.left)>;
        using R = std::remove_cvref_t<decltype(g.right)>;
        if constexpr (std::is_same_v<Op, op::multiplies> && centers_on_reduction<R, Extra>())
            // sum(l * (v - m)) = sum(l * v) - m * sum(l): m, a reduction constant along the sum
            // (LayerNorm's mean in the adjoint of its scale), is then not inside the sum, which
            // stays row-local (eval/row_local.hpp). The products l * v round at |v|, not |v - m|:
            // the error of the forward's own x - mean(x) at large offsets.
            return make_binary<op::minus>(
                sum_over<Extra>(make_binary<op::multiplies>(g.left, std::move(g.right.left))),
                make_binary<op::multiplies>(std::move(g.right.right), sum_over<Extra>(std::move(g.left))));
        else if constexpr (std::is_same_v<Op, op::multiplies> && centers_on_reduction<L, Extra>())
            return make_binary<op::minus>(
                sum_over<Extra>(make_binary<op::multiplies>(std::move(g.left.left), g.right)),
                make_binary<op::multiplies>(std::move(g.left.right), sum_over<Extra>(std::move(g.right))));
        else if constexpr (std::is_same_v<Op, op::multiplies> && constant_along<L, Extra>)
            return make_binary<op::multiplies>(std::move(g.left), sum_over<Extra>(std::move(g.right)));
        else if constexpr (std::is_same_v<Op, op::multiplies> && constant_along<R, Extra>)
            return make_binary<op::multiplies>(sum_over<Extra>(std::move(g.left)), std::move(g.right));
        else if constexpr (std::is_same_v<Op, op::divides> && constant_along<R, Extra>)
            return make_binary<op::divides>(sum_over<Extra>(std::move(g.left)), std::move(g.right));
        else
            return [&]<class... Xs>(axis_list<Xs...>) {
                return make_reduction<reduction_kind::sum, Xs...>(std::move(g), 0.0);
            }(Extra{});
    } else if constexpr (is_negation<G>()) {
        return make_unary<op::negate>(sum_over<Extra>(std::move(g.arg)));
    } else {
        return [&]<class... Xs>(axis_list<Xs...>) {
            return make_reduction<reduction_kind::sum, Xs...>(std::move(g), 0.0);
        }(Extra{});
    }
}

/// `g` summed over its axes that `Axes` lacks (the adjoint of broadcasting to those axes).
template <class Axes, class G>
auto fit_adjoint(G&& g) {
    using Extra = axis_remove<typename std::remove_cvref_t<G>::axes, Axes>;
    if constexpr (Extra::size == 0)
        return std::forward<G>(g);
    else
        return sum_over<Extra>(std::remove_cvref_t<G>(std::forward<G>(g)));
}

/// The binary node `Op(l, r)` of two expressions (no operand checks: the operands come from one
/// valid expression).
template <class Op, class L, class R>
auto node(L l, R r) {
    return binary_expr<Op, L, R>(std::move(l), std::move(r));
}

/// The kind, reduced axes and operand of a reduction node.
template <class E>
struct reduction_parts;
template <reduction_kind R, class Reduced, class A>
struct reduction_parts<reduce_expr<R, Reduced, A>> {
    static constexpr reduction_kind kind = R;
    using reduced = Reduced;
};

/// The number of values each slot of the reduction `e` reduces.
template <class E, class... Xs>
double reduced_count(const E& e, axis_list<Xs...>) {
    double n = 1;
    ((n *= static_cast<double>(e.arg.template extent<Xs>())), ...);
    return n;
}

/// The reduction nodes' names in diagnostics.
template <reduction_kind R>
struct reduction_op {
    static constexpr std::string_view name = reduction_call<R>::name;
};

/// Where the leaves that are the array differentiated against are found, at run time.
template <class Target>
struct target_search {
    const Target* target;
    std::size_t found = 0;
};

template <class Target, bool Gated, class E, class G>
auto backprop(const E& e, G g, target_search<Target>& search);

/// The rule of a unary node `Op(a)` with adjoint `g`: the adjoint of a.
template <class Target, bool Gated, class E, class G>
auto backprop_unary(const E& e, G g, target_search<Target>& search) {
    using Op = typename E::op;
    using A = std::remove_cvref_t<decltype(e.arg)>;
    auto child = [&](auto adjoint) { return backprop<Target, Gated>(e.arg, std::move(adjoint), search); };
    if constexpr (std::is_same_v<Op, op::negate>)
        return child(make_unary<op::negate>(std::move(g)));
    else if constexpr (std::is_same_v<Op, op::square_root>)
        return child(node<op::sqrt_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::reciprocal_sqrt>)
        return child(node<op::rsqrt_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::exponential>)
        return child(node<op::exp_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::logarithm>)
        return child(node<op::log_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::absolute>)
        return child(node<op::abs_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::square>)
        return child(node<op::square_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::rectifier>)
        return child(node<op::relu_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::logistic>)
        return child(node<op::sigmoid_backward>(std::move(g), A(e.arg)));
    else if constexpr (std::is_same_v<Op, op::hyperbolic_tangent>)
        return child(node<op::tanh_backward>(std::move(g), A(e.arg)));
    else if constexpr (is_cast_op<Op> && std::is_same_v<typename E::element_type, typename A::element_type>)
        return child(std::move(g)); // a cast to the operand's own type passes values unchanged
    else {
        (void)sizeof(error::no_derivative_rule<no_derivative_message<Op>(), Op>);
        return no_contribution{};
    }
}

/// The rule of a binary node `Op(l, r)` with adjoint `g`: the adjoints of l and r.
template <class Target, bool Gated, class E, class G>
auto backprop_binary(const E& e, G g, target_search<Target>& search) {
    using Op = typename E::op;
    using L = std::remove_cvref_t<decltype(e.left)>;
    using R = std::remove_cvref_t<decltype(e.right)>;
    constexpr bool in_left = target_leaves<Target, L>() != 0;
    constexpr bool in_right = target_leaves<Target, R>() != 0;
    auto left = [&](auto adjoint) {
        if constexpr (in_left)
            return backprop<Target, Gated>(e.left, fit_adjoint<typename L::axes>(std::move(adjoint)), search);
        else
            return no_contribution{};
    };
    auto right = [&](auto adjoint) {
        if constexpr (in_right)
            return backprop<Target, Gated>(e.right, fit_adjoint<typename R::axes>(std::move(adjoint)), search);
        else
            return no_contribution{};
    };
    // Each side's adjoint is built only when that side reads the array (lambdas that are not called
    // instantiate nothing).
    if constexpr (std::is_same_v<Op, op::plus>) {
        return add_contributions(left(g), right(g));
    } else if constexpr (std::is_same_v<Op, op::minus>) {
        auto dl = [&] { return left(g); };
        auto dr = [&] {
            if constexpr (in_right)
                return right(make_unary<op::negate>(g));
            else
                return no_contribution{};
        };
        return add_contributions(dl(), dr());
    } else if constexpr (std::is_same_v<Op, op::multiplies>) {
        // PyTorch: grad * other, grad * self
        auto dl = [&] {
            if constexpr (in_left)
                return left(node<op::multiplies>(g, R(e.right)));
            else
                return no_contribution{};
        };
        auto dr = [&] {
            if constexpr (in_right)
                return right(node<op::multiplies>(g, L(e.left)));
            else
                return no_contribution{};
        };
        return add_contributions(dl(), dr());
    } else if constexpr (std::is_same_v<Op, op::divides>) {
        // PyTorch: grad / other, -grad * ((self / other) / other)
        auto dl = [&] {
            if constexpr (in_left)
                return left(node<op::divides>(g, R(e.right)));
            else
                return no_contribution{};
        };
        auto dr = [&] {
            if constexpr (in_right)
                return right(make_unary<op::negate>(
                    node<op::multiplies>(g, node<op::divides>(node<op::divides>(L(e.left), R(e.right)), R(e.right)))));
            else
                return no_contribution{};
        };
        return add_contributions(dl(), dr());
    } else if constexpr (std::is_same_v<Op, op::maximum> || std::is_same_v<Op, op::minimum>) {
        constexpr bool is_max = std::is_same_v<Op, op::maximum>;
        auto dl = [&] {
            if constexpr (in_left)
                return left(node<op::multiplies>(g, node<op::extremum_share<is_max, true>>(L(e.left), R(e.right))));
            else
                return no_contribution{};
        };
        auto dr = [&] {
            if constexpr (in_right)
                return right(node<op::multiplies>(g, node<op::extremum_share<is_max, false>>(L(e.left), R(e.right))));
            else
                return no_contribution{};
        };
        return add_contributions(dl(), dr());
    } else {
        (void)sizeof(error::no_derivative_rule<no_derivative_message<Op>(), Op>);
        return no_contribution{};
    }
}

/// The rule of a reduction over the axes `Reduced` of `a`, with adjoint `g` over the kept axes:
/// g broadcast back over `Reduced` (divided by the count for a mean; for a variance, PyTorch's
/// (2 / (n - correction)) * g * (a - mean(a))).
template <class Target, bool Gated, class E, class G>
auto backprop_reduction(const E& e, G g, target_search<Target>& search) {
    using parts = reduction_parts<E>;
    using A = std::remove_cvref_t<decltype(e.arg)>;
    using Reduced = typename parts::reduced;
    if constexpr (parts::kind == reduction_kind::sum) {
        return backprop<Target, Gated>(e.arg, std::move(g), search);
    } else if constexpr (parts::kind == reduction_kind::mean) {
        const double n = reduced_count(e, Reduced{});
        return backprop<Target, Gated>(e.arg, make_binary<op::divides>(std::move(g), n), search);
    } else if constexpr (parts::kind == reduction_kind::var) {
        const double n = reduced_count(e, Reduced{});
        auto centered = [&]<class... Xs>(axis_list<Xs...>) {
            return node<op::minus>(A(e.arg), make_reduction<reduction_kind::mean, Xs...>(A(e.arg), 0.0));
        }(Reduced{});
        auto scaled = make_binary<op::multiplies>(2.0 / (n - e.param), std::move(g));
        return backprop<Target, Gated>(e.arg, node<op::multiplies>(std::move(scaled), std::move(centered)), search);
    } else {
        using Op = reduction_op<parts::kind>;
        (void)sizeof(error::no_derivative_rule<no_derivative_message<Op>(), Op>);
        return no_contribution{};
    }
}

/// The bits of a mask of keep_if: all set (keep) or none (drop), in the compute type `V`.
template <class V>
V keep_mask(bool keep) {
    using U = std::conditional_t<sizeof(V) == 8, std::uint64_t, std::uint32_t>;
    return std::bit_cast<V>(keep ? ~U(0) : U(0));
}

template <class Target, bool Gated, class E, class G>
auto backprop(const E& e, G g, target_search<Target>& search) {
    if constexpr (target_leaves<Target, E>() == 0) {
        return no_contribution{};
    } else if constexpr (E::kind == node_kind::terminal) {
        const bool same = e.data() == search.target->data && e.extents().values() == search.target->extents;
        search.found += same ? 1 : 0;
        auto fitted = fit_adjoint<typename E::axes>(std::move(g));
        if constexpr (!Gated) {
            return fitted;
        } else {
            // Another operand of the same type and shape may be another array: the contribution of
            // each is kept or dropped by a mask decided here, at run time (one `and` per value).
            using F = decltype(fitted);
            using S = scalar<typename F::element_type>;
            return node<op::keep_if>(std::move(fitted), S{{}, keep_mask<typename S::value_type>(same)});
        }
    } else if constexpr (E::kind == node_kind::unary) {
        return backprop_unary<Target, Gated>(e, std::move(g), search);
    } else if constexpr (E::kind == node_kind::binary) {
        return backprop_binary<Target, Gated>(e, std::move(g), search);
    } else {
        return backprop_reduction<Target, Gated>(e, std::move(g), search);
    }
}

} // namespace nf::detail
