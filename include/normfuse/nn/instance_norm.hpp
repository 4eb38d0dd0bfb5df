// normfuse/nn/instance_norm.hpp: InstanceNorm1d/2d/3d with PyTorch 1.13 semantics (per-sample, per-channel statistics).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/instance_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/moments.hpp>

namespace nf::nn {

/// PyTorch's InstanceNorm arguments with its defaults (which differ from BatchNorm's). Unlike
/// BatchNorm, `momentum` must be a number: PyTorch rejects None here.
struct instance_norm_options {
    double eps = 1e-5;
    double momentum = 0.1;
    bool affine = false;
    bool track_running_stats = false;
};

namespace detail {
template <std::size_t Dims>
using instance_spatial = std::conditional_t<
    Dims == 1, axis_list<axes::L<>>,
    std::conditional_t<Dims == 2, axis_list<axes::H<>, axes::W<>>, axis_list<axes::D<>, axes::H<>, axes::W<>>>>;
template <std::size_t Dims, class XL>
inline constexpr bool instance_axes_ok = false;
template <std::size_t Dims, class... As>
inline constexpr bool instance_axes_ok<Dims, axis_list<As...>> =
    contains<axes::C<>, axis_list<As...>>&& is_subset<instance_spatial<Dims>, axis_list<As...>> &&
    (sizeof...(As) == Dims + 1 || (sizeof...(As) == Dims + 2 && contains<axes::N<>, axis_list<As...>>));
struct instance_norm_call {
    static constexpr std::string_view name = "nn::instance_norm::forward";
};
} // namespace detail

namespace detail {
/// The body of nf::nn::functional::instance_norm and of the layer, on views: statistics per
/// instance (N, C) over the other axes, or the running statistics when !use_input_stats.
template <class Arch, class X, class Out, class T>
void instance_norm_views(std::string_view call, const X& x, const Out& out, param_ref<T> rm, param_ref<T> rv,
                         param_ref<T> w, param_ref<T> b, bool use_input_stats, double momentum, double eps,
                         saved_statistics* saved = nullptr) {
    using XL = typename X::axes;
    static_assert(contains<axes::C<>, XL>, "normfuse: nn::functional::instance_norm: the input has no axis C");
    using SL = axis_restrict<XL, axis_list<axes::N<>, axes::C<>>>; // one slot per instance
    const std::size_t c = x.template extent<axes::C<>>();
    std::size_t n = 1;
    if constexpr (contains<axes::N<>, XL>) n = x.template extent<axes::N<>>();
    const std::size_t slots = n * c;
    std::size_t spatial = 1; // values per instance: the product of the other axes, whatever N and C are
    constexpr std::size_t n_index = [] {
        if constexpr (contains<axes::N<>, XL>)
            return index_of<axes::N<>, XL>;
        else
            return XL::size;
    }();
    for (std::size_t i = 0; i < XL::size; ++i)
        if (i != index_of<axes::C<>, XL> && i != n_index) spatial *= x.extents()[i];
    // PyTorch repeats the parameters N times and counts N * C in its messages.
    check_length(call, "running_mean", rm, c, n);
    check_length(call, "running_var", rv, c, n);
    check_length(call, "weight", w, c, n);
    check_length(call, "bias", b, c, n);
    if (rm.present != rv.present)
        nf::detail::raise_invalid(std::string(call) + ": give both running_mean and running_var, or neither");
    if (!use_input_stats && !rm.present)
        nf::detail::raise_invalid(std::string(call) +
                                  ": running_mean and running_var must be given when use_input_stats is false");
    const bool update = use_input_stats && rm.present;
    if (update && (!rm.writable || !rv.writable))
        nf::detail::raise_invalid(std::string(call) +
                                  ": use_input_stats updates running_mean and running_var, but they are read-only "
                                  "(views of const elements); pass writable ones, or std::nullopt");
    // PyTorch rejects exactly one spatial element; none (or no instance) gives the empty output.
    if (use_input_stats && spatial == 1)
        nf::detail::raise_invalid(
            std::string(call) + ": expected more than 1 spatial element when training, got input size " + describe(x));
    check_output(call, x, out);
    if (saved) {
        if (use_input_stats) {
            saved->prepare(call, slots); // throws if caller storage is too small: still nothing written
            std::fill_n(saved->mean_data(), slots, 0.0);
            std::fill_n(saved->invstd_data(), slots, batch_inv_std(0.0, eps));
        } else {
            saved->clear();
        }
    }
    if (x.size() == 0) {
        // With no instance, the running statistics' update averages over none and gives NaN, as
        // PyTorch's (`running_mean.view({0, C}).mean(0)`); with instances of no spatial element,
        // they do not move.
        if (update && n == 0)
            for (std::size_t ch = 0; ch < c; ++ch)
                rm.writable[ch] = rv.writable[ch] = from_double<T>(std::numeric_limits<double>::quiet_NaN());
        return;
    }
    using CT = compute_t<T>;
    slot_scratch<CT> buf(slots, slots);
    const bool c_last = index_of<axes::C<>, SL> + 1 == SL::size;
    auto channel_of = [&](std::size_t s) { return c_last ? s % c : s / n; };
    auto wt = [&](std::size_t ch) { return w.present ? to_double(w[ch]) : 1.0; };
    auto bs = [&](std::size_t ch) { return b.present ? to_double(b[ch]) : 0.0; };
    for_slot_blocks<SL, true>(
        x, out, [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
            // hi, scale and offset of the slots [s0, s1) (of n * c, in the order of the input's N
            // and C: C last or first), from the instance statistics or from the running ones.
            if (use_input_stats) {
                nf::detail::scratch_arena arena;
                nf::detail::slot_moments<Arch, KL>(xv, buf.shift + s0, buf.centered + s0, buf.variance + s0, arena);
                for (std::size_t s = s0; s < s1; ++s) {
                    const std::size_t ch = channel_of(s);
                    const double a = wt(ch) * batch_inv_std(buf.variance[s], eps);
                    if (saved) {
                        saved->mean_data()[s] = buf.shift[s] + buf.centered[s];
                        saved->invstd_data()[s] = batch_inv_std(buf.variance[s], eps);
                    }
                    buf.hi[s] = static_cast<CT>(buf.shift[s]);
                    buf.scale[s] = static_cast<CT>(a);
                    buf.offset[s] = static_cast<CT>(bs(ch) - buf.centered[s] * a);
                }
            } else {
                for (std::size_t s = s0; s < s1; ++s) {
                    const std::size_t ch = channel_of(s);
                    running_affine(rm[ch], rv[ch], wt(ch), bs(ch), eps, buf.hi[s], buf.scale[s], buf.offset[s]);
                }
            }
            apply_slot_affine<Arch, KL>(xv, ov, buf.hi + s0, buf.scale + s0, buf.offset + s0, store);
        });
    if (!update) return;
    // The running statistics' update from the statistics of every instance.
    auto slot_of = [&](std::size_t i, std::size_t ch) { return c_last ? i * c + ch : ch * n + i; };
    const double unbias = static_cast<double>(spatial) / static_cast<double>(spatial - 1);
    for (std::size_t ch = 0; ch < c; ++ch) {
        double mean_sum = 0, var_sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t s = slot_of(i, ch);
            mean_sum += buf.shift[s] + buf.centered[s];
            var_sum += buf.variance[s] * unbias;
        }
        T& mean = rm.writable[ch];
        T& var = rv.writable[ch];
        mean = from_double<T>((1 - momentum) * to_double(mean) + momentum * mean_sum / static_cast<double>(n));
        var = from_double<T>((1 - momentum) * to_double(var) + momentum * var_sum / static_cast<double>(n));
    }
}
} // namespace detail

