// normfuse/reduce/reductions.hpp: sum, mean and variance over named axes, as expressions that broadcast back by name.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/nodes.hpp>
#include <normfuse/reduce/accumulate.hpp>

namespace nf {

namespace detail {
/// `inv_rms` is 1 / sqrt(mean(x^2) + eps), computed in double and rounded once: RMSNorm's scale
/// (nn::rms_norm builds it with detail::inv_rms; it is not part of the public API). `row_shift`,
/// `row_scale` and `row_offset` are LayerNorm's per-row coefficients, in double and rounded once:
/// k (the slot's first value), a = 1 / sqrt(var + eps) and -(mean - k) * a, so that
/// (x - k) * a + offset is the normalized x with an exact subtraction (nn::layer_norm).
enum class reduction_kind { sum, mean, var, inv_rms, row_shift, row_scale, row_offset };

struct sum_call {
    static constexpr std::string_view name = "nf::sum";
};
struct mean_call {
    static constexpr std::string_view name = "nf::mean";
};
struct var_call {
    static constexpr std::string_view name = "nf::var";
};
struct inv_rms_call {
    static constexpr std::string_view name = "nn::rms_norm";
};
struct layer_norm_call {
    static constexpr std::string_view name = "nn::layer_norm";
};
template <reduction_kind R>
using reduction_call = std::conditional_t<
    R == reduction_kind::sum, sum_call,
    std::conditional_t<
        R == reduction_kind::mean, mean_call,
        std::conditional_t<R == reduction_kind::var, var_call,
                           std::conditional_t<R == reduction_kind::inv_rms, inv_rms_call, layer_norm_call>>>>;
} // namespace detail

/// A reduction over the axes `Reduced` of `A`: the result has A's other axes. It is computed once,
/// in one read of A with double accumulation, before the loop that uses it, or slot by slot inside
/// that loop (eval/row_local.hpp). The variance sums v - k and (v - k)^2 with k one of the slot's
/// values (its mean, from a second read, when the operand holds a reduction), so it is exact to
/// double rounding, but for about log2(count) bits, even when |mean| >> std.
template <detail::reduction_kind R, class Reduced, Expression A>
struct reduce_expr : detail::expression_tag {
    static constexpr detail::node_kind kind = detail::node_kind::reduction;
    using element_type = typename A::element_type;
    using value_type = typename A::value_type;
    using axes = axis_remove<typename A::axes, Reduced>;
    using all_axes = typename A::all_axes;
    using reduced_axes = Reduced;
    A arg;
    double param = 0; // var: the divisor is (count - param); inv_rms, row_scale, row_offset: the eps

    /// Non-zero for the reductions one slot's shifted sums give (a distinct number for each kind):
    /// row-local evaluation computes the sums once for those of an expression over the same
    /// operand (eval/row_local.hpp).
    static constexpr int moments_role =
        R == detail::reduction_kind::sum || R == detail::reduction_kind::inv_rms ? 0 : static_cast<int>(R) + 1;
    /// Kinds computed from shifted sums (all those with a role but the mean, which sums plainly
    /// on its own).
    static constexpr bool from_shifted_sums = moments_role != 0 && R != detail::reduction_kind::mean;
    /// A slot of this kind sums the squares of its values (else the values, or shifted moments).
    static constexpr bool sums_squares = R == detail::reduction_kind::inv_rms;

    /// The value of a slot of `length` values from its plain sums: s1 = sum v, s2 = sum v^2 (those
    /// of the kinds without shifted sums; slot_value's arithmetic, for fused slot sums, eval/row_local.hpp).
    static value_type from_plain_sums(double s1, double s2, std::size_t length, double param) {
        if constexpr (R == detail::reduction_kind::inv_rms)
            return static_cast<value_type>(1.0 / std::sqrt(s2 / static_cast<double>(length) + param));
        else if constexpr (R == detail::reduction_kind::sum)
            return static_cast<value_type>(s1);
        else
            return static_cast<value_type>(s1 / static_cast<double>(length));
    }

    template <Axis X>
    std::size_t extent() const {
        return arg.template extent<X>();
    }

    /// The same reduction of another operand (eval/blocked.hpp cuts operands into boxes).
    template <Expression A2>
    reduce_expr<R, Reduced, A2> with_arg(A2 a) const {
        return {{}, std::move(a), param};
    }

