// normfuse/nn/batch_norm.hpp: BatchNorm1d/2d/3d with PyTorch 1.13 semantics, for every layout of N, C and the spatial axes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/batch_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/moments.hpp>

namespace nf::nn {

namespace detail {
/// The layer's forward with a statistics merge policy (see local_statistics), for layers built
/// on nn::batch_norm in other headers (nn::sync_batch_norm): its parameters, checks and kernels.
struct batch_norm_access {
    template <class Arch, class Layer, class X, class Out, class Merge>
    static void forward_views(Layer& layer, const X& x, const Out& out, const Merge& merge) {
        layer.template forward_views<Arch>(x, out, nullptr, merge);
    }
};
} // namespace detail

/// PyTorch's BatchNorm arguments with its defaults. `momentum = std::nullopt` is PyTorch's
/// `momentum=None`: a cumulative average with factor 1 / num_batches_tracked.
struct batch_norm_options {
    double eps = 1e-5;
    std::optional<double> momentum = 0.1;
    bool affine = true;
    bool track_running_stats = true;
};

namespace detail {
template <std::size_t Dims, class XL>
inline constexpr bool batch_norm_axes_ok = false;
template <class... As>
inline constexpr bool batch_norm_axes_ok<1, axis_list<As...>> =
    (sizeof...(As) == 2 || sizeof...(As) == 3) &&
    contains<axes::N<>, axis_list<As...>>&& contains<axes::C<>, axis_list<As...>> &&
    (sizeof...(As) == 2 || contains<axes::L<>, axis_list<As...>>);
template <class... As>
inline constexpr bool batch_norm_axes_ok<2, axis_list<As...>> =
    sizeof...(As) == 4 && (contains<As, axis_list<axes::N<>, axes::C<>, axes::H<>, axes::W<>>> && ...);
template <class... As>
inline constexpr bool batch_norm_axes_ok<3, axis_list<As...>> =
    sizeof...(As) == 5 && (contains<As, axis_list<axes::N<>, axes::C<>, axes::D<>, axes::H<>, axes::W<>>> && ...);

struct batch_norm_call {
    static constexpr std::string_view name = "nn::batch_norm::forward";
};
struct batch_norm_backward_call {
    static constexpr std::string_view name = "nn::batch_norm::backward";
};

[[noreturn]] NF_COLD inline void raise_one_value_per_channel(std::string_view call, const std::string& input) {
    nf::detail::raise_invalid(std::string(call) +
                              ": expected more than 1 value per channel when training, got input size " + input);
}

/// Compile-time rules of a normalization layer's input: its C against the layer's static C.
template <class Call, std::size_t Channels, class XL>
constexpr bool check_channels() {
    if constexpr (contains<axes::C<>, XL>) {
        using XC = find_axis_t<axes::C<>, XL>;
        if constexpr (XC::is_static && Channels != dynamic_extent && XC::extent != Channels) {
            (void)sizeof(
                nf::error::axis_extent_mismatch<nf::detail::extent_mismatch_message<Call, axes::C<Channels>, XC>(),
                                                Call, axes::C<Channels>, XC>);
            return false;
        }
    }
    return true;
}
} // namespace detail

namespace detail {
/// How the training forward gets its statistics from the batch's own: unchanged (nn::batch_norm).
/// Another policy (nn::sync_batch_norm, mpi/) merges them with those of other shards of a larger
/// batch: `merge(c, m, shift, centered, variance)` gets the local count per channel m (0 for an
/// empty shard, whose statistics are then 0) and, per channel, the shift k, mean - k and the biased
/// variance (double); it rewrites the last two into the merged statistics (relative to the same k)
/// and returns the merged count. A `collective` policy is called on every training call once the
/// local checks passed, even for an empty shard; the checks on the count (more than one value per
/// channel, none at all) then apply to the merged count.
struct local_statistics {
    static constexpr bool collective = false;
    static constexpr std::string_view layer_name = "nn::batch_norm"; // the layer, in messages
    std::size_t operator()(std::size_t, std::size_t m, const double*, double*, double*) const { return m; }
};

/// The body of nf::nn::functional::batch_norm and of the layer, on views: checks everything, then
/// normalizes x into out with the batch statistics (training) or the running ones, and in training
/// updates the running statistics that are given (writable) with the factor `momentum`. With
/// `saved`, a call that normalizes with batch statistics keeps them there for the backward (from
/// the statistics it computes anyway); one that normalizes with the running ones clears it.
template <class Arch, class X, class Out, class T, class Merge = local_statistics>
void batch_norm_views(std::string_view call, const X& x, const Out& out, param_ref<T> rm, param_ref<T> rv,
                      param_ref<T> w, param_ref<T> b, bool training, double momentum, double eps,
                      saved_statistics* saved = nullptr, const Merge& merge = {}) {
    using XL = typename X::axes;
    static_assert(contains<axes::C<>, XL>, "normfuse: nn::functional::batch_norm: the input has no axis C");
    using CA = find_axis_t<axes::C<>, XL>;
    const std::size_t c = x.template extent<axes::C<>>();
    check_length(call, "running_mean", rm, c);
    check_length(call, "running_var", rv, c);
    check_length(call, "weight", w, c);
    check_length(call, "bias", b, c);
    if (rm.present != rv.present)
        nf::detail::raise_invalid(std::string(call) + ": give both running_mean and running_var, or neither");
    if (!training && !rm.present)
        nf::detail::raise_invalid(std::string(call) + ": running_mean and running_var must be given when not training");
    const bool update = training && rm.present;
    if (update && (!rm.writable || !rv.writable))
        nf::detail::raise_invalid(std::string(call) +
                                  ": training updates running_mean and running_var, but they are read-only "
                                  "(views of const elements); pass writable ones, or std::nullopt");
    std::size_t m = 1; // values per channel: N * prod(spatial), whatever C is
    for (std::size_t i = 0; i < XL::size; ++i)
        if (i != index_of<axes::C<>, XL>) m *= x.extents()[i];
    // PyTorch rejects exactly one value per channel; none (N = 0 or a zero spatial extent) gives
    // the empty output.
    if constexpr (!Merge::collective)
        if (training && m == 1) raise_one_value_per_channel(call, describe(x));
    check_output(call, x, out);
    if (saved) {
        if (training) {
            saved->prepare(call, c); // throws if caller storage is too small: still nothing written
            std::fill_n(saved->mean_data(), c, 0.0);
            std::fill_n(saved->invstd_data(), c, batch_inv_std(0.0, eps));
        } else {
            saved->clear();
        }
    }
    // As PyTorch: empty statistics do not move the running ones (the layer still counts the batch).
    if constexpr (!Merge::collective)
        if (x.size() == 0) return;
    using CT = compute_t<T>;
    slot_scratch<CT> buf(c, c);
    auto wt = [&](std::size_t ch) { return w.present ? to_double(w[ch]) : 1.0; };
    auto bs = [&](std::size_t ch) { return b.present ? to_double(b[ch]) : 0.0; };
    if (training) {
        if (m > 0) {
            nf::detail::scratch_arena arena;
            nf::detail::slot_moments<Arch, axis_list<CA>>(x, buf.shift, buf.centered, buf.variance, arena);
        } else { // an empty shard of a collective call: no element to read
            std::fill_n(buf.shift, c, 0.0);
            std::fill_n(buf.centered, c, 0.0);
            std::fill_n(buf.variance, c, 0.0);
        }
        if constexpr (Merge::collective) {
            m = merge(c, m, buf.shift, buf.centered, buf.variance);
            if (m == 1) raise_one_value_per_channel(call, describe(x) + " (1 value per channel over all the shards)");
            if (m == 0) return;
        }
        const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
        for (std::size_t ch = 0; ch < c; ++ch) {
            const double d = buf.centered[ch], var = buf.variance[ch];
            if (update) {
                T& mean = rm.writable[ch];
                T& variance = rv.writable[ch];
                mean = from_double<T>((1 - momentum) * to_double(mean) + momentum * (buf.shift[ch] + d));
                variance = from_double<T>((1 - momentum) * to_double(variance) + momentum * var * unbias);
            }
            const double a = wt(ch) * batch_inv_std(var, eps);
            if (saved) {
                saved->mean_data()[ch] = buf.shift[ch] + d;
                saved->invstd_data()[ch] = batch_inv_std(var, eps);
            }
            buf.hi[ch] = static_cast<CT>(buf.shift[ch]);
            buf.scale[ch] = static_cast<CT>(a);
            buf.offset[ch] = static_cast<CT>(bs(ch) - d * a);
        }
    } else {
        for (std::size_t ch = 0; ch < c; ++ch)
            running_affine(rm[ch], rv[ch], wt(ch), bs(ch), eps, buf.hi[ch], buf.scale[ch], buf.offset[ch]);
    }
    if constexpr (Merge::collective)
        if (x.size() == 0) return; // an empty shard of a non-empty batch: the running statistics moved
    apply_slot_affine<Arch, axis_list<CA>>(x, out, buf.hi, buf.scale, buf.offset);
}
} // namespace detail

namespace functional {

/// `torch.nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training,
/// momentum, eps)` over caller-owned memory, written into `out` (same axes and extents as `x`, any
/// layouts; `out` may be `x`). `x` has the axis C and any others (statistics per channel over all
/// of them). The parameters are tensors or views over the single axis C, `std::optional`s of
/// them, or `std::nullopt`: read-only views of weights loaded from a file need no copy.
///
/// * training: normalizes with the batch mean and biased variance; if running statistics are
///   given, they must be writable and are updated, `(1 - momentum) * old + momentum * new` with
///   the unbiased variance. More than one value per channel is required.
/// * eval (`training = false`): normalizes with the running statistics, which must be given and
///   may be read-only; nothing is written but `out`.
///
/// Without weight/bias, 1 and 0. Every check runs before anything is written (PyTorch's messages:
/// "running_mean should contain 4 elements not 3", ...). Allocates nothing for up to
/// slot_scratch::inline_slots channels, and touches no shared state: safe from many threads.
template <class Arch = xsimd::default_arch, Array X, Array Out, class RM, class RV, class W = const std::nullopt_t&,
          class B = const std::nullopt_t&>
void batch_norm(const X& x, Out&& out, RM&& running_mean, RV&& running_var, W&& weight = std::nullopt,
                B&& bias = std::nullopt, bool training = false, double momentum = 0.1, double eps = 1e-5) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::batch_norm_views<Arch>(
        "nn::functional::batch_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out),
        nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
        nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)),
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), training, momentum, eps);
}

