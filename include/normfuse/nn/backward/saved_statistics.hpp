// normfuse/nn/backward/saved_statistics.hpp: what a training forward keeps for its backward (per-slot mean and 1 / sqrt(var + eps)).
#pragma once

#include <type_traits>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <normfuse/core/errors.hpp>

namespace nf::nn {

/// PyTorch's `save_mean` and `save_invstd`: per slot (channel for BatchNorm) the batch mean and
/// 1 / sqrt(biased variance + eps) of the last forward that normalized with batch statistics,
/// filled by that forward from the statistics it computes anyway (no extra pass over x). Kept in
/// double whatever the layer's type, as the forward computes them: a float mean of data at offset
/// 1e6 would be off by up to 0.03, and so would every (x - mean) of the backward.
///
/// Default-constructed, it owns its storage and allocates only when a forward first meets more
/// slots than it holds. Built over caller storage (`saved_statistics(mean, invstd)`), it never
/// allocates: a forward with more slots than the spans hold throws std::length_error before
/// anything is written. Copies of one built over caller storage share that storage.
class saved_statistics {
public:
    saved_statistics() = default;
    /// Over caller-owned storage of equal length (the largest slot count it can hold).
    saved_statistics(std::span<double> mean, std::span<double> invstd)
        : external_mean_(mean.data()), external_invstd_(invstd.data()), capacity_(mean.size()), external_(true) {
        if (mean.size() != invstd.size())
            nf::detail::raise_invalid("nn::saved_statistics: mean has " + std::to_string(mean.size()) +
                                      " elements and invstd " + std::to_string(invstd.size()) +
                                      "; give spans of the same length");
    }

    /// Slots of the last forward that saved (0 before one, or after a forward that did not use
    /// batch statistics).
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// The saved statistics, one value per slot in slot order (for BatchNorm: channel order).
    std::span<const double> mean() const noexcept { return {mean_data(), size_}; }
    std::span<const double> invstd() const noexcept { return {invstd_data(), size_}; }
    /// Forgets the saved statistics (size() becomes 0); keeps the storage.
    void clear() noexcept { size_ = 0; }

    /// For the layers: storage for `slots` slots, checked (and owned storage grown) before the
    /// caller writes anything; size() is `slots` from then on.
    void prepare(std::string_view call, std::size_t slots) {
        if (external_) {
            if (slots > capacity_)
                nf::detail::raise_length(std::string(call) + ": the saved statistics hold " +
                                         std::to_string(capacity_) + " slots but the forward has " +
                                         std::to_string(slots) + "; give larger spans; nothing was written");
        } else if (own_.size() < 2 * slots) {
            own_.assign(2 * slots, 0.0);
        }
        size_ = slots;
    }
    double* mean_data() noexcept { return external_ ? external_mean_ : own_.data(); }
    double* invstd_data() noexcept { return external_ ? external_invstd_ : own_.data() + own_.size() / 2; }
    const double* mean_data() const noexcept { return external_ ? external_mean_ : own_.data(); }
    const double* invstd_data() const noexcept { return external_ ? external_invstd_ : own_.data() + own_.size() / 2; }

private:
    std::vector<double> own_;
    double* external_mean_ = nullptr;
    double* external_invstd_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    bool external_ = false;
};

/// How a backward writes a gradient: `overwrite` replaces the buffer's contents, `accumulate` adds
/// to them (PyTorch's `.grad`, which sums over the backward calls until it is zeroed).
enum class grad_write { overwrite, accumulate };

/// The choices of a backward call: dx (the gradient of the input) is overwritten by default, the
/// parameters' gradients (dweight, dbias) accumulated, as PyTorch's autograd treats an activation
/// and a leaf parameter.
struct backward_options {
    grad_write input = grad_write::overwrite;
    grad_write parameters = grad_write::accumulate;
};

namespace detail {
/// The element types the backward passes compute on: float and double. A layer on nf::bf16 /
/// nf::fp16 data runs forward only (its training copy is float, as PyTorch's autocast keeps it).
template <class T>
constexpr bool backward_element_ok = std::is_same_v<T, float> || std::is_same_v<T, double>;
} // namespace detail

/// The message of a backward call on another element type, naming the call.
#define NF_BACKWARD_ELEMENT_RULE(call)                                                                                 \
    "normfuse: " call ": backward passes take float or double data, not bf16/fp16 or integers; fix: keep a float "     \
    "copy of the activations and parameters for training (nf::cast<float>) and run the backward on it"

} // namespace nf::nn
