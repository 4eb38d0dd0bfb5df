// normfuse/nn/layer_norm.hpp: LayerNorm with PyTorch 1.13 semantics, over named axes instead of trailing positions.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/layer_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/nn/half_rows.hpp>
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
struct functional_layer_norm_call {
    static constexpr std::string_view name = "nn::functional::layer_norm";
};
struct functional_rms_norm_call {
    static constexpr std::string_view name = "nn::functional::rms_norm";
};
} // namespace detail

namespace detail {
/// `e * w + b`, `e * w`, `e + b` or `e`, as the affine parameters are there.
template <bool HasW, bool HasB, class E, class W, class B>
auto with_affine(E&& e, const W& w, const B& b) {
    if constexpr (HasW && HasB)
        return std::forward<E>(e) * w + b;
    else if constexpr (HasW)
        return std::forward<E>(e) * w;
    else if constexpr (HasB)
        return std::forward<E>(e) + b;
    else
        return std::forward<E>(e);
}

/// `make(p.data)` if the parameter is there (Has), else a placeholder that with_affine ignores.
template <bool Has, class T, class F>
auto parameter_as(const param_ref<T>& p, F&& make) {
    if constexpr (Has)
        return make(p.data);
    else
        return 0;
}

/// Throws unless a present parameter has exactly the normalized extents, axis by axis (its axes
/// are those of the normalized shape, in that order: param_of checks it at compile time): a
/// weight of (5, 4) for a normalized shape of (4, 5) has the right number of elements but would
/// be read as (4, 5).
template <class NS, class T>
void check_normalized_parameter(std::string_view call, const char* name, const param_ref<T>& p,
                                const nf::extents<NS>& ns) {
    if (!p.present) return;
    bool ok = p.size == ns.size();
    for (std::size_t i = 0; ok && p.extents && i < NS::rank; ++i) ok = p.extents[i] == ns.values()[i];
    if (!ok) {
        constexpr auto names = nf::extents<NS>::names();
        const std::string has = p.extents ? nf::detail::describe_extents(names.data(), p.extents, names.size())
                                          : std::to_string(p.size) + " elements";
        nf::detail::raise_extent(
            std::string(call) + ": " + name + " has extents " + has + " but the normalized shape is " +
            nf::detail::describe_extents(names.data(), ns.values().data(), names.size()) + "; nothing was written");
    }
}

/// The body of nf::nn::functional::layer_norm and of the layer, on views (HasW / HasB: which
/// affine parameters are given, a compile-time choice so that each call compiles one kernel).
/// Call names the call in messages (Call::name), compile-time ones included.
template <class Arch, bool HasW, bool HasB, class Call, class NS, class X, class Out, class T>
void layer_norm_views(const X& x, const Out& out, const nf::extents<NS>& ns, param_ref<T> w, param_ref<T> b,
                      double eps) {
    using XL = typename X::axes;
    using norm_axes = typename NS::axes;
    constexpr std::string_view call = Call::name;
    static_assert(is_subset<norm_axes, XL>,
                  "normfuse: nn::layer_norm::forward: the input lacks an axis of the normalized shape");
    if constexpr (is_subset<norm_axes, XL> && check_normalized_axes<Call, norm_axes, XL>()) {
        using SL = axis_remove<XL, norm_axes>;
        detail::check_normalized_extents<norm_axes>(call, x, ns.values());
        check_output(call, x, out);
        check_normalized_parameter(call, "weight", w, ns);
        check_normalized_parameter(call, "bias", b, ns);
        if (x.size() == 0) return; // no slot (a zero extent outside the normalized shape)

        if constexpr (trailing_rows<norm_axes, XL, typename Out::axes>() && nf::detail::is_half_element_v<T>) {
            // Contiguous 16-bit rows: float statistics within L1, one output pass (nn/half_rows.hpp).
            half_rows_forward<Arch, true, HasW, HasB>(x.data(), out.data(), x.size() / ns.size(), ns.size(),
                                                      HasW ? w.data : nullptr, HasB ? b.data : nullptr, eps);
            return;
        } else if constexpr (trailing_rows<norm_axes, XL, typename Out::axes>()) {
            // Each slot is a contiguous row: one pass over x. When the loop reaches a row, its
            // shifted sums give k, 1 / sqrt(var + eps) and -(mean - k) / sqrt(var + eps), in
            // double as below (eval/row_local.hpp), and the row is written while it is in L1.
            using RR = nf::detail::slot_axes::reduced_inner<>;
            using S2 = nf::shape<nf::detail::slot_axes::slot_inner<>, RR>;
            const std::size_t row = ns.size();
            const auto e2 = nf::extents<S2>::from_all({x.size() / row, row});
            const view<const T, S2> xv(x.data(), e2);
            const view<T, S2> ov(out.data(), e2);
            const auto normalized = (xv - nf::detail::row_shift<RR>(xv)) * nf::detail::row_scale<RR>(xv, eps) +
                                    nf::detail::row_offset<RR>(xv, eps);
            const auto wv = parameter_as<HasW>(w, [&](const T* p) { return view<const T, nf::shape<RR>>(p, {row}); });
            const auto bv = parameter_as<HasB>(b, [&](const T* p) { return view<const T, nf::shape<RR>>(p, {row}); });
            write<Arch>(ov, with_affine<HasW, HasB>(normalized, wv, bv), store_kind::automatic);
            return;
        }

        const std::size_t count = ns.size();
        const std::size_t slots = x.size() / count;
        using CT = compute_t<T>;
        slot_scratch<CT> buf(slots, slots);
        // Canonical slot views need weight and bias laid out as the input's own axes.
        constexpr bool canonical = same_order<norm_axes, XL>();
        for_slot_blocks<SL, canonical>(
            x, out,
            [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                nf::detail::scratch_arena arena;
                nf::detail::slot_moments<Arch, KL>(xv, buf.shift + s0, buf.centered + s0, buf.variance + s0, arena);
                for (std::size_t s = s0; s < s1; ++s) {
                    const double a = 1.0 / std::sqrt(buf.variance[s] + eps);
                    buf.hi[s] = static_cast<CT>(buf.shift[s]);
                    buf.scale[s] = static_cast<CT>(a);
                    buf.offset[s] = static_cast<CT>(-buf.centered[s] * a);
                }
                if constexpr (!HasW && !HasB) {
                    apply_slot_affine<Arch, KL>(xv, ov, buf.hi + s0, buf.scale + s0, buf.offset + s0, store);
                } else {
                    const auto k = slot_view<KL>(buf.hi + s0, xv);
                    const auto scale = slot_view<KL>(buf.scale + s0, xv);
                    const auto offset = slot_view<KL>(buf.offset + s0, xv);
                    if constexpr (std::is_same_v<KL, nf::detail::slot_kept>) {
                        using RL = nf::detail::slot_reduced;
                        const auto wv =
                            parameter_as<HasW>(w, [&](const T* p) { return widened(slot_view<RL>(p, xv)); });
                        const auto bv =
                            parameter_as<HasB>(b, [&](const T* p) { return widened(slot_view<RL>(p, xv)); });
                        write<Arch>(ov, with_affine<HasW, HasB>((widened(xv) - k) * scale + offset, wv, bv), store);
                    } else {
                        const auto wv =
                            parameter_as<HasW>(w, [&](const T* p) { return widened(view<const T, NS>(p, ns)); });
                        const auto bv =
                            parameter_as<HasB>(b, [&](const T* p) { return widened(view<const T, NS>(p, ns)); });
                        write<Arch>(ov, with_affine<HasW, HasB>((widened(xv) - k) * scale + offset, wv, bv), store);
                    }
                }
            });
    }
}

/// Calls layer_norm_views with the affine parameters that are present.
template <class Arch, class Call, class NS, class X, class Out, class T>
void layer_norm_dispatch(const X& x, const Out& out, const nf::extents<NS>& ns, param_ref<T> w, param_ref<T> b,
                         double eps) {
    if (w.present && b.present)
        layer_norm_views<Arch, true, true, Call>(x, out, ns, w, b, eps);
    else if (w.present)
        layer_norm_views<Arch, true, false, Call>(x, out, ns, w, b, eps);
    else if (b.present)
        layer_norm_views<Arch, false, true, Call>(x, out, ns, w, b, eps);
    else
        layer_norm_views<Arch, false, false, Call>(x, out, ns, w, b, eps);
}
} // namespace detail