    /// Writes the result into `out`, laid out as `LA` (this node's axes, in any order).
    template <class Arch, class LA>
    void materialize(value_type* out, const std::array<std::size_t, LA::size>& lext,
                     detail::scratch_arena& arena) const {
        using OA = typename A::axes;
        const std::array<std::size_t, OA::size> ext = operand_extents(OA{});
        std::size_t slots = 1, total = 1;
        for (auto v : lext) slots *= v;
        for (auto v : ext) total *= v;
        const double count = slots ? static_cast<double>(total / slots) : 0.0;
        if constexpr (from_shifted_sums) {
            double *k = nullptr, *c1 = nullptr, *c2 = nullptr;
            const std::size_t n = shifted_sums<Arch, LA>(lext, arena, k, c1, c2);
            for (std::size_t s = 0; s < slots; ++s) out[s] = from_sums(k[s], c1[s], c2[s], n, param);
            return;
        }
        double* s1 = arena.template allocate<double>(slots); // the sums of the other kinds
        std::fill_n(s1, slots, 0.0);
        if constexpr (R == detail::reduction_kind::inv_rms) {
            detail::accumulate<Arch, OA, LA, detail::sums::squares>(arg, ext, nullptr, nullptr, s1, arena);
            for (std::size_t s = 0; s < slots; ++s)
                out[s] = static_cast<value_type>(1.0 / std::sqrt(s1[s] / count + param));
            return;
        }
        detail::accumulate<Arch, OA, LA, detail::sums::plain>(arg, ext, nullptr, s1, nullptr, arena);
        if constexpr (R == detail::reduction_kind::sum) {
            for (std::size_t s = 0; s < slots; ++s) out[s] = static_cast<value_type>(s1[s]);
        } else {
            for (std::size_t s = 0; s < slots; ++s) out[s] = static_cast<value_type>(s1[s] / count);
        }
    }

    /// The shifted sums of every slot, laid out as `LA`, in arrays from the arena: k, the slot's
    /// first value (the operand looped over the kept axes with every reduced axis cut to its first
    /// index), or its mean (one more read) when the operand holds a reduction; c1 = sum (v - k);
    /// c2 = sum (v - k)^2. Returns the number of values per slot.
    template <class Arch, class LA>
    std::size_t shifted_sums(const std::array<std::size_t, LA::size>& lext, detail::scratch_arena& arena, double*& k,
                             double*& c1, double*& c2) const {
        using OA = typename A::axes;
        const std::array<std::size_t, OA::size> ext = operand_extents(OA{});
        std::size_t slots = 1, total = 1;
        for (auto v : lext) slots *= v;
        for (auto v : ext) total *= v;
        const std::size_t n = slots ? total / slots : 0;
        k = arena.template allocate<double>(slots);
        c1 = arena.template allocate<double>(slots);
        c2 = arena.template allocate<double>(slots);
        std::fill_n(k, slots, 0.0);
        std::fill_n(c1, slots, 0.0);
        std::fill_n(c2, slots, 0.0);
        if constexpr (!detail::has_reduction<A>()) {
            std::array<std::size_t, OA::size> first = ext;
            for (std::size_t p : detail::positions_in<Reduced, OA>::value)
                first[p] = std::min<std::size_t>(first[p], 1);
            detail::accumulate<Arch, OA, LA, detail::sums::plain>(arg, first, nullptr, k, nullptr, arena);
        } else {
            detail::accumulate<Arch, OA, LA, detail::sums::plain>(arg, ext, nullptr, k, nullptr, arena);
            for (std::size_t s = 0; s < slots; ++s) k[s] /= static_cast<double>(n);
        }
        for (std::size_t s = 0; s < slots; ++s) k[s] = detail::usable_shift(k[s]);
        detail::accumulate<Arch, OA, LA, detail::sums::moments>(arg, ext, k, c1, c2, arena);
        return n;
    }

    /// The extents of the operand, in the order of its axes.
    std::array<std::size_t, A::axes::size> operand_extents() const { return operand_extents(typename A::axes{}); }

