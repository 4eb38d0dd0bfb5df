// normfuse/nn/rms_norm.hpp: RMSNorm, x * rsqrt(mean(x^2) + eps) * weight, over named axes.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/layer_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/nn/half_rows.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>

namespace nf::nn {

/// `eps = std::nullopt` takes the machine epsilon of T, as torch.nn.RMSNorm does.
struct rms_norm_options {
    std::optional<double> eps = std::nullopt;
    bool elementwise_affine = true;
};

namespace detail {
/// The body of nf::nn::functional::rms_norm and of the layer, on views (HasW: a weight is given).
/// Call names the call in messages (Call::name), compile-time ones included.
template <class Arch, bool HasW, class Call, class NS, class X, class Out, class T>
void rms_norm_views(const X& x, const Out& out, const nf::extents<NS>& ns, param_ref<T> w, double eps) {
    using XL = typename X::axes;
    using norm_axes = typename NS::axes;
    constexpr std::string_view call = Call::name;
    static_assert(is_subset<norm_axes, XL>,
                  "normfuse: nn::rms_norm::forward: the input lacks an axis of the normalized shape");
    if constexpr (is_subset<norm_axes, XL> && check_normalized_axes<Call, norm_axes, XL>()) {
        using SL = axis_remove<XL, norm_axes>;
        check_normalized_extents<norm_axes>(call, x, ns.values());
        check_output(call, x, out);
        check_normalized_parameter(call, "weight", w, ns);
        if (x.size() == 0) return; // no slot (a zero extent outside the normalized shape)
        if constexpr (trailing_rows<norm_axes, XL, typename Out::axes>() && nf::detail::is_half_element_v<T>) {
            // Contiguous 16-bit rows: float sums of squares, one output pass (nn/half_rows.hpp).
            half_rows_forward<Arch, false, HasW, false>(x.data(), out.data(), x.size() / ns.size(), ns.size(),
                                                        HasW ? w.data : nullptr, static_cast<const T*>(nullptr), eps);
            return;
        } else if constexpr (trailing_rows<norm_axes, XL, typename Out::axes>()) {
            // Each slot is a contiguous row: one pass over x, the row's 1 / sqrt(mean(x^2) + eps)
            // computed in double when the loop reaches it (eval/row_local.hpp), and the row
            // written while it is in L1.
            using RS = nf::detail::slot_axes::slot_inner<>;
            using RR = nf::detail::slot_axes::reduced_inner<>;
            using S2 = nf::shape<RS, RR>;
            const std::size_t row = ns.size(), rows = x.size() / row;
            const auto e2 = nf::extents<S2>::from_all({rows, row});
            const view<const T, S2> xv(x.data(), e2);
            const view<T, S2> ov(out.data(), e2);
            const auto r = nf::detail::inv_rms<RR>(xv, eps);
            if constexpr (HasW)
                write<Arch>(ov, xv * r * view<const T, nf::shape<RR>>(w.data, {row}), store_kind::automatic);
            else
                write<Arch>(ov, xv * r, store_kind::automatic);
            return;
        }

        const std::size_t slots = x.size() / ns.size();
        using CT = compute_t<T>;
        slot_scratch<CT> buf(slots, slots);
        // Canonical slot views need the weight laid out as the input's own axes.
        constexpr bool canonical = same_order<norm_axes, XL>();
        for_slot_blocks<SL, canonical>(
            x, out,
            [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                nf::detail::scratch_arena arena;
                nf::detail::slot_moments<Arch, KL, true>(xv, nullptr, buf.centered + s0, buf.variance + s0, arena);
                for (std::size_t s = s0; s < s1; ++s)
                    buf.scale[s] = static_cast<CT>(1.0 / std::sqrt(buf.variance[s] + eps));
                const auto r = slot_view<KL>(buf.scale + s0, xv);
                if constexpr (!HasW) {
                    write<Arch>(ov, widened(xv) * r, store);
                } else if constexpr (std::is_same_v<KL, nf::detail::slot_kept>) {
                    write<Arch>(ov, widened(xv) * r * widened(slot_view<nf::detail::slot_reduced>(w.data, xv)), store);
                } else {
                    write<Arch>(ov, widened(xv) * r * widened(view<const T, NS>(w.data, ns)), store);
                }
            });
    }
}
} // namespace detail

namespace functional {

/// RMSNorm over caller-owned memory, written into `out`: `x * rsqrt(mean(x^2) + eps) * weight`, the
/// mean over the axes of `normalized_shape` (named, any position in x), as
/// `torch.nn.functional.rms_norm(input, normalized_shape, weight, eps)` of later PyTorch versions:
/// `eps = std::nullopt` takes the machine epsilon of the element type. weight is laid out as the
/// normalized shape (a tensor or view, read-only is fine), an std::optional of one, or std::nullopt.
template <class Arch = xsimd::default_arch, Array X, Array Out, class NS, class W = const std::nullopt_t&>
void rms_norm(const X& x, Out&& out, const nf::extents<NS>& normalized_shape, W&& weight = std::nullopt,
              std::optional<double> eps = std::nullopt) {
    using T = typename std::remove_cvref_t<X>::value_type;
    const auto w = nf::nn::detail::param_of<T, typename NS::axes>(std::forward<W>(weight));
    const double e = eps ? *eps : nf::nn::detail::machine_epsilon<T>();
    const auto xv = nf::nn::detail::input_view(x);
    const auto ov = nf::nn::detail::output_view(out);
    using Call = nf::nn::detail::functional_rms_norm_call;
    if (w.present)
        nf::nn::detail::rms_norm_views<Arch, true, Call>(xv, ov, normalized_shape, w, e);
    else
        nf::nn::detail::rms_norm_views<Arch, false, Call>(xv, ov, normalized_shape, w, e);
}

} // namespace functional

/// Root-mean-square normalization, `y = x * rsqrt(mean(x^2) + eps) * weight`, the mean taken over
/// the axes of `NormShape` (one value per value of the other axes); no mean subtraction, no bias.
/// The mean of squares is accumulated in double. With T = nf::bf16 or nf::fp16 (input, weight and
/// output), the values are widened to float (over trailing axes, the squares summed in float blocks
/// added into double, within float's rounding of the double sum: nn/half_rows.hpp), computed in
/// float and rounded once, on the store.
template <class T, class NormShape>
class rms_norm : public detail::layer_calls<rms_norm<T, NormShape>> {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::rms_norm<T, ...>: T must be float, double, nf::bf16 or nf::fp16");

public:
    using value_type = T;
    using norm_axes = typename NormShape::axes;
    using parameter_tensor = tensor<T, NormShape>;