/// functional::batch_norm that also keeps, when it normalizes with batch statistics (`training`),
/// the per-channel mean and 1 / sqrt(var + eps) in `saved` for functional::batch_norm_backward
/// (PyTorch's `native_batch_norm` and its save_mean / save_invstd). No extra pass; no allocation
/// when `saved` is over caller storage. In eval, `saved` is cleared.
template <class Arch = xsimd::default_arch, Array X, Array Out, class RM, class RV, class W, class B>
void batch_norm(const X& x, Out&& out, RM&& running_mean, RV&& running_var, W&& weight, B&& bias, bool training,
                double momentum, double eps, saved_statistics& saved) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::batch_norm_views<Arch>(
        "nn::functional::batch_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out),
        nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
        nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)),
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), training, momentum, eps, &saved);
}

} // namespace functional

/// Eval BatchNorm folded into one multiply-add per element: writes `scale[c] = weight[c] /
/// sqrt(running_var[c] + eps)` and `shift[c] = bias[c] - running_mean[c] * scale[c]` (computed in
/// double, rounded once), so that `x * scale + shift` is the eval output up to rounding, e.g. to
/// merge the layer into the convolution before it. As spec section 2.5 notes for PyTorch's own
/// folded kernel, the form is less accurate than the layer's `(x - mean) * scale + bias` when
/// |running_mean| is large against the spread of x (cancellation in x * scale + shift).
/// Parameters as in functional::batch_norm; scale and shift are writable arrays over C.
template <class RM, class RV, class W, class B, Array Scale, Array Shift>
void fold_batch_norm(RM&& running_mean, RV&& running_var, W&& weight, B&& bias, double eps, Scale&& scale,
                     Shift&& shift) {
    using T = typename std::remove_cvref_t<Scale>::value_type;
    using PL = axis_list<axes::C<>>;
    const auto rm = detail::param_of<T, PL>(std::forward<RM>(running_mean));
    const auto rv = detail::param_of<T, PL>(std::forward<RV>(running_var));
    const auto w = detail::param_of<T, PL>(std::forward<W>(weight));
    const auto b = detail::param_of<T, PL>(std::forward<B>(bias));
    auto sc = detail::param_of<T, PL>(scale);
    auto sh = detail::param_of<T, PL>(shift);
    constexpr std::string_view call = "nn::fold_batch_norm";
    if (!rm.present || !rv.present)
        nf::detail::raise_invalid("nn::fold_batch_norm: running_mean and running_var must be given");
    if (!sc.writable || !sh.writable)
        nf::detail::raise_invalid("nn::fold_batch_norm: scale and shift must be writable");
    const std::size_t c = rm.size;
    detail::check_length(call, "running_var", rv, c);
    detail::check_length(call, "weight", w, c);
    detail::check_length(call, "bias", b, c);
    detail::check_length(call, "scale", sc, c);
    detail::check_length(call, "shift", sh, c);
    for (std::size_t ch = 0; ch < c; ++ch) {
        const double a = (w.present ? detail::to_double(w[ch]) : 1.0) / std::sqrt(detail::to_double(rv[ch]) + eps);
        sc.writable[ch] = detail::from_double<T>(a);
        sh.writable[ch] =
            detail::from_double<T>((b.present ? detail::to_double(b[ch]) : 0.0) - detail::to_double(rm[ch]) * a);
    }
}