namespace functional {

/// `torch.nn.functional.layer_norm(input, normalized_shape, weight, bias, eps)` over caller-owned
/// memory, written into `out`: mean and biased variance over the axes of `normalized_shape` (named,
/// any position in x), one set per value of the other axes, then `* weight + bias` element by
/// element. weight and bias are tensors or views laid out as the normalized shape (read-only is
/// fine), `std::optional`s of them, or `std::nullopt`.
template <class Arch = xsimd::default_arch, Array X, Array Out, class NS, class W = const std::nullopt_t&,
          class B = const std::nullopt_t&>
void layer_norm(const X& x, Out&& out, const nf::extents<NS>& normalized_shape, W&& weight = std::nullopt,
                B&& bias = std::nullopt, double eps = 1e-5) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = typename NS::axes;
    nf::nn::detail::layer_norm_dispatch<Arch, nf::nn::detail::functional_layer_norm_call>(
        nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), normalized_shape,
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), eps);
}

} // namespace functional

/// Layer normalization as PyTorch 1.13's LayerNorm: mean and biased variance over the axes of
/// `NormShape` (PyTorch's normalized_shape, named instead of trailing), one set per value of the
/// other axes, then an element-wise affine `* weight + bias` with weight and bias laid out as
/// NormShape. The mode has no effect and there are no running statistics. With T = nf::bf16 or
/// nf::fp16 (input, weight, bias and output), the values are widened to float, the statistics
/// taken in double (over trailing axes: in float blocks added into double, centered on the row's
/// mean, within float's rounding of the double ones: nn/half_rows.hpp), the rest computed in float
/// and rounded once, on the store.
template <class T, class NormShape>
class layer_norm : public detail::layer_calls<layer_norm<T, NormShape>> {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::layer_norm<T, ...>: T must be float, double, nf::bf16 or nf::fp16");

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
            weight_grad_ = parameter_tensor(extents_, T(0));
            bias_grad_ = parameter_tensor(extents_, T(0));
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
    const parameter_tensor& weight() const { return require(weight_, "weight"); }
    const parameter_tensor& bias() const { return require(bias_, "bias"); }

