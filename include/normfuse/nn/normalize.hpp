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

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/backward/slot_gradient.hpp>
#include <normfuse/nn/common.hpp>

namespace nf::nn {

namespace detail {
/// torchvision's rule, for the layer and nf::nn::functional::normalize: a tensor image has at
/// least 3 dimensions, (..., C, H, W). The rank is in the type: checked at compile time.
template <class X>
constexpr void check_normalize_rank() {
    static_assert(axes_of<X>::size >= 3,
                  "normfuse: nn::normalize: the input must have at least 3 axes, as torchvision's "
                  "Normalize requires a tensor image of size (..., C, H, W). Fix: give the input its "
                  "spatial axes (e.g. (C, H, W) with H = 1), or write the expression (x - mean) / std.");
}

/// The body of nf::nn::functional::normalize and of the layer, on views: `(x - mean) / std` over
/// the channel axis CA, with mean and std of one value per channel or one for all. `Mixed`: one of
/// them may have one value and the other one per channel (the layer expands them to the same
/// length, so it compiles only the two uniform kernels).
template <class Arch, class CA, bool Mixed, class X, class Out, class T>
void normalize_views(std::string_view call, const X& x, const Out& out, param_ref<T> mean, param_ref<T> sd) {
    using XL = typename X::axes;
    check_normalize_rank<X>();
    static_assert(contains<CA, XL>, "normfuse: nn::normalize: the input lacks the channel axis of mean and std");
    if constexpr (contains<CA, XL> && XL::size >= 3) {
        const std::size_t c = x.template extent<CA>();
        auto check = [&](const param_ref<T>& p, const char* name) {
            if (!p.present) nf::detail::raise_invalid(std::string(call) + ": " + name + " must be given");
            if (p.size != 1 && p.size != c)
                nf::detail::raise_extent(std::string(call) + ": " + name + " has " + std::to_string(p.size) +
                                         " values but the input has " + std::to_string(c) + " channels (axis " +
                                         std::string(CA::name) + "); give one value per channel or one for all");
        };
        check(mean, "mean");
        check(sd, "std");
        for (std::size_t i = 0; i < sd.size; ++i)
            if (to_double(sd[i]) == 0)
                nf::detail::raise_invalid(std::string(call) + ": std evaluated to zero after conversion to " +
                                          std::string(nf::detail::element_name<T>()) + " (channel " +
                                          std::to_string(i) + "), leading to division by zero");
        check_output(call, x, out);
        using PV = view<const T, shape<axis_id<CA>>>;
        const bool m1 = mean.size == 1, s1 = sd.size == 1;
        if constexpr (nf::detail::is_half_element_v<T>) {
            // torchvision's tensor.sub_(mean).div_(std) on a 16-bit tensor rounds twice: the
            // difference to T, then the quotient. The same here (nf::cast<T> rounds), in float.
            const auto xf = nf::cast<float>(x);
            const float m0 = static_cast<float>(mean[0]), s0 = static_cast<float>(sd[0]);
            if (m1 && s1) {
                write<Arch>(out, nf::cast<T>(xf - m0) / s0, store_kind::automatic);
            } else if (!m1 && !s1) {
                write<Arch>(out, nf::cast<T>(xf - nf::cast<float>(PV(mean.data, {c}))) / PV(sd.data, {c}),
                            store_kind::automatic);
            } else if constexpr (Mixed) {
                if (m1)
                    write<Arch>(out, nf::cast<T>(xf - m0) / PV(sd.data, {c}), store_kind::automatic);
                else
                    write<Arch>(out, nf::cast<T>(xf - nf::cast<float>(PV(mean.data, {c}))) / s0, store_kind::automatic);
            }
        } else if (m1 && s1) {
            write<Arch>(out, (x - mean[0]) / sd[0], store_kind::automatic);
        } else if (!m1 && !s1) {
            write<Arch>(out, (x - PV(mean.data, {c})) / PV(sd.data, {c}), store_kind::automatic);
        } else if constexpr (Mixed) {
            if (m1)
                write<Arch>(out, (x - mean[0]) / PV(sd.data, {c}), store_kind::automatic);
            else
                write<Arch>(out, (x - PV(mean.data, {c})) / sd[0], store_kind::automatic);
        }
    }
}

/// The body of nf::nn::functional::normalize_backward and of the layer's backward, on views:
/// dx = dy / std over the channel axis CA (std of one value per channel or one for all), written
/// or added (`mode`). Every check runs before dx is written.
template <class Arch, class CA, class DY, class DX, class T>
void normalize_backward_views(std::string_view call, const DY& dy, const DX& dx, param_ref<T> sd, grad_write mode) {
    using GL = typename DY::axes;
    check_normalize_rank<DY>();
    static_assert(contains<CA, GL>, "normfuse: nn::normalize::backward: dy lacks the channel axis of mean and std");
    if constexpr (contains<CA, GL> && GL::size >= 3) {
        const std::size_t c = dy.template extent<CA>();
        if (!sd.present) nf::detail::raise_invalid(std::string(call) + ": std must be given");
        if (sd.size != 1 && sd.size != c)
            nf::detail::raise_extent(std::string(call) + ": std has " + std::to_string(sd.size) +
                                     " values but dy has " + std::to_string(c) + " channels (axis " +
                                     std::string(CA::name) +
                                     "); give one value per channel or one for all; nothing was written");
        for (std::size_t i = 0; i < sd.size; ++i)
            if (to_double(sd[i]) == 0)
                nf::detail::raise_invalid(std::string(call) + ": std is zero (channel " + std::to_string(i) +
                                          "): the gradient is a division by zero; nothing was written");
        check_output(call, dy, dx);
        using PV = view<const T, shape<axis_id<CA>>>;
        const bool acc = mode == grad_write::accumulate;
        if (sd.size == 1 && c != 1) {
            if (acc)
                write<Arch>(dx, dx + dy / sd[0], store_kind::automatic);
            else
                write<Arch>(dx, dy / sd[0], store_kind::automatic);
        } else if (acc) {
            write<Arch>(dx, dx + dy / PV(sd.data, {c}), store_kind::automatic);
        } else {
            write<Arch>(dx, dy / PV(sd.data, {c}), store_kind::automatic);
        }
    }
}
} // namespace detail

namespace functional {

/// torchvision's `transforms.functional.normalize(tensor, mean, std)` over caller-owned memory,
/// written into `out` (`out` may be `x`: torchvision's inplace=True). mean and std are tensors or
/// views (read-only is fine) over one axis, the channel axis of x (C for `nf::shape<C<>>`), with
/// one value per channel or one for all; each element is `(x - mean[c]) / std[c]` with a true
/// division, bit for bit torchvision's in float. A zero std is rejected before anything is written.
template <class Arch = xsimd::default_arch, Array X, Array Out, Array M, Array S>
void normalize(const X& x, Out&& out, const M& mean, const S& std) {
    using T = typename std::remove_cvref_t<X>::value_type;
    static_assert(M::rank == 1 && S::rank == 1,
                  "normfuse: nn::functional::normalize: mean and std have one axis, the channel axis");
    using CA = axis_at_t<0, typename M::axes>;
    using PL = axis_list<CA>;
    nf::nn::detail::normalize_views<Arch, CA, true>(
        "nn::functional::normalize", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out),
        nf::nn::detail::param_of<T, PL>(mean), nf::nn::detail::param_of<T, PL>(std));
}

/// The backward of `functional::normalize` over caller-owned memory: dx = dy / std[c], a true
/// division as PyTorch's autograd of `div` (the mean does not enter, so it is not asked for). std
/// as to the forward (one axis, the channel axis of dy; one value per channel or one for all). dx
/// has the axes of dy (any order) and its extents, checked before anything is written; it may be
/// dy. `options.input`: overwrite dx (the default) or add to it.
template <class Arch = xsimd::default_arch, Array DY, Array DX, Array S>
auto normalize_backward(const DY& dy, DX&& dx, const S& std, backward_options options = {}) {
    using T = typename DY::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::normalize_backward"));
    static_assert(S::rank == 1, "normfuse: nn::functional::normalize_backward: std has one axis, the channel axis");
    static_assert(std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T>,
                  "normfuse: nn::functional::normalize_backward: dy and dx must have the same element type");
    using CA = axis_at_t<0, typename S::axes>;
    nf::nn::detail::check_normalize_rank<DY>();
    static_assert(contains<CA, typename DY::axes>,
                  "normfuse: nn::functional::normalize_backward: dy lacks the channel axis of std");
    if constexpr (nf::nn::detail::backward_element_ok<T> && S::rank == 1 &&
                  std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T> && contains<CA, typename DY::axes> &&
                  DY::axes::size >= 3) {
        nf::nn::detail::normalize_backward_views<Arch, CA>(
            "nn::functional::normalize_backward", nf::nn::detail::input_view(dy), nf::nn::detail::output_view(dx),
            nf::nn::detail::param_of<T, axis_list<CA>>(std), options.input);
    }
}

} // namespace functional

