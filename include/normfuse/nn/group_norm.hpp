// normfuse/nn/group_norm.hpp: GroupNorm with PyTorch 1.13 semantics; C is split into (G, C/G) by reinterpreting the axis.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/moments.hpp>

namespace nf::nn {

struct group_norm_options {
    double eps = 1e-5;
    bool affine = true;
};

namespace detail {
/// The axes of `XL` with C replaced, in place, by (G, K): the same memory seen with the channel
/// index split as c = g * K + k, which is how GroupNorm groups contiguous blocks of channels.
template <class Out, class In, class G, class K>
struct split_channels {
    using type = Out;
};
template <class... Os, class I0, class... Is, class G, class K>
struct split_channels<axis_list<Os...>, axis_list<I0, Is...>, G, K> {
    using next = std::conditional_t<same_axis<I0, axes::C<>>, axis_list<Os..., G, K>, axis_list<Os..., I0>>;
    using type = typename split_channels<next, axis_list<Is...>, G, K>::type;
};
template <class XL, class G, class K>
using split_channels_t = typename split_channels<axis_list<>, XL, G, K>::type;

/// `x` (any array with a C axis) seen with C split into (G, K).
template <class G, class K, class X>
auto grouped(X& x, std::size_t groups) {
    using XL = typename std::remove_const_t<X>::axes;
    using GL = split_channels_t<XL, G, K>;
    using S = shape_from<GL>;
    using E = std::remove_pointer_t<decltype(x.data())>;
    constexpr std::size_t cpos = index_of<axes::C<>, XL>;
    std::array<std::size_t, GL::size> ext{};
    for (std::size_t i = 0, j = 0; i < XL::size; ++i) {
        if (i == cpos) {
            ext[j++] = groups;
            ext[j++] = x.extents()[i] / groups;
        } else {
            ext[j++] = x.extents()[i];
        }
    }
    return view<E, S>(x.data(), nf::extents<S>::from_all(ext));
}
struct group_norm_call {
    static constexpr std::string_view name = "nn::group_norm::forward";
};
} // namespace detail

/// Group normalization as PyTorch 1.13's GroupNorm(num_groups, num_channels): the channels are
/// split into `num_groups` contiguous blocks; mean and biased variance are taken per sample and
/// group over the block's channels and every other axis; weight and bias apply per channel. With
/// static `Groups` and `Channels`, divisibility is checked at compile time. Input: (N, C, ...) in
/// any order.
template <class T, std::size_t Groups = dynamic_extent, std::size_t Channels = dynamic_extent>
class group_norm : public detail::layer_calls<group_norm<T, Groups, Channels>> {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nn::group_norm<T, ...>: T must be float or double");
    static_assert(Groups == dynamic_extent || Channels == dynamic_extent || (Groups != 0 && Channels % Groups == 0),
                  "normfuse: nn::group_norm<T, Groups, Channels>: num_channels must be divisible by num_groups. "
                  "Fix: choose a number of groups that divides the number of channels.");

public:
    using value_type = T;
    using channel_vector = tensor<T, shape<axes::C<Channels>>>;
    using group_axis = axes::G<Groups>;
    using within_axis =
        axes::K<(Groups != dynamic_extent && Channels != dynamic_extent) ? Channels / Groups : dynamic_extent>;

    group_norm(std::size_t num_groups, std::size_t num_channels, group_norm_options options = {})
        : groups_(num_groups), channels_(num_channels), options_(options) {
        if ((Groups != dynamic_extent && num_groups != Groups) ||
            (Channels != dynamic_extent && num_channels != Channels))
            nf::detail::raise_invalid("nn::group_norm: num_groups/num_channels differ from the layer type's");
        if (num_groups == 0 || num_channels % num_groups != 0)
            nf::detail::raise_invalid("nn::group_norm: num_channels must be divisible by num_groups (got " +
                                      std::to_string(num_channels) + " channels and " + std::to_string(num_groups) +
                                      " groups)");
        if (options_.affine) {
            const auto e = channel_vector::extents_type::from_all({num_channels});
            weight_ = channel_vector(e, T(1));
            bias_ = channel_vector(e, T(0));
        }
    }
    group_norm() requires(Groups != dynamic_extent && Channels != dynamic_extent) : group_norm(Groups, Channels) {}