    explicit rms_norm(const nf::extents<NormShape>& normalized_shape, rms_norm_options options = {})
        : extents_(normalized_shape), options_(options),
          eps_(options.eps ? *options.eps : detail::machine_epsilon<T>()) {
        if (extents_.size() == 0)
            nf::detail::raise_invalid("nn::rms_norm: the normalized shape must have no zero extent");
        if (options_.elementwise_affine) {
            weight_ = parameter_tensor(extents_, T(1));
            weight_grad_ = parameter_tensor(extents_, T(0));
        }
    }
    rms_norm(std::initializer_list<std::size_t> dynamic_extents, rms_norm_options options = {})
        : rms_norm(nf::extents<NormShape>(dynamic_extents), options) {}
    rms_norm() requires(NormShape::dynamic_count == 0) : rms_norm(nf::extents<NormShape>()) {}

    double eps() const noexcept { return eps_; }
    parameter_tensor& weight() {
        if (!options_.elementwise_affine)
            nf::detail::raise_logic("nn::rms_norm: the layer has no weight (built without elementwise_affine)");
        return weight_;
    }
    const parameter_tensor& weight() const { return const_cast<rms_norm&>(*this).weight(); }

    /// The gradient of weight (only with elementwise_affine), as PyTorch's `weight.grad`: zero
    /// after construction, summed over backward calls until zero_grad().
    parameter_tensor& weight_grad() {
        if (!options_.elementwise_affine)
            nf::detail::raise_logic("nn::rms_norm: the layer has no weight_grad (built without elementwise_affine)");
        return weight_grad_;
    }
    const parameter_tensor& weight_grad() const { return const_cast<rms_norm&>(*this).weight_grad(); }
    void zero_grad() {
        if (options_.elementwise_affine) weight_grad_ = T(0);
    }

    /// The backward of forward(x, out): writes the gradient of the input into dx (laid out as x,
    /// same extents; may be dy) and, with elementwise_affine, adds that of weight to weight_grad()
    /// (`options` switch either). The normalized axes must be the trailing axes of x (rows); each
    /// row's mean square is recomputed while the row is in L1. Checks everything before writing.
    template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX>
    auto backward(const X& x, const DY& dy, DX&& dx, backward_options options = {}) {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::rms_norm::backward"));
        constexpr bool ok =
            nf::nn::detail::row_backward_ok<norm_axes, X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>;
        static_assert(ok, NF_ROW_BACKWARD_RULE("nn::rms_norm::backward"));
        if constexpr (nf::nn::detail::backward_element_ok<T> && ok) {
            using P = nf::nn::detail::param_ref<T>;
            P w, dw;
            if (options_.elementwise_affine) {
                nf::nn::detail::check_parameter_extents("nn::rms_norm", "weight", weight_, extents_);
                nf::nn::detail::check_parameter_extents("nn::rms_norm", "weight_grad", weight_grad_, extents_);
                w = nf::nn::detail::param_of<T, norm_axes>(std::as_const(weight_));
                dw = nf::nn::detail::param_of<T, norm_axes>(weight_grad_);
            }
            nf::nn::detail::row_norm_backward_views<Arch, false>(
                "nn::rms_norm::backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
                nf::nn::detail::output_view(dx), extents_, w, eps_, dw, P{}, options);
        }
    }

private:
    friend class detail::layer_calls<rms_norm<T, NormShape>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view). The layer has no state that a
    // forward changes: every call is the const one.
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) const {
        if (options_.elementwise_affine) {
            // Axis by axis, not only the element count: the weight can be reassigned whole.
            nf::nn::detail::check_parameter_extents("nn::rms_norm", "weight", weight_, extents_);
            nf::nn::detail::rms_norm_views<Arch, true, nf::nn::detail::rms_norm_call>(
                x, out, extents_, nf::nn::detail::param_of<T, norm_axes>(weight_), eps_);
        } else {
            nf::nn::detail::rms_norm_views<Arch, false, nf::nn::detail::rms_norm_call>(
                x, out, extents_, nf::nn::detail::param_ref<T>{}, eps_);
        }
    }

    nf::extents<NormShape> extents_;
    rms_norm_options options_;
    double eps_;
    parameter_tensor weight_, weight_grad_;
};

} // namespace nf::nn