/// Batch normalization over N and the spatial axes, per channel, exactly as PyTorch 1.13's
/// BatchNorm{Dims}d: training normalizes with the batch's biased variance and updates the running
/// statistics with the unbiased one; eval normalizes with the running statistics (or with the
/// batch's, when they are not tracked). Any layout of the axes works (NCHW, NHWC, NCL, NLC ...).
///
/// The body is one DSL expression, `out = (x - k) * scale + offset`, with per-channel k, scale and
/// offset: k is an element of the channel, so `x - k` is exact and the result stays within a few
/// float ulps of a float64 computation even when |mean| >> std.
template <class T, std::size_t Dims, std::size_t Channels = dynamic_extent>
class batch_norm : public detail::layer_calls<batch_norm<T, Dims, Channels>> {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::batch_norm<T, ...>: T must be float, double, nf::bf16 or nf::fp16");
    static_assert(Dims >= 1 && Dims <= 3, "normfuse: nn::batch_norm<T, Dims>: Dims is 1, 2 or 3");

public:
    using value_type = T;
    using channel_vector = tensor<T, shape<axes::C<Channels>>>;

    explicit batch_norm(std::size_t num_features, batch_norm_options options = {})
        : num_features_(num_features), options_(options) {
        if constexpr (Channels != dynamic_extent)
            if (num_features != Channels)
                nf::detail::raise_invalid("nn::batch_norm: num_features is " + std::to_string(num_features) +
                                          " but the layer type fixes " + std::to_string(Channels) + " channels");
        if (num_features == 0) nf::detail::raise_invalid("nn::batch_norm: num_features must be positive");
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
    batch_norm() requires(Channels != dynamic_extent) : batch_norm(Channels) {}

    /// Training mode (the default after construction), as `module.train(on)`.
    void train(bool on = true) noexcept { training_ = on; }
    /// Eval mode, as `module.eval()`.
    void eval() noexcept { training_ = false; }
    bool training() const noexcept { return training_; }
    const batch_norm_options& options() const noexcept { return options_; }
    std::size_t num_features() const noexcept { return num_features_; }

    /// Learnable scale and shift (only with `affine`); assign to them to set them.
    channel_vector& weight() { return require(weight_, "weight", options_.affine); }
    channel_vector& bias() { return require(bias_, "bias", options_.affine); }
    const channel_vector& weight() const { return require(weight_, "weight", options_.affine); }
    const channel_vector& bias() const { return require(bias_, "bias", options_.affine); }
    /// Running statistics (only with `track_running_stats`); assign to them to set them.
    channel_vector& running_mean() { return require(running_mean_, "running_mean", options_.track_running_stats); }
    channel_vector& running_var() { return require(running_var_, "running_var", options_.track_running_stats); }
    const channel_vector& running_mean() const {
        return require(running_mean_, "running_mean", options_.track_running_stats);
    }
    const channel_vector& running_var() const {
        return require(running_var_, "running_var", options_.track_running_stats);
    }
    std::int64_t num_batches_tracked() const noexcept { return num_batches_tracked_; }
    void set_num_batches_tracked(std::int64_t n) noexcept { num_batches_tracked_ = n; }

    /// The gradients of weight and bias (only with `affine`), as PyTorch's `weight.grad` and
    /// `bias.grad`: zero after construction, summed over backward calls until zero_grad().
    channel_vector& weight_grad() { return require(weight_grad_, "weight_grad", options_.affine); }
    channel_vector& bias_grad() { return require(bias_grad_, "bias_grad", options_.affine); }
    const channel_vector& weight_grad() const { return require(weight_grad_, "weight_grad", options_.affine); }
    const channel_vector& bias_grad() const { return require(bias_grad_, "bias_grad", options_.affine); }
    /// Sets weight_grad and bias_grad to 0 (`optimizer.zero_grad(set_to_none=False)`).
    void zero_grad() {
        if (options_.affine) {
            weight_grad_ = T(0);
            bias_grad_ = T(0);
        }
    }

    using detail::layer_calls<batch_norm>::forward;
    /// forward(x, out) that also keeps the batch statistics in `saved` for backward(), when it
    /// normalizes with them (training mode, or no running statistics); otherwise clears `saved`.
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out, saved_statistics& saved) {
        forward_views<Arch>(nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), &saved);
    }
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out, saved_statistics& saved) const {
        forward_views<Arch>(nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), &saved);
    }

    /// The backward of the last forward(x, out, saved): writes the gradient of the input into dx
    /// (same axes in the same order as x, same extents; may be dy) and, with `affine`, adds those of
    /// weight and bias to weight_grad() and bias_grad(). In training mode (or without running
    /// statistics) dx goes through the batch statistics in `saved`; in eval mode through the
    /// running statistics (`saved` is not read). `options` switch dx to accumulate or the
    /// parameters' gradients to overwrite. Checks everything before writing anything.
    template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX>
    auto backward(const X& x, const DY& dy, DX&& dx, const saved_statistics& saved, backward_options options = {}) {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::batch_norm::backward"));
        using XL = typename X::axes;
        static_assert(detail::batch_norm_axes_ok<Dims, XL>,
                      "normfuse: nn::batch_norm::backward: the input must have the axes (N, C) or (N, C, L) for "
                      "batch_norm1d, (N, C, H, W) for batch_norm2d, (N, C, D, H, W) for batch_norm3d, in any "
                      "order");
        static_assert(detail::gradient_axes_ok<X, DY, DX>,
                      "normfuse: nn::batch_norm::backward: dy and dx must have the axes of x in the same order (a "
                      "gradient is laid out as the array it is the gradient of); fix: view or copy dy in x's "
                      "layout");
        static_assert(std::is_same_v<typename std::remove_cvref_t<DY>::value_type, T> &&
                          std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T>,
                      "normfuse: nn::batch_norm::backward: x, dy and dx must have the layer's element type");
        if constexpr (nf::nn::detail::backward_element_ok<T> && detail::batch_norm_axes_ok<Dims, XL> &&
                      detail::gradient_axes_ok<X, DY, DX> &&
                      detail::check_channels<detail::batch_norm_backward_call, Channels, XL>()) {
            check_parameters();
            using PL = axis_list<axes::C<>>;
            using P = nf::nn::detail::param_ref<T>;
            const bool tracked = options_.track_running_stats;
            const P w = options_.affine ? nf::nn::detail::param_of<T, PL>(weight_) : P{};
            const P dw = options_.affine ? nf::nn::detail::param_of<T, PL>(weight_grad_) : P{};
            const P db = options_.affine ? nf::nn::detail::param_of<T, PL>(bias_grad_) : P{};
            const P rm = tracked ? nf::nn::detail::param_of<T, PL>(std::as_const(running_mean_)) : P{};
            const P rv = tracked ? nf::nn::detail::param_of<T, PL>(std::as_const(running_var_)) : P{};
            nf::nn::detail::batch_norm_backward_views<Arch>("nn::batch_norm::backward", nf::nn::detail::input_view(x),
                                                            nf::nn::detail::input_view(dy),
                                                            nf::nn::detail::output_view(dx), w, rm, rv, &saved,
                                                            training_ || !tracked, options_.eps, dw, db, options);
        }
    }

