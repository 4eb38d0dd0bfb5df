// normfuse/nn/layer_norm.hpp: LayerNorm with PyTorch 1.13 semantics, over named axes instead of trailing positions.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>

namespace nf::nn {

struct layer_norm_options {
    double eps = 1e-5;
    bool elementwise_affine = true;
};

namespace detail {
/// Throws unless x has the layer's normalized extents (PyTorch's normalized_shape check).
template <class NormAxes, class X, class E>
void check_normalized_extents(std::string_view call, const X& x, const E& norm_extents) {
    bool ok = true;
    [&]<class... As>(axis_list<As...>) {
        std::size_t i = 0;
        ((ok = ok && x.template extent<As>() == norm_extents[i++]), ...);
    }(NormAxes{});
    if (!ok) {
        constexpr auto names = extents<shape_from<NormAxes>>::names();
        nf::detail::raise_extent(std::string(call) + ": given normalized shape " +
                                 nf::detail::describe_extents(names.data(), norm_extents.data(), names.size()) +
                                 ", expected input with those extents, but got input of size " + describe(x));
    }
}

/// Compile-time rule of LayerNorm's and RMSNorm's input: an axis of the normalized shape whose
/// extent is static in both the layer's type (left) and the input's (right) must agree, as
/// BatchNorm's C does (see check_channels). Reports every such axis and returns false if any
/// disagrees.
template <class Call, class A, class XL>
constexpr bool check_normalized_axis() {
    if constexpr (contains<A, XL>) {
        using XA = find_axis_t<A, XL>;
        if constexpr (A::is_static && XA::is_static && A::extent != XA::extent) {
            (void)sizeof(
                nf::error::axis_extent_mismatch<nf::detail::extent_mismatch_message<Call, A, XA>(), Call, A, XA>);
            return false;
        }
    }
    return true;
}
template <class Call, class NormAxes, class XL>
constexpr bool check_normalized_axes() {
    // Every axis is checked (no short circuit), so that each mismatch is reported.
    return []<class... As>(axis_list<As...>) {
        return ((check_normalized_axis<Call, As, XL>() ? 0 : 1) + ... + 0) == 0;
    }(NormAxes{});
}

struct layer_norm_call {
    static constexpr std::string_view name = "nn::layer_norm::forward";
};
struct rms_norm_call {
    static constexpr std::string_view name = "nn::rms_norm::forward";
};
} // namespace detail

/// Layer normalization as PyTorch 1.13's LayerNorm: mean and biased variance over the axes of
/// `NormShape` (PyTorch's normalized_shape, named instead of trailing), one set per value of the
/// other axes, then an element-wise affine `* weight + bias` with weight and bias laid out as
/// NormShape. The mode has no effect and there are no running statistics.
template <class T, class NormShape>
class layer_norm : public detail::layer_calls<layer_norm<T, NormShape>> {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nn::layer_norm<T, ...>: T must be float or double");

public:
    using value_type = T;
    using norm_axes = typename NormShape::axes;
    using parameter_tensor = tensor<T, NormShape>;

    explicit layer_norm(const nf::extents<NormShape>& normalized_shape, layer_norm_options options = {})
        : extents_(normalized_shape), options_(options) {
        if (extents_.size() == 0)
            nf::detail::raise_invalid("nn::layer_norm: the normalized shape must have no zero extent");
        if (options_.elementwise_affine) {
            weight_ = parameter_tensor(extents_, T(1));
            bias_ = parameter_tensor(extents_, T(0));
        }
    }
    layer_norm(std::initializer_list<std::size_t> dynamic_extents, layer_norm_options options = {})
        : layer_norm(nf::extents<NormShape>(dynamic_extents), options) {}
    layer_norm() requires(NormShape::dynamic_count == 0) : layer_norm(nf::extents<NormShape>()) {}