namespace functional {

/// `torch.nn.functional.instance_norm(input, running_mean, running_var, weight, bias,
/// use_input_stats, momentum, eps)` over caller-owned memory, written into `out`. `x` has the axis C,
/// optionally N, and spatial axes (any order): statistics per (n, c) over the spatial axes. With
/// use_input_stats (the default), normalizes with the instance mean and biased variance and, if
/// running statistics are given (writable), updates them with the batch average of the instance
/// mean and unbiased variance; otherwise normalizes with the running statistics (required, may be
/// read-only). Parameters as in functional::batch_norm.
template <class Arch = xsimd::default_arch, Array X, Array Out, class RM = const std::nullopt_t&,
          class RV = const std::nullopt_t&, class W = const std::nullopt_t&, class B = const std::nullopt_t&>
void instance_norm(const X& x, Out&& out, RM&& running_mean = std::nullopt, RV&& running_var = std::nullopt,
                   W&& weight = std::nullopt, B&& bias = std::nullopt, bool use_input_stats = true,
                   double momentum = 0.1, double eps = 1e-5) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::instance_norm_views<Arch>(
        "nn::functional::instance_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out),
        nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
        nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)),
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), use_input_stats, momentum, eps);
}

/// functional::instance_norm that also keeps, when it normalizes with the instances' own
/// statistics (`use_input_stats`), the mean and 1 / sqrt(var + eps) of every instance (n, c) in
/// `saved` (in x's order of N and C) for functional::instance_norm_backward; otherwise clears it.
/// No extra pass; no allocation when `saved` is over caller storage.
template <class Arch = xsimd::default_arch, Array X, Array Out, class RM, class RV, class W, class B>
void instance_norm(const X& x, Out&& out, RM&& running_mean, RV&& running_var, W&& weight, B&& bias,
                   bool use_input_stats, double momentum, double eps, saved_statistics& saved) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::instance_norm_views<Arch>(
        "nn::functional::instance_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out),
        nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
        nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)),
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), use_input_stats, momentum, eps, &saved);
}