private:
    friend class detail::layer_calls<batch_norm<T, Dims, Channels>>;
    friend struct detail::batch_norm_access;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view). On a mutable layer in training mode
    // with running statistics, the call updates them and counts the batch; otherwise it is the
    // const call.
    // `merge` (see detail::local_statistics) turns the batch statistics of training mode into
    // those of a larger batch (nn::sync_batch_norm, through detail::batch_norm_access).
    template <class Arch, class X, class Out, class Merge = detail::local_statistics>
    void forward_views(const X& x, Out&& out, saved_statistics* saved = nullptr, const Merge& merge = {}) {
        if (!(training_ && options_.track_running_stats))
            return std::as_const(*this).template forward_views<Arch>(x, out, saved, merge);
        const double factor =
            options_.momentum ? *options_.momentum : 1.0 / static_cast<double>(num_batches_tracked_ + 1);
        run<Arch>(x, out, nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_mean_),
                  nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_var_), factor, saved, merge);
        ++num_batches_tracked_; // after every check passed: a rejected call changes nothing
    }
    template <class Arch, class X, class Out, class Merge = detail::local_statistics>
    void forward_views(const X& x, Out&& out, saved_statistics* saved = nullptr, const Merge& merge = {}) const {
        if (training_ && options_.track_running_stats) nf::nn::detail::raise_const_training("nn::batch_norm");
        using P = nf::nn::detail::param_ref<T>;
        if (options_.track_running_stats)
            run<Arch>(x, out, nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_mean_),
                      nf::nn::detail::param_of<T, axis_list<axes::C<>>>(running_var_), 0.0, saved, merge);
        else
            run<Arch>(x, out, P{}, P{}, 0.0, saved, merge);
    }

    // PyTorch's module around F.batch_norm: batch statistics in training, and in eval without
    // running statistics.
    template <class Arch, class X, class Out, class Merge>
    void run(const X& x, const Out& out, nf::nn::detail::param_ref<T> rm, nf::nn::detail::param_ref<T> rv,
             double factor, saved_statistics* saved, const Merge& merge) const {
        using XL = typename X::axes;
        static_assert(detail::batch_norm_axes_ok<Dims, XL>,
                      "normfuse: nn::batch_norm::forward: the input must have the axes (N, C) or (N, C, L) for "
                      "batch_norm1d, (N, C, H, W) for batch_norm2d, (N, C, D, H, W) for batch_norm3d, in any "
                      "order");
        if constexpr (detail::batch_norm_axes_ok<Dims, XL> &&
                      detail::check_channels<detail::batch_norm_call, Channels, XL>()) {
            check_parameters();
            using PL = axis_list<axes::C<>>;
            using P = nf::nn::detail::param_ref<T>;
            const P w = options_.affine ? nf::nn::detail::param_of<T, PL>(weight_) : P{};
            const P b = options_.affine ? nf::nn::detail::param_of<T, PL>(bias_) : P{};
            // PyTorch's SyncBatchNorm synchronizes in training mode only: in eval without running
            // statistics every shard normalizes with its own.
            if (training_)
                nf::nn::detail::batch_norm_views<Arch>(Merge::layer_name, x, out, rm, rv, w, b, true, factor,
                                                       options_.eps, saved, merge);
            else
                nf::nn::detail::batch_norm_views<Arch>(Merge::layer_name, x, out, rm, rv, w, b,
                                                       !options_.track_running_stats, factor, options_.eps, saved);
        }
    }

    template <class V>
    static V& require(V& v, const char* what, bool present) {
        if (!present)
            nf::detail::raise_logic(std::string("nn::batch_norm: the layer has no ") + what +
                                    " (it was built without affine / track_running_stats)");
        return v;
    }
    template <class V>
    static const V& require(const V& v, const char* what, bool present) {
        return require(const_cast<V&>(v), what, present);
    }

    // The parameters still have num_features elements (they can be reassigned whole).
    void check_parameters() const {
        if (options_.affine) {
            nf::nn::detail::check_parameter("nn::batch_norm", "weight", weight_, num_features_);
            nf::nn::detail::check_parameter("nn::batch_norm", "bias", bias_, num_features_);
        }
        if (options_.track_running_stats) {
            nf::nn::detail::check_parameter("nn::batch_norm", "running_mean", running_mean_, num_features_);
            nf::nn::detail::check_parameter("nn::batch_norm", "running_var", running_var_, num_features_);
        }
    }

    std::size_t num_features_;
    batch_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_, running_mean_, running_var_, weight_grad_, bias_grad_;
    std::int64_t num_batches_tracked_ = 0;
};