/// torchvision's `Normalize(mean, std, inplace)` over the axis `Channel` (C by default), for
/// inputs of any layout that has that axis (NCHW, NHWC, CHW, NCDHW ...).
///
/// As in torchvision, mean and std are first rounded to the element type `T`; each element is
/// then computed as `(x - mean[c]) / std[c]` with a true division, so float results equal
/// torchvision's bit for bit. On nf::bf16 and nf::fp16, the difference is rounded to T before the
/// division (in float), as torchvision's `sub_` then `div_` on such a tensor round each result:
/// bit for bit torchvision's as well. A std that is zero after rounding is rejected at construction;
/// negative or NaN std are accepted, as in torchvision. Mean and std of length 1 apply to every
/// channel.
template <class T, Axis Channel = axes::C<>>
class normalize {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::normalize<T>: T must be float, double, nf::bf16 or nf::fp16");

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
            mean_.data()[c] = detail::from_double<T>(mean[mean.size() == 1 ? 0 : c]);
            std_.data()[c] = detail::from_double<T>(std[std.size() == 1 ? 0 : c]);
            if (detail::to_double(std_.data()[c]) == 0)
                nf::detail::raise_invalid(std::string("nn::normalize: std evaluated to zero after "
                                                      "conversion to ") +
                                          std::string(nf::detail::element_name<T>()) + " (channel " +
                                          std::to_string(c) + "), leading to division by zero");
        }
    }
    normalize(std::initializer_list<double> mean, std::initializer_list<double> std)
        : normalize(std::span<const double>(mean.begin(), mean.size()),
                    std::span<const double>(std.begin(), std.size())) {}

    /// The expression `(x - mean) / std` over any operand with the channel axis, unevaluated.
    template <ArrayOperand X>
    auto expression(X&& x) const {
        detail::check_normalize_rank<X>();
        if constexpr (nf::detail::is_half_element_v<T>) // rounded after the subtraction, as forward()
            return nf::cast<T>(nf::cast<float>(std::forward<X>(x)) - nf::cast<float>(mean_)) / std_;
        else
            return (std::forward<X>(x) - mean_) / std_;
    }

    /// Writes the normalized `x` into `out` (same axes, any layouts). `out` may be `x` itself. The
    /// layer has no state that a call changes: any number of threads may share it.
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out) const {
        using PL = axis_list<axis_id<Channel>>;
        detail::normalize_views<Arch, axis_id<Channel>, false>("nn::normalize::forward", detail::input_view(x),
                                                               detail::output_view(out), detail::param_of<T, PL>(mean_),
                                                               detail::param_of<T, PL>(std_));
    }

    /// torchvision's `inplace=False`: returns a new tensor; `x` is unchanged.
    /// The backward (Normalize has no parameters to learn): dx = dy / std, with a true division,
    /// as PyTorch's autograd of `div` computes it (the mean does not enter). dx has the axes of dy
    /// (any order) and its extents, checked before anything is written; it may be dy.
    /// `options.input`: overwrite dx (the default) or add to it.
    template <class Arch = xsimd::default_arch, Array DY, Array DX>
    auto backward(const DY& dy, DX&& dx, backward_options options = {}) const {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::normalize::backward"));
        detail::check_normalize_rank<DY>();
        static_assert(contains<axis_id<Channel>, typename DY::axes>,
                      "normfuse: nn::normalize::backward: dy lacks the channel axis of mean and std");
        if constexpr (nf::nn::detail::backward_element_ok<T> && contains<axis_id<Channel>, typename DY::axes> &&
                      DY::axes::size >= 3)
            detail::normalize_backward_views<Arch, axis_id<Channel>>(
                "nn::normalize::backward", detail::input_view(dy), detail::output_view(dx),
                detail::param_of<T, axis_list<axis_id<Channel>>>(std_), options.input);
    }

    template <class Arch = xsimd::default_arch, class U, class S>
    tensor<U, S> operator()(const tensor<U, S>& x) const {
        tensor<U, S> out(x.extents());
        forward<Arch>(x, out);
        return out;
    }

    /// torchvision's `inplace=True`: overwrites `x` (a tensor or a mutable view) and returns it.
    template <class Arch = xsimd::default_arch, Array X>
    X&& operator()(X&& x, in_place_t) const {
        forward<Arch>(x, x);
        return std::forward<X>(x);
    }

    /// Mean and std as rounded to T (one value per channel, or one value for all).
    const channel_vector& mean() const noexcept { return mean_; }
    const channel_vector& std() const noexcept { return std_; }

private:
    channel_vector mean_;
    channel_vector std_;
};

} // namespace nf::nn
