// normfuse/nn/instance_norm.hpp: InstanceNorm1d/2d/3d with PyTorch 1.13 semantics (per-sample, per-channel statistics).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
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

/// Instance normalization as PyTorch 1.13's InstanceNorm{Dims}d: statistics per sample and
/// channel over the spatial axes (biased variance). With `track_running_stats`, training updates
/// the running statistics with the batch average of the per-instance mean and unbiased variance
/// (num_batches_tracked is never incremented) and eval uses them. Input: (N, C, spatial...) in any
/// order, or unbatched (C, spatial...).
template <class T, std::size_t Dims, std::size_t Channels = dynamic_extent>
class instance_norm : public detail::layer_calls<instance_norm<T, Dims, Channels>> {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nn::instance_norm<T, ...>: T must be float or double");
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
    /// Always 0: PyTorch's InstanceNorm never increments it.
    std::int64_t num_batches_tracked() const noexcept { return 0; }

private:
    friend class detail::layer_calls<instance_norm<T, Dims, Channels>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view).
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) {
        using XL = typename X::axes;
        static_assert(detail::instance_axes_ok<Dims, XL>,
                      "normfuse: nn::instance_norm::forward: the input must have the axes (N, C, L) or (C, L) for "
                      "instance_norm1d, (N, C, H, W) or (C, H, W) for 2d, (N, C, D, H, W) or (C, D, H, W) for 3d, "
                      "in any order");
        if constexpr (detail::instance_axes_ok<Dims, XL> &&
                      detail::check_channels<detail::instance_norm_call, Channels, XL>()) {
            using SL = axis_restrict<XL, axis_list<axes::N<>, axes::C<>>>; // one slot per instance
            const std::size_t c = x.template extent<axes::C<>>();
            std::size_t n = 1;
            if constexpr (contains<axes::N<>, XL>) n = x.template extent<axes::N<>>();
            const std::size_t slots = n * c;
            std::size_t spatial = 1; // whatever N and C are (N = 0 still has a spatial size)
            [&]<class... As>(axis_list<As...>) {
                ((spatial *= x.template extent<As>()), ...);
            }(detail::instance_spatial<Dims>{});
            check_state(n, c);
            const bool instance_stats = training_ || !options_.track_running_stats;
            if (instance_stats && spatial == 1)
                nf::detail::raise_invalid("nn::instance_norm: expected more than 1 spatial element when "
                                          "training, got input size " +
                                          nf::nn::detail::describe(x));
            nf::nn::detail::check_output("nn::instance_norm::forward", x, out);
            if (x.size() == 0) {
                // The empty output. With no instance, the running statistics' update averages over
                // none and gives NaN, as PyTorch's (`running_mean.view({0, C}).mean(0)`); with
                // instances of no spatial element, they do not move.
                if (instance_stats && training_ && options_.track_running_stats && n == 0)
                    for (std::size_t ch = 0; ch < num_features_; ++ch)
                        running_mean_.data()[ch] = running_var_.data()[ch] = std::numeric_limits<T>::quiet_NaN();
                return;
            }
            buffers_.reserve(slots, slots);
            auto& buf = buffers_;
            const bool c_last = index_of<axes::C<>, SL> + 1 == SL::size;
            nf::nn::detail::for_slot_blocks<SL, true>(
                x, out,
                [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                    if (instance_stats) {
                        nf::detail::scratch_arena arena;
                        nf::detail::slot_moments<Arch, KL>(xv, buf.shift.data() + s0, buf.centered.data() + s0,
                                                           buf.variance.data() + s0, arena);
                    }
                    coefficients(c_last, n, c, instance_stats, s0, s1);
                    nf::nn::detail::apply_slot_affine<Arch, KL>(xv, ov, buf.hi.data() + s0, buf.scale.data() + s0,
                                                                buf.offset.data() + s0, store);
                });
            if (instance_stats && training_ && options_.track_running_stats) update_running(c_last, c, n, spatial);
        }
    }

    // Checks of the layer's own state against an input with n instances of c channels.
    void check_state(std::size_t n, std::size_t c) const {
        if (options_.track_running_stats && c != num_features_)
            nf::detail::raise_extent("nn::instance_norm: running_mean should contain " + std::to_string(n * c) +
                                     " elements not " + std::to_string(n * num_features_));
        if (options_.affine && c != num_features_)
            nf::detail::raise_extent("nn::instance_norm: weight should contain " + std::to_string(n * c) +
                                     " elements not " + std::to_string(n * num_features_));
        if (options_.affine) {
            detail::check_parameter("nn::instance_norm", "weight", weight_, num_features_);
            detail::check_parameter("nn::instance_norm", "bias", bias_, num_features_);
        }
        if (options_.track_running_stats) {
            detail::check_parameter("nn::instance_norm", "running_mean", running_mean_, num_features_);
            detail::check_parameter("nn::instance_norm", "running_var", running_var_, num_features_);
        }
    }

    // hi, scale and offset of the slots [s0, s1) (of n * c, in the order of the input's N and C: C
    // last or first), from the instance statistics or from the running ones.
    void coefficients(bool c_last, std::size_t n, std::size_t c, bool instance_stats, std::size_t s0, std::size_t s1) {
        auto& buf = buffers_;
        auto channel_of = [&](std::size_t s) { return c_last ? s % c : s / n; };
        if (instance_stats) {
            for (std::size_t s = s0; s < s1; ++s) {
                const std::size_t ch = channel_of(s);
                const double a = w(ch) * nf::nn::detail::batch_inv_std(buf.variance[s], options_.eps);
                buf.hi[s] = static_cast<T>(buf.shift[s]);
                buf.scale[s] = static_cast<T>(a);
                buf.offset[s] = static_cast<T>(b(ch) - buf.centered[s] * a);
            }
        } else {
            for (std::size_t s = s0; s < s1; ++s) {
                const std::size_t ch = channel_of(s);
                nf::nn::detail::running_affine(running_mean_.data()[ch], running_var_.data()[ch], w(ch), b(ch),
                                               options_.eps, buf.hi[s], buf.scale[s], buf.offset[s]);
            }
        }
    }

    template <class V>
    static V& require(V& v, const char* what, bool present) {
        if (!present)
            nf::detail::raise_logic(std::string("nn::instance_norm: the layer has no ") + what +
                                    " (it was built without affine / track_running_stats)");
        return v;
    }
    double w(std::size_t c) const { return options_.affine ? static_cast<double>(weight_.data()[c]) : 1.0; }
    double b(std::size_t c) const { return options_.affine ? static_cast<double>(bias_.data()[c]) : 0.0; }

    // The running statistics' update from the statistics of every instance.
    void update_running(bool c_last, std::size_t c, std::size_t n, std::size_t spatial) {
        auto slot_of = [&](std::size_t i, std::size_t ch) { return c_last ? i * c + ch : ch * n + i; };
        auto& buf = buffers_;
        const double m = options_.momentum;
        const double unbias = static_cast<double>(spatial) / static_cast<double>(spatial - 1);
        for (std::size_t ch = 0; ch < c; ++ch) {
            double mean_sum = 0, var_sum = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t s = slot_of(i, ch);
                mean_sum += buf.shift[s] + buf.centered[s];
                var_sum += buf.variance[s] * unbias;
            }
            T& rm = running_mean_.data()[ch];
            T& rv = running_var_.data()[ch];
            rm = static_cast<T>((1 - m) * static_cast<double>(rm) + m * mean_sum / static_cast<double>(n));
            rv = static_cast<T>((1 - m) * static_cast<double>(rv) + m * var_sum / static_cast<double>(n));
        }
    }

    std::size_t num_features_;
    instance_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_, running_mean_, running_var_;
    nf::nn::detail::slot_buffers<T> buffers_;
};

template <class T, std::size_t Channels = dynamic_extent>
using instance_norm1d = instance_norm<T, 1, Channels>;
template <class T, std::size_t Channels = dynamic_extent>
using instance_norm2d = instance_norm<T, 2, Channels>;
template <class T, std::size_t Channels = dynamic_extent>
using instance_norm3d = instance_norm<T, 3, Channels>;

} // namespace nf::nn