/// The backward of `functional::instance_norm` over caller-owned memory (the body the layer's
/// backward runs): writes dx and, if given, adds (or writes, `options.parameters`) the gradients of
/// weight and bias into dweight and dbias (arrays over C, or std::nullopt).
///
/// * `use_input_stats = true`: the forward normalized with each instance's statistics, which
///   `saved` holds (filled by the forward above on this x); dx goes through them.
/// * `use_input_stats = false`: the forward normalized with running_mean and running_var (given);
///   dx = dy * weight / sqrt(running_var + eps). `saved` is not read.
///
/// dy and dx have the axes of x in the same order and its extents; every check runs before
/// anything is written; dx may be dy.
template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX, class W, class RM, class RV,
          class DW = const std::nullopt_t&, class DB = const std::nullopt_t&>
auto instance_norm_backward(const X& x, const DY& dy, DX&& dx, W&& weight, RM&& running_mean, RV&& running_var,
                            const saved_statistics& saved, bool use_input_stats, double eps,
                            DW&& dweight = std::nullopt, DB&& dbias = std::nullopt, backward_options options = {}) {
    using T = typename X::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::instance_norm_backward"));
    using PL = axis_list<axes::C<>>;
    using XL = typename X::axes;
    static_assert(contains<axes::C<>, XL>,
                  "normfuse: nn::functional::instance_norm_backward: the input x has no axis C");
    static_assert(nf::nn::detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>,
                  "normfuse: nn::functional::instance_norm_backward: dy and dx must have the axes of x in the same "
                  "order (a gradient is laid out as the array it is the gradient of); fix: view or copy dy in x's "
                  "layout");
    static_assert(std::is_same_v<typename std::remove_cvref_t<DY>::value_type, T> &&
                      std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T>,
                  "normfuse: nn::functional::instance_norm_backward: x, dy and dx must have the same element type");
    if constexpr (nf::nn::detail::backward_element_ok<T> && contains<axes::C<>, XL> &&
                  nf::nn::detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>) {
        nf::nn::detail::instance_norm_backward_views<Arch>(
            "nn::functional::instance_norm_backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
            nf::nn::detail::output_view(dx), nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
            nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
            nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)), &saved, use_input_stats, eps,
            nf::nn::detail::param_of<T, PL>(std::forward<DW>(dweight)),
            nf::nn::detail::param_of<T, PL>(std::forward<DB>(dbias)), options);
    }
}

} // namespace functional

/// Instance normalization as PyTorch 1.13's InstanceNorm{Dims}d: statistics per sample and
/// channel over the spatial axes (biased variance). With `track_running_stats`, training updates
/// the running statistics with the batch average of the per-instance mean and unbiased variance
/// (num_batches_tracked is never incremented) and eval uses them. Input: (N, C, spatial...) in any
/// order, or unbatched (C, spatial...).
template <class T, std::size_t Dims, std::size_t Channels = dynamic_extent>
class instance_norm : public detail::layer_calls<instance_norm<T, Dims, Channels>> {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::instance_norm<T, ...>: T must be float, double, nf::bf16 or nf::fp16");
    static_assert(Dims >= 1 && Dims <= 3, "normfuse: nn::instance_norm<T, Dims>: Dims is 1, 2 or 3");

public:
    using value_type = T;
    using channel_vector = tensor<T, shape<axes::C<Channels>>>;