    void train(bool on = true) noexcept { training_ = on; }
    void eval() noexcept { training_ = false; }
    bool training() const noexcept { return training_; }
    std::size_t num_groups() const noexcept { return groups_; }
    std::size_t num_channels() const noexcept { return channels_; }
    channel_vector& weight() { return require(weight_, "weight"); }
    channel_vector& bias() { return require(bias_, "bias"); }

private:
    friend class detail::layer_calls<group_norm<T, Groups, Channels>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view).
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) {
        using XL = typename X::axes;
        static_assert(contains<axes::N<>, XL> && contains<axes::C<>, XL>,
                      "normfuse: nn::group_norm::forward: the input must have the axes N and C (and any others)");
        if constexpr (contains<axes::N<>, XL> && contains<axes::C<>, XL> &&
                      detail::check_channels<detail::group_norm_call, Channels, XL>()) {
            const std::size_t c = x.template extent<axes::C<>>();
            const std::size_t n = x.template extent<axes::N<>>();
            if (c % groups_ != 0)
                nf::detail::raise_extent("nn::group_norm: expected number of channels in input to be divisible "
                                         "by num_groups, but got input of shape " +
                                         detail::describe(x) + " and num_groups=" + std::to_string(groups_));
            if (options_.affine && c != channels_)
                nf::detail::raise_extent("nn::group_norm: expected weight to be a vector of size equal to the "
                                         "number of channels in input, but got weight of shape [" +
                                         std::to_string(channels_) + "] and input of shape " + detail::describe(x));
            if (options_.affine) {
                detail::check_parameter("nn::group_norm", "weight", weight_, channels_);
                detail::check_parameter("nn::group_norm", "bias", bias_, channels_);
            }
            const std::size_t slots = n * groups_;
            // PyTorch runs batch norm's check on (N * C / G, G, spatial...): it rejects only
            // N * C / G * spatial == 1, i.e. one sample whose groups hold one value each. With N >= 2,
            // groups of one value are normalized (to the bias); with no value the output is empty.
            if (x.size() == groups_)
                nf::detail::raise_invalid("nn::group_norm: expected more than 1 value per group, got "
                                          "input size " +
                                          detail::describe(x) + " and num_groups=" + std::to_string(groups_));
            detail::check_output("nn::group_norm::forward", x, out);
            if (x.size() == 0) return;

            const auto xg = detail::grouped<group_axis, within_axis>(x, groups_);
            const auto og = detail::grouped<group_axis, within_axis>(out, groups_);
            using GL = typename std::remove_cvref_t<decltype(xg)>::axes;
            using SL = axis_restrict<GL, axis_list<axes::N<>, axes::G<>>>; // statistics per (n, g)
            using XC = axis_restrict<XL, axis_list<axes::N<>, axes::C<>>>; // coefficients per (n, c)
            constexpr bool n_first = index_of<axes::N<>, XL> < index_of<axes::C<>, XL>;
            buffers_.reserve(slots, n * c);
            auto& buf = buffers_;
            const std::size_t kk = c / groups_;
            // Statistics per (n, g) on x seen with C split; output per (n, c) on x itself. When the
            // rows of (n, g) follow one another (N, then C, then the rest: NCHW), the rows of their
            // channels do too, and the layer works block by block (see for_slot_blocks).
            detail::for_slot_blocks<SL, true>(
                xg, og,
                [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                    nf::detail::scratch_arena arena;
                    nf::detail::slot_moments<Arch, KL>(xv, buf.shift.data() + s0, buf.centered.data() + s0,
                                                       buf.variance.data() + s0, arena);
                    using VL = typename std::remove_cvref_t<decltype(xv)>::axes;
                    if constexpr (std::is_same_v<VL, nf::detail::slot_ends_reduced>) {
                        const auto& e = xv.extents().values();
                        if (e[1] == 1 && kk != 0) { // rows of the slots, each the rows of its kk channels
                            // The slots are (n, g) when N comes first, else (g, n); the latter is
                            // canonical with e[1] == 1 only when kk == 1, when q = slot = g * n + i.
                            using S = shape_from<VL>;
                            const std::size_t q0 = s0 * kk, q1 = s1 * kk;
                            const auto ce = nf::extents<S>::from_all({1, 1, q1 - q0, e[3] / kk});
                            coefficients(n_first, n, c, q0, q1);
                            detail::apply_slot_affine<Arch, nf::detail::slot_kept>(
                                view<const T, S>(xv.data(), ce), view<T, S>(ov.data(), ce), buf.hi.data() + q0,
                                buf.scale.data() + q0, buf.offset.data() + q0, store);
                            return;
                        }
                    }
                    // Not in rows: for_slot_blocks made one call, for every slot.
                    coefficients(n_first, n, c, 0, n * c);
                    detail::apply_slot_affine<Arch, XC>(x, out, buf.hi.data(), buf.scale.data(), buf.offset.data(),
                                                        store);
                });
        }
    }

    // hi, scale and offset of the slots [q0, q1) of (n, c), in the order of the input's N and C
    // (N first or last), from the statistics per (n, g) (in the same order of N and G).
    void coefficients(bool n_first, std::size_t n, std::size_t c, std::size_t q0, std::size_t q1) {
        auto& buf = buffers_;
        const std::size_t kk = c / groups_;
        for (std::size_t q = q0; q < q1; ++q) {
            const std::size_t in = n_first ? q / c : q % n;
            const std::size_t ch = n_first ? q % c : q / n;
            const std::size_t g = ch / kk;
            const std::size_t slot = n_first ? in * groups_ + g : g * n + in;
            const double a = w(ch) / std::sqrt(buf.variance[slot] + options_.eps);
            buf.hi[q] = static_cast<T>(buf.shift[slot]);
            buf.scale[q] = static_cast<T>(a);
            buf.offset[q] = static_cast<T>(b(ch) - buf.centered[slot] * a);
        }
    }

    channel_vector& require(channel_vector& v, const char* what) {
        if (!options_.affine)
            nf::detail::raise_logic(std::string("nn::group_norm: the layer has no ") + what +
                                    " (it was built without affine)");
        return v;
    }
    double w(std::size_t c) const { return options_.affine ? static_cast<double>(weight_.data()[c]) : 1.0; }
    double b(std::size_t c) const { return options_.affine ? static_cast<double>(bias_.data()[c]) : 0.0; }

    std::size_t groups_, channels_;
    group_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_;
    detail::slot_buffers<T> buffers_;
};

} // namespace nf::nn