    /// The reduction of one slot, for row-local evaluation (eval/row_local.hpp): the outer index
    /// `slot` of the loop PR over the bound operand, whose run (`length` elements) is the reduced
    /// axes. The same arithmetic as `materialize` (the operand holds no reduction here).
    template <class PR, class Bound>
    static value_type slot_value(Bound& operand, const detail::outer_index<PR::outer>& slot, std::size_t length,
                                 std::size_t chunk, double param) {
        using Arch = typename PR::arch;
        operand.seek(slot);
        double s1 = 0, unused = 0;
        if constexpr (R == detail::reduction_kind::inv_rms) {
            detail::sum_run<Arch, detail::sums::squares, PR>(operand, 0, length, chunk, 0.0, unused, s1);
            return static_cast<value_type>(1.0 / std::sqrt(s1 / static_cast<double>(length) + param));
        }
        const double count = static_cast<double>(length);
        if constexpr (from_shifted_sums) {
            double k = 0, c1 = 0, c2 = 0;
            slot_sums<PR>(operand, slot, length, chunk, k, c1, c2);
            return from_sums(k, c1, c2, length, param);
        } else {
            detail::sum_run<Arch, detail::sums::plain, PR>(operand, 0, length, chunk, 0.0, s1, unused);
            if constexpr (R == detail::reduction_kind::sum)
                return static_cast<value_type>(s1);
            else
                return static_cast<value_type>(s1 / count);
        }
    }

    /// The shifted sums of one slot (as `slot_value` takes it), in one read: k, the slot's first
    /// value, c1 = sum (v - k) and c2 = sum (v - k)^2 (see reduce/moments.hpp). Since k is one of
    /// the slot's values, (mean - k)^2 <= n * variance, and c2 - c1^2 / n loses at most about
    /// log2(n) bits of a double, far below float's rounding.
    template <class PR, class Bound>
    static void slot_sums(Bound& operand, const detail::outer_index<PR::outer>& slot, std::size_t length,
                          std::size_t chunk, double& k, double& c1, double& c2) {
        operand.seek(slot);
        c1 = c2 = 0;
        k = 0;
        if (length == 0) return; // no value to read: the sums of an empty slot are 0 (its mean NaN)
        k = detail::usable_shift(static_cast<double>(operand.load_scalar(0, 0)));
        detail::sum_run<typename PR::arch, detail::sums::moments, PR>(operand, 0, length, chunk, k, c1, c2);
    }