    explicit instance_norm(std::size_t num_features, instance_norm_options options = {})
        : num_features_(num_features), options_(options) {
        if constexpr (Channels != dynamic_extent)
            if (num_features != Channels)
                nf::detail::raise_invalid("nn::instance_norm: num_features is " + std::to_string(num_features) +
                                          " but the layer type fixes " + std::to_string(Channels) + " channels");
        if (num_features == 0) nf::detail::raise_invalid("nn::instance_norm: num_features must be positive");
        const auto e = channel_vector::extents_type::from_all({num_features});
        if (options_.affine) {
            weight_ = channel_vector(e, T(1));
            bias_ = channel_vector(e, T(0));
            weight_grad_ = channel_vector(e, T(0));
            bias_grad_ = channel_vector(e, T(0));
        }
        if (options_.track_running_stats) {
            running_mean_ = channel_vector(e, T(0));
            running_var_ = channel_vector(e, T(1));
        }
    }

    void train(bool on = true) noexcept { training_ = on; }
    void eval() noexcept { training_ = false; }
    bool training() const noexcept { return training_; }
    const instance_norm_options& options() const noexcept { return options_; }
    std::size_t num_features() const noexcept { return num_features_; }
    channel_vector& weight() { return require(weight_, "weight", options_.affine); }
    channel_vector& bias() { return require(bias_, "bias", options_.affine); }
    channel_vector& running_mean() { return require(running_mean_, "running_mean", options_.track_running_stats); }
    channel_vector& running_var() { return require(running_var_, "running_var", options_.track_running_stats); }
    const channel_vector& weight() const { return require(weight_, "weight", options_.affine); }
    const channel_vector& bias() const { return require(bias_, "bias", options_.affine); }
    const channel_vector& running_mean() const {
        return require(running_mean_, "running_mean", options_.track_running_stats);
    }
    const channel_vector& running_var() const {
        return require(running_var_, "running_var", options_.track_running_stats);
    }
    /// Always 0: PyTorch's InstanceNorm never increments it.
    std::int64_t num_batches_tracked() const noexcept { return 0; }

    /// The gradients of weight and bias (only with `affine`), as PyTorch's `.grad`: zero after
    /// construction, summed over backward calls until zero_grad().
    channel_vector& weight_grad() { return require(weight_grad_, "weight_grad", options_.affine); }
    channel_vector& bias_grad() { return require(bias_grad_, "bias_grad", options_.affine); }
    const channel_vector& weight_grad() const { return require(weight_grad_, "weight_grad", options_.affine); }
    const channel_vector& bias_grad() const { return require(bias_grad_, "bias_grad", options_.affine); }
    void zero_grad() {
        if (options_.affine) {
            weight_grad_ = T(0);
            bias_grad_ = T(0);
        }
    }

    using detail::layer_calls<instance_norm>::forward;
    /// forward(x, out) that also keeps each instance's statistics in `saved` for backward(), when
    /// it normalizes with them (training mode, or no running statistics); otherwise clears `saved`.
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out, saved_statistics& saved) {
        forward_views<Arch>(nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), &saved);
    }

    /// The backward of the last forward(x, out, saved): writes the gradient of the input into dx
    /// (laid out as x, same extents; may be dy) and, with `affine`, adds those of weight and bias
    /// to weight_grad() and bias_grad(). In training mode (or without running statistics) dx goes
    /// through the instance statistics in `saved`, in eval mode through the running ones.
    template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX>
    auto backward(const X& x, const DY& dy, DX&& dx, const saved_statistics& saved, backward_options options = {}) {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::instance_norm::backward"));
        using XL = typename X::axes;
        static_assert(detail::instance_axes_ok<Dims, XL>,
                      "normfuse: nn::instance_norm::backward: the input must have the axes (N, C, L) or (C, L) for "
                      "instance_norm1d, (N, C, H, W) or (C, H, W) for 2d, (N, C, D, H, W) or (C, D, H, W) for 3d, "
                      "in any order");
        static_assert(detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>,
                      "normfuse: nn::instance_norm::backward: dy and dx must have the axes of x in the same order (a "
                      "gradient is laid out as the array it is the gradient of); fix: view or copy dy in x's "
                      "layout");
        if constexpr (nf::nn::detail::backward_element_ok<T> && detail::instance_axes_ok<Dims, XL> &&
                      detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>) {
            check_state();
            using PL = axis_list<axes::C<>>;
            using P = nf::nn::detail::param_ref<T>;
            const bool tracked = options_.track_running_stats;
            const P w = options_.affine ? nf::nn::detail::param_of<T, PL>(std::as_const(weight_)) : P{};
            const P dw = options_.affine ? nf::nn::detail::param_of<T, PL>(weight_grad_) : P{};
            const P db = options_.affine ? nf::nn::detail::param_of<T, PL>(bias_grad_) : P{};
            const P rm = tracked ? nf::nn::detail::param_of<T, PL>(std::as_const(running_mean_)) : P{};
            const P rv = tracked ? nf::nn::detail::param_of<T, PL>(std::as_const(running_var_)) : P{};
            nf::nn::detail::instance_norm_backward_views<Arch>(
                "nn::instance_norm::backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
                nf::nn::detail::output_view(dx), w, rm, rv, &saved, training_ || !tracked, options_.eps, dw, db,
                options);
        }
    }

