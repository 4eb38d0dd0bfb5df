// normfuse/nn/normalize.hpp: nf::nn::normalize, torchvision's transforms.Normalize: (x - mean[c]) / std[c] by true division.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/common.hpp>

namespace nf::nn {

/// torchvision's `Normalize(mean, std, inplace)` over the axis `Channel` (C by default), for
/// inputs of any layout that has that axis (NCHW, NHWC, CHW, NCDHW ...).
///
/// As in torchvision, mean and std are first rounded to the element type `T`; each element is
/// then computed as `(x - mean[c]) / std[c]` with a true division, so float results equal
/// torchvision's bit for bit. A std that is zero after rounding is rejected at construction;
/// negative or NaN std are accepted, as in torchvision. Mean and std of length 1 apply to every
/// channel.
template <class T, Axis Channel = axes::C<>>
class normalize {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nn::normalize<T>: T must be float or double");

public:
    using channel_axis = Channel;
    using channel_vector = tensor<T, shape<axis_id<Channel>>>;

    normalize(std::span<const double> mean, std::span<const double> std) {
        if (mean.size() != std.size() && mean.size() != 1 && std.size() != 1)
            nf::detail::raise_invalid("nn::normalize: mean has " + std::to_string(mean.size()) + " values and std " +
                                      std::to_string(std.size()) + "; give one value per channel (or one for all)");
        if (mean.empty() || std.empty())
            nf::detail::raise_invalid("nn::normalize: mean and std need at least one value");
        const std::size_t n = std::max(mean.size(), std.size());
        if constexpr (Channel::is_static)
            if (n != 1 && n != Channel::extent)
                nf::detail::raise_invalid("nn::normalize: the channel axis has extent " +
                                          std::to_string(Channel::extent) + " but " + std::to_string(n) +
                                          " mean/std values were given");
        mean_ = channel_vector(channel_vector::extents_type::from_all({n}));
        std_ = channel_vector(channel_vector::extents_type::from_all({n}));
        for (std::size_t c = 0; c < n; ++c) {
            mean_.data()[c] = static_cast<T>(mean[mean.size() == 1 ? 0 : c]);
            std_.data()[c] = static_cast<T>(std[std.size() == 1 ? 0 : c]);
            if (std_.data()[c] == T(0))
                nf::detail::raise_invalid(std::string("nn::normalize: std evaluated to zero after "
                                                      "conversion to ") +
                                          (sizeof(T) == 4 ? "float" : "double") + " (channel " + std::to_string(c) +
                                          "), leading to division by zero");
        }
    }
    normalize(std::initializer_list<double> mean, std::initializer_list<double> std)
        : normalize(std::span<const double>(mean.begin(), mean.size()),
                    std::span<const double>(std.begin(), std.size())) {}

    /// The expression `(x - mean) / std` over any operand with the channel axis, unevaluated.
    template <ArrayOperand X>
    auto expression(X&& x) const {
        check_rank<X>();
        return (std::forward<X>(x) - mean_) / std_;
    }

    /// Writes the normalized `x` into `out` (same axes, any layouts). `out` may be `x` itself.
    template <class X, class Out>
    void forward(const X& x, Out&& out) const {
        check_rank<X>();
        if (mean_.size() == 1)
            out = (x - mean_.data()[0]) / std_.data()[0];
        else
            out = (x - mean_) / std_;
    }

    /// torchvision's `inplace=False`: returns a new tensor; `x` is unchanged.
    template <class U, class S>
    tensor<U, S> operator()(const tensor<U, S>& x) const {
        tensor<U, S> out(x.extents());
        forward(x, out);
        return out;
    }

    /// torchvision's `inplace=True`: overwrites `x` (a tensor or a mutable view) and returns it.
    template <Array X>
    X&& operator()(X&& x, in_place_t) const {
        forward(x, x);
        return std::forward<X>(x);
    }

    /// Mean and std as rounded to T (one value per channel, or one value for all).
    const channel_vector& mean() const noexcept { return mean_; }
    const channel_vector& std() const noexcept { return std_; }

private:
    // torchvision's rule: a tensor image has at least 3 dimensions, (..., C, H, W).
    template <class X>
    static constexpr void check_rank() {
        static_assert(axes_of<X>::size >= 3,
                      "normfuse: nn::normalize: the input must have at least 3 axes, as torchvision's "
                      "Normalize requires a tensor image of size (..., C, H, W). Fix: give the input its "
                      "spatial axes (e.g. (C, H, W) with H = 1), or write the expression (x - mean) / std.");
    }

    channel_vector mean_;
    channel_vector std_;
};

} // namespace nf::nn