    /// The value of a slot of `length` values from its shifted sums (kinds with a moments_role).
    /// LayerNorm's coefficients use the arithmetic of nf::detail::slot_moments, as its other path.
    static value_type from_sums(double k, double c1, double c2, std::size_t length, double param) {
        static_assert(moments_role != 0);
        const double count = static_cast<double>(length);
        if constexpr (R == detail::reduction_kind::mean) {
            return static_cast<value_type>(k + c1 / count);
        } else if constexpr (R == detail::reduction_kind::var) {
            // PyTorch's divisor, max(0, count - correction): 0 / 0 = NaN for no value, or one value
            // unbiased (count - param would give -0 for none)
            return static_cast<value_type>(detail::nonnegative_or_nan(c2 - c1 * c1 / count) /
                                           std::max(0.0, count - param));
        } else if constexpr (R == detail::reduction_kind::row_shift) {
            return static_cast<value_type>(k);
        } else {
            const double d = c1 / count;
            const double a = 1.0 / std::sqrt(detail::nonnegative_or_nan(c2 / count - d * d) + param);
            return static_cast<value_type>(R == detail::reduction_kind::row_scale ? a : -d * a);
        }
    }

private:
    template <class... Xs>
    std::array<std::size_t, sizeof...(Xs)> operand_extents(axis_list<Xs...>) const {
        const std::array<std::size_t, sizeof...(Xs)> ext{arg.template extent<Xs>()...};
        // The operand's iteration space: each array in it fits, but operands broadcast against
        // each other (x over A times y over B) may span more values than std::size_t counts.
        bool overflow = false;
        (void)detail::nonzero_product(ext, overflow);
        if (overflow)
            detail::raise_length(std::string(detail::reduction_call<R>::name) +
                                 ": the operand's extents multiply to more values than std::size_t counts");
        return ext;
    }
};

namespace detail {

/// (A deduced return type: clang instantiates it where it is called, and its diagnostic shows the
/// chain of calls back to the user's line; see report_incompatible in expr/nodes.hpp.)
template <class Call, class OA, class... Rs>
auto report_missing_reduced_axis() {
    [[maybe_unused]] auto one = []<class X>(X*) {
        if constexpr (!contains<X, OA>)
            (void)sizeof(error::reduce_axis_missing<missing_axis_message<Call, X>(" is not an axis of the operand",
                                                                                  "; reduce only over its axes"),
                                                    Call, X, OA>);
    };
    (one(static_cast<Rs*>(nullptr)), ...);
}

template <reduction_kind R, class... Rs, class X>
auto make_reduction(X&& x, double param) {
    auto a = as_expression(std::forward<X>(x));
    using AE = decltype(a);
    static_assert(!has_strided_leaf<AE>(), "normfuse: reductions over an nf::strided_view are not supported in this "
                                           "version; copy the view into a tensor first and reduce over that");
    using OA = typename AE::axes;
    if constexpr (std::is_same_v<AE, invalid_expression>) {
        return invalid_expression{};
    } else if constexpr (!FloatingElement<typename AE::element_type>) {
        report_integer_operand<reduction_call<R>, typename AE::element_type>();
        return invalid_expression{};
    } else if constexpr ((contains<Rs, OA> && ...) && !has_duplicate_axis<axis_list<Rs...>>) {
        return reduce_expr<R, axis_list<axis_id<Rs>...>, AE>{{}, std::move(a), param};
    } else {
        report_missing_reduced_axis<reduction_call<R>, OA, Rs...>();
        return invalid_expression{};
    }
}

/// 1 / sqrt(mean(x^2) + eps) over the named axes, in double (RMSNorm's scale; see reduction_kind).
template <Axis... Rs, ArrayOperand X>
auto inv_rms(X&& x, double eps) {
    return make_reduction<reduction_kind::inv_rms, Rs...>(std::forward<X>(x), eps);
}

/// LayerNorm's per-row coefficients over the named axes (see reduction_kind): k, the first value;
/// 1 / sqrt(var + eps); -(mean - k) / sqrt(var + eps). In one expression over the same operand
/// they share one read of each row (eval/row_local.hpp).
template <Axis... Rs, ArrayOperand X>
auto row_shift(X&& x) {
    return make_reduction<reduction_kind::row_shift, Rs...>(std::forward<X>(x), 0.0);
}
template <Axis... Rs, ArrayOperand X>
auto row_scale(X&& x, double eps) {
    return make_reduction<reduction_kind::row_scale, Rs...>(std::forward<X>(x), eps);
}
template <Axis... Rs, ArrayOperand X>
auto row_offset(X&& x, double eps) {
    return make_reduction<reduction_kind::row_offset, Rs...>(std::forward<X>(x), eps);
}

} // namespace detail

/// Sum over the named axes: `nf::sum<H, W>(x)` (or `nf::sum<H<>, W<>>(x)`) has x's other axes.
template <Axis... Rs, ArrayOperand X>
auto sum(X&& x) {
    return detail::make_reduction<detail::reduction_kind::sum, Rs...>(std::forward<X>(x), 0);
}
template <template <std::size_t> class... Rs, ArrayOperand X>
auto sum(X&& x) {
    return sum<Rs<dynamic_extent>...>(std::forward<X>(x));
}

/// Mean over the named axes: `nf::mean<N, H, W>(x)` of an NCHW or NHWC x is a tensor over C.
template <Axis... Rs, ArrayOperand X>
auto mean(X&& x) {
    return detail::make_reduction<detail::reduction_kind::mean, Rs...>(std::forward<X>(x), 0);
}
template <template <std::size_t> class... Rs, ArrayOperand X>
auto mean(X&& x) {
    return mean<Rs<dynamic_extent>...>(std::forward<X>(x));
}

/// Divisor choice for nf::var: biased (divides by the count, as normalization layers do) or
/// unbiased (count - 1, as running statistics store).
struct variance_correction {
    double value;
};
inline constexpr variance_correction biased{0.0};
inline constexpr variance_correction unbiased{1.0};

/// Variance over the named axes (biased unless `nf::unbiased` is given).
template <Axis... Rs, ArrayOperand X>
auto var(X&& x, variance_correction c = biased) {
    return detail::make_reduction<detail::reduction_kind::var, Rs...>(std::forward<X>(x), c.value);
}
template <template <std::size_t> class... Rs, ArrayOperand X>
auto var(X&& x, variance_correction c = biased) {
    return var<Rs<dynamic_extent>...>(std::forward<X>(x), c);
}

} // namespace nf
