// normfuse/nn/batch_norm.hpp: BatchNorm1d/2d/3d with PyTorch 1.13 semantics, for every layout of N, C and the spatial axes.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/moments.hpp>

namespace nf::nn {

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
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nn::batch_norm<T, ...>: T must be float or double");
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
        }
        if (options_.track_running_stats) {
            running_mean_ = channel_vector(e, T(0));
            running_var_ = channel_vector(e, T(1));
        }
        reserve(num_features);
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

private:
    friend class detail::layer_calls<batch_norm<T, Dims, Channels>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view).
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) {
        using XL = typename X::axes;
        static_assert(detail::batch_norm_axes_ok<Dims, XL>,
                      "normfuse: nn::batch_norm::forward: the input must have the axes (N, C) or (N, C, L) for "
                      "batch_norm1d, (N, C, H, W) for batch_norm2d, (N, C, D, H, W) for batch_norm3d, in any "
                      "order");
        if constexpr (detail::batch_norm_axes_ok<Dims, XL> &&
                      detail::check_channels<detail::batch_norm_call, Channels, XL>()) {
            const std::size_t c = x.template extent<axes::C<>>();
            check_channel_count(c);
            const bool batch_stats = training_ || !options_.track_running_stats;
            std::size_t m = 1; // values per channel: N * prod(spatial), whatever C is
            for (std::size_t i = 0; i < XL::size; ++i)
                if (i != index_of<axes::C<>, XL>) m *= x.extents()[i];
            // PyTorch rejects exactly one value per channel; none (N = 0 or a zero spatial extent)
            // gives the empty output.
            if (batch_stats && m == 1)
                nf::detail::raise_invalid("nn::batch_norm: expected more than 1 value per channel when "
                                          "training, got input size " +
                                          nf::nn::detail::describe(x));
            nf::nn::detail::check_output("nn::batch_norm::forward", x, out);
            if (x.size() == 0) {
                // As PyTorch: the batch counts, but empty statistics do not move the running ones.
                if (training_ && options_.track_running_stats) ++num_batches_tracked_;
                return;
            }
            reserve(c);
            if (batch_stats)
                batch_coefficients<Arch>(x, c, m);
            else
                running_coefficients(c);
            nf::nn::detail::apply_slot_affine<Arch, axis_list<axes::C<Channels>>>(
                x, out, buffers_.hi.data(), buffers_.scale.data(), buffers_.offset.data());
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

    void check_channel_count(std::size_t c) const {
        if (options_.affine) {
            nf::nn::detail::check_parameter("nn::batch_norm", "weight", weight_, num_features_);
            nf::nn::detail::check_parameter("nn::batch_norm", "bias", bias_, num_features_);
        }
        if (options_.track_running_stats) {
            nf::nn::detail::check_parameter("nn::batch_norm", "running_mean", running_mean_, num_features_);
            nf::nn::detail::check_parameter("nn::batch_norm", "running_var", running_var_, num_features_);
        }
        if (options_.track_running_stats && c != num_features_)
            nf::detail::raise_extent("nn::batch_norm: running_mean should contain " + std::to_string(c) +
                                     " elements not " + std::to_string(num_features_));
        if (!options_.track_running_stats && options_.affine && c != num_features_)
            nf::detail::raise_extent("nn::batch_norm: weight should contain " + std::to_string(c) + " elements not " +
                                     std::to_string(num_features_));
    }
    void reserve(std::size_t c) { buffers_.reserve(c, c); }
    double w(std::size_t c) const { return options_.affine ? static_cast<double>(weight_.data()[c]) : 1.0; }
    double b(std::size_t c) const { return options_.affine ? static_cast<double>(bias_.data()[c]) : 0.0; }

    template <class Arch, class X>
    void batch_coefficients(const X& x, std::size_t channels, std::size_t m) {
        nf::detail::scratch_arena arena;
        auto& buf = buffers_;
        nf::detail::slot_moments<Arch, axis_list<axes::C<Channels>>>(x, buf.shift.data(), buf.centered.data(),
                                                                     buf.variance.data(), arena);
        const bool update = training_ && options_.track_running_stats;
        double factor = 0;
        if (update) {
            ++num_batches_tracked_;
            factor = options_.momentum ? *options_.momentum : 1.0 / static_cast<double>(num_batches_tracked_);
        }
        const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
        for (std::size_t c = 0; c < channels; ++c) {
            const double d = buf.centered[c], var = buf.variance[c];
            if (update) {
                T& rm = running_mean_.data()[c];
                T& rv = running_var_.data()[c];
                rm = static_cast<T>((1 - factor) * static_cast<double>(rm) + factor * (buf.shift[c] + d));
                rv = static_cast<T>((1 - factor) * static_cast<double>(rv) + factor * var * unbias);
            }
            const double a = w(c) * nf::nn::detail::batch_inv_std(var, options_.eps);
            buf.hi[c] = static_cast<T>(buf.shift[c]);
            buf.scale[c] = static_cast<T>(a);
            buf.offset[c] = static_cast<T>(b(c) - d * a);
        }
    }

    void running_coefficients(std::size_t channels) {
        auto& buf = buffers_;
        for (std::size_t c = 0; c < channels; ++c)
            nf::nn::detail::running_affine(running_mean_.data()[c], running_var_.data()[c], w(c), b(c), options_.eps,
                                           buf.hi[c], buf.scale[c], buf.offset[c]);
    }

    std::size_t num_features_;
    batch_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_, running_mean_, running_var_;
    std::int64_t num_batches_tracked_ = 0;
    nf::nn::detail::slot_buffers<T> buffers_;
};

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