    void train(bool on = true) noexcept { training_ = on; }
    void eval() noexcept { training_ = false; }
    bool training() const noexcept { return training_; }
    const layer_norm_options& options() const noexcept { return options_; }
    const nf::extents<NormShape>& normalized_shape() const noexcept { return extents_; }
    parameter_tensor& weight() { return require(weight_, "weight"); }
    parameter_tensor& bias() { return require(bias_, "bias"); }

private:
    friend class detail::layer_calls<layer_norm<T, NormShape>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view).
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) {
        using XL = typename X::axes;
        static_assert(is_subset<norm_axes, XL>,
                      "normfuse: nn::layer_norm::forward: the input lacks an axis of the normalized shape");
        if constexpr (is_subset<norm_axes, XL> &&
                      detail::check_normalized_axes<detail::layer_norm_call, norm_axes, XL>()) {
            using SL = axis_remove<XL, norm_axes>;
            detail::check_normalized_extents<norm_axes>("nn::layer_norm::forward", x, extents_.values());
            nf::nn::detail::check_output("nn::layer_norm::forward", x, out);
            if (options_.elementwise_affine) {
                nf::nn::detail::check_parameter_extents("nn::layer_norm", "weight", weight_, extents_);
                nf::nn::detail::check_parameter_extents("nn::layer_norm", "bias", bias_, extents_);
            }
            if (x.size() == 0) return; // no slot (a zero extent outside the normalized shape)

            if constexpr (nf::nn::detail::trailing_rows<norm_axes, XL, typename std::remove_cvref_t<Out>::axes>()) {
                // Each slot is a contiguous row: one pass over x. When the loop reaches a row, its
                // shifted sums give k, 1 / sqrt(var + eps) and -(mean - k) / sqrt(var + eps), in
                // double as below (eval/row_local.hpp), and the row is written while it is in L1.
                using RR = nf::detail::slot_axes::reduced_inner<>;
                using S2 = nf::shape<nf::detail::slot_axes::slot_inner<>, RR>;
                const std::size_t row = extents_.size();
                const auto e2 = nf::extents<S2>::from_all({x.size() / row, row});
                const view<const T, S2> xv(x.data(), e2);
                const view<T, S2> ov(out.data(), e2);
                const auto normalized =
                    (xv - nf::detail::row_shift<RR>(xv)) * nf::detail::row_scale<RR>(xv, options_.eps) +
                    nf::detail::row_offset<RR>(xv, options_.eps);
                if (options_.elementwise_affine) {
                    const view<const T, nf::shape<RR>> w(weight_.data(), {row}), b(bias_.data(), {row});
                    nf::nn::detail::write<Arch>(ov, normalized * w + b, store_kind::automatic);
                } else {
                    nf::nn::detail::write<Arch>(ov, normalized, store_kind::automatic);
                }
                return;
            }

            const std::size_t count = extents_.size();
            const std::size_t slots = x.size() / count;
            buffers_.reserve(slots, slots);
            auto& buf = buffers_;
            // Canonical slot views need weight and bias laid out as the input's own axes.
            constexpr bool canonical = nf::nn::detail::same_order<norm_axes, XL>();
            nf::nn::detail::for_slot_blocks<SL, canonical>(
                x, out,
                [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                    nf::detail::scratch_arena arena;
                    nf::detail::slot_moments<Arch, KL>(xv, buf.shift.data() + s0, buf.centered.data() + s0,
                                                       buf.variance.data() + s0, arena);
                    for (std::size_t s = s0; s < s1; ++s) {
                        const double a = 1.0 / std::sqrt(buf.variance[s] + options_.eps);
                        buf.hi[s] = static_cast<T>(buf.shift[s]);
                        buf.scale[s] = static_cast<T>(a);
                        buf.offset[s] = static_cast<T>(-buf.centered[s] * a);
                    }
                    if (!options_.elementwise_affine) {
                        nf::nn::detail::apply_slot_affine<Arch, KL>(xv, ov, buf.hi.data() + s0, buf.scale.data() + s0,
                                                                    buf.offset.data() + s0, store);
                        return;
                    }
                    const auto k = nf::nn::detail::slot_view<KL>(buf.hi.data() + s0, xv);
                    const auto scale = nf::nn::detail::slot_view<KL>(buf.scale.data() + s0, xv);
                    const auto offset = nf::nn::detail::slot_view<KL>(buf.offset.data() + s0, xv);
                    if constexpr (std::is_same_v<KL, nf::detail::slot_kept>) {
                        using RL = nf::detail::slot_reduced;
                        const auto w = nf::nn::detail::slot_view<RL>(weight_.data(), xv);
                        const auto b = nf::nn::detail::slot_view<RL>(bias_.data(), xv);
                        nf::nn::detail::write<Arch>(ov, ((xv - k) * scale + offset) * w + b, store);
                    } else {
                        nf::nn::detail::write<Arch>(ov, ((xv - k) * scale + offset) * weight_ + bias_, store);
                    }
                });
        }
    }

    parameter_tensor& require(parameter_tensor& v, const char* what) {
        if (!options_.elementwise_affine)
            nf::detail::raise_logic(std::string("nn::layer_norm: the layer has no ") + what +
                                    " (it was built without elementwise_affine)");
        return v;
    }

    nf::extents<NormShape> extents_;
    layer_norm_options options_;
    bool training_ = true;
    parameter_tensor weight_, bias_;
    nf::nn::detail::slot_buffers<T> buffers_;
};

} // namespace nf::nn