    /// The gradients of weight and bias (only with elementwise_affine), as PyTorch's `.grad`: zero
    /// after construction, summed over backward calls until zero_grad().
    parameter_tensor& weight_grad() { return require(weight_grad_, "weight_grad"); }
    parameter_tensor& bias_grad() { return require(bias_grad_, "bias_grad"); }
    const parameter_tensor& weight_grad() const { return require(weight_grad_, "weight_grad"); }
    const parameter_tensor& bias_grad() const { return require(bias_grad_, "bias_grad"); }
    void zero_grad() {
        if (options_.elementwise_affine) {
            weight_grad_ = T(0);
            bias_grad_ = T(0);
        }
    }

    /// The backward of forward(x, out): writes the gradient of the input into dx (laid out as x,
    /// same extents; may be dy) and, with elementwise_affine, adds those of weight and bias to
    /// weight_grad() and bias_grad() (`options` switch either). The normalized axes must be the
    /// trailing axes of x (rows); each row's statistics are recomputed while it is in L1, so no
    /// saved statistics are needed. Checks everything before writing anything.
    template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX>
    auto backward(const X& x, const DY& dy, DX&& dx, backward_options options = {}) {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::layer_norm::backward"));
        constexpr bool ok =
            nf::nn::detail::row_backward_ok<norm_axes, X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>;
        static_assert(ok, NF_ROW_BACKWARD_RULE("nn::layer_norm::backward"));
        if constexpr (nf::nn::detail::backward_element_ok<T> && ok) {
            using P = nf::nn::detail::param_ref<T>;
            P w, dw, db;
            if (options_.elementwise_affine) {
                nf::nn::detail::check_parameter_extents("nn::layer_norm", "weight", weight_, extents_);
                nf::nn::detail::check_parameter_extents("nn::layer_norm", "weight_grad", weight_grad_, extents_);
                nf::nn::detail::check_parameter_extents("nn::layer_norm", "bias_grad", bias_grad_, extents_);
                w = nf::nn::detail::param_of<T, norm_axes>(std::as_const(weight_));
                dw = nf::nn::detail::param_of<T, norm_axes>(weight_grad_);
                db = nf::nn::detail::param_of<T, norm_axes>(bias_grad_);
            }
            nf::nn::detail::row_norm_backward_views<Arch, true>(
                "nn::layer_norm::backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
                nf::nn::detail::output_view(dx), extents_, w, options_.eps, dw, db, options);
        }
    }

private:
    friend class detail::layer_calls<layer_norm<T, NormShape>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view). The layer has no state that a
    // forward changes: every call is the const one.
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) const {
        using P = nf::nn::detail::param_ref<T>;
        if (options_.elementwise_affine) {
            // Axis by axis, not only the element count: weight and bias can be reassigned whole.
            nf::nn::detail::check_parameter_extents("nn::layer_norm", "weight", weight_, extents_);
            nf::nn::detail::check_parameter_extents("nn::layer_norm", "bias", bias_, extents_);
            nf::nn::detail::layer_norm_views<Arch, true, true, nf::nn::detail::layer_norm_call>(
                x, out, extents_, nf::nn::detail::param_of<T, norm_axes>(weight_),
                nf::nn::detail::param_of<T, norm_axes>(bias_), options_.eps);
        } else {
            nf::nn::detail::layer_norm_views<Arch, false, false, nf::nn::detail::layer_norm_call>(x, out, extents_, P{},
                                                                                                  P{}, options_.eps);
        }
    }

    template <class V>
    V& require(V& v, const char* what) const {
        if (!options_.elementwise_affine)
            nf::detail::raise_logic(std::string("nn::layer_norm: the layer has no ") + what +
                                    " (it was built without elementwise_affine)");
        return v;
    }

    nf::extents<NormShape> extents_;
    layer_norm_options options_;
    bool training_ = true;
    parameter_tensor weight_, bias_, weight_grad_, bias_grad_;
};

} // namespace nf::nn