private:
    friend class detail::layer_calls<instance_norm<T, Dims, Channels>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view). On a mutable layer in training mode
    // with running statistics, the call updates them; otherwise it is the const call.
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out, saved_statistics* saved = nullptr) {
        if (!(training_ && options_.track_running_stats))
            return std::as_const(*this).template forward_views<Arch>(x, out, saved);
        run<Arch>(x, out, nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_mean_),
                  nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_var_), saved);
    }
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out, saved_statistics* saved = nullptr) const {
        if (training_ && options_.track_running_stats) nf::nn::detail::raise_const_training("nn::instance_norm");
        using P = nf::nn::detail::param_ref<T>;
        if (options_.track_running_stats)
            run<Arch>(x, out, nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_mean_),
                      nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_var_), saved);
        else
            run<Arch>(x, out, P{}, P{}, saved);
    }

    // PyTorch's module around F.instance_norm: instance statistics in training, and always without
    // running statistics.
    template <class Arch, class X, class Out>
    void run(const X& x, const Out& out, nf::nn::detail::param_ref<T> rm, nf::nn::detail::param_ref<T> rv,
             saved_statistics* saved) const {
        using XL = typename X::axes;
        static_assert(detail::instance_axes_ok<Dims, XL>,
                      "normfuse: nn::instance_norm::forward: the input must have the axes (N, C, L) or (C, L) for "
                      "instance_norm1d, (N, C, H, W) or (C, H, W) for 2d, (N, C, D, H, W) or (C, D, H, W) for 3d, "
                      "in any order");
        if constexpr (detail::instance_axes_ok<Dims, XL> &&
                      detail::check_channels<detail::instance_norm_call, Channels, XL>()) {
            check_state();
            using PL = axis_list<axes::C<>>;
            using P = nf::nn::detail::param_ref<T>;
            const P w = options_.affine ? nf::nn::detail::param_of<T, PL>(weight_) : P{};
            const P b = options_.affine ? nf::nn::detail::param_of<T, PL>(bias_) : P{};
            nf::nn::detail::instance_norm_views<Arch>("nn::instance_norm", x, out, rm, rv, w, b,
                                                      training_ || !options_.track_running_stats, options_.momentum,
                                                      options_.eps, saved);
        }
    }

    // The parameters still have num_features elements (they can be reassigned whole).
    void check_state() const {
        if (options_.affine) {
            detail::check_parameter("nn::instance_norm", "weight", weight_, num_features_);
            detail::check_parameter("nn::instance_norm", "bias", bias_, num_features_);
        }
        if (options_.track_running_stats) {
            detail::check_parameter("nn::instance_norm", "running_mean", running_mean_, num_features_);
            detail::check_parameter("nn::instance_norm", "running_var", running_var_, num_features_);
        }
    }

    template <class V>
    static V& require(V& v, const char* what, bool present) {
        if (!present)
            nf::detail::raise_logic(std::string("nn::instance_norm: the layer has no ") + what +
                                    " (it was built without affine / track_running_stats)");
        return v;
    }
    std::size_t num_features_;
    instance_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_, running_mean_, running_var_, weight_grad_, bias_grad_;
};

template <class T, std::size_t Channels = dynamic_extent>
using instance_norm1d = instance_norm<T, 1, Channels>;
template <class T, std::size_t Channels = dynamic_extent>
using instance_norm2d = instance_norm<T, 2, Channels>;
template <class T, std::size_t Channels = dynamic_extent>
using instance_norm3d = instance_norm<T, 3, Channels>;

} // namespace nf::nn