/// fold_batch_norm of a layer's running statistics and affine parameters (its eval form, whatever
/// its mode), into writable arrays over C. Throws std::invalid_argument for a layer without running
/// statistics: its eval output depends on the batch and has no per-channel fold.
template <class T, std::size_t Dims, std::size_t Channels, Array Scale, Array Shift>
void fold_batch_norm(const batch_norm<T, Dims, Channels>& layer, Scale&& scale, Shift&& shift) {
    if (!layer.options().track_running_stats)
        nf::detail::raise_invalid("nn::fold_batch_norm: the layer has no running statistics (built without "
                                  "track_running_stats, it normalizes with batch statistics in eval too)");
    if (layer.options().affine)
        fold_batch_norm(layer.running_mean(), layer.running_var(), layer.weight(), layer.bias(), layer.options().eps,
                        scale, shift);
    else
        fold_batch_norm(layer.running_mean(), layer.running_var(), std::nullopt, std::nullopt, layer.options().eps,
                        scale, shift);
}

/// The per-channel scale and shift of an eval BatchNorm: y = x * scale + shift.
template <class T, std::size_t Channels = dynamic_extent>
struct folded_batch_norm {
    tensor<T, shape<axes::C<Channels>>> scale, shift;
};

/// fold_batch_norm of a layer, returned as two new tensors over C.
template <class T, std::size_t Dims, std::size_t Channels>
folded_batch_norm<T, Channels> fold_batch_norm(const batch_norm<T, Dims, Channels>& layer) {
    const auto e = extents<shape<axes::C<Channels>>>::from_all({layer.num_features()});
    folded_batch_norm<T, Channels> f{tensor<T, shape<axes::C<Channels>>>(e), tensor<T, shape<axes::C<Channels>>>(e)};
    fold_batch_norm(layer, f.scale, f.shift);
    return f;
}

/// BatchNorm1d: input (N, C) or (N, C, L) in any order.
template <class T, std::size_t Channels = dynamic_extent>
using batch_norm1d = batch_norm<T, 1, Channels>;
/// BatchNorm2d: input (N, C, H, W) in any order (NCHW, NHWC ...).
template <class T, std::size_t Channels = dynamic_extent>
using batch_norm2d = batch_norm<T, 2, Channels>;
/// BatchNorm3d: input (N, C, D, H, W) in any order (NCDHW, NDHWC ...).
template <class T, std::size_t Channels = dynamic_extent>
using batch_norm3d = batch_norm<T, 3, Channels>;

} // namespace nf::nn
