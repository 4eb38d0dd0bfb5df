// normfuse/nn/group_norm.hpp: GroupNorm with PyTorch 1.13 semantics; C is split into (G, C/G) by reinterpreting the axis.
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/backward/group_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
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

namespace detail {
/// The body of nf::nn::functional::group_norm and of the layer, on views: C seen as (GA, KA).
template <class Arch, class GA, class KA, class X, class Out, class T>
void group_norm_views(std::string_view call, const X& x, const Out& out, std::size_t groups, param_ref<T> w,
                      param_ref<T> b, double eps, saved_statistics* saved = nullptr) {
    using XL = typename X::axes;
    static_assert(contains<axes::N<>, XL> && contains<axes::C<>, XL>,
                  "normfuse: nn::group_norm::forward: the input must have the axes N and C (and any others)");
    if constexpr (contains<axes::N<>, XL> && contains<axes::C<>, XL>) {
        const std::size_t c = x.template extent<axes::C<>>();
        const std::size_t n = x.template extent<axes::N<>>();
        if (groups == 0) nf::detail::raise_invalid(std::string(call) + ": num_groups must be positive");
        if (c % groups != 0)
            nf::detail::raise_extent(std::string(call) +
                                     ": expected number of channels in input to be divisible by num_groups, but got "
                                     "input of shape " +
                                     describe(x) + " and num_groups=" + std::to_string(groups));
        auto check_affine = [&](const param_ref<T>& p, const char* name) {
            if (p.present && p.size != c)
                nf::detail::raise_extent(std::string(call) + ": expected " + name +
                                         " to be a vector of size equal to the number of channels in input, but got " +
                                         name + " of shape [" + std::to_string(p.size) + "] and input of shape " +
                                         describe(x));
        };
        check_affine(w, "weight");
        check_affine(b, "bias");
        const std::size_t slots = n * groups;
        // PyTorch runs batch norm's check on (N * C / G, G, spatial...): it rejects only
        // N * C / G * spatial == 1, i.e. one sample whose groups hold one value each. With N >= 2,
        // groups of one value are normalized (to the bias); with no value the output is empty.
        if (x.size() == groups)
            nf::detail::raise_invalid(std::string(call) + ": expected more than 1 value per group, got input size " +
                                      describe(x) + " and num_groups=" + std::to_string(groups));
        check_output(call, x, out);
        if (saved) saved->prepare(call, slots); // throws if caller storage is too small: still nothing written
        if (x.size() == 0) {
            if (saved)
                for (std::size_t s = 0; s < slots; ++s) {
                    saved->mean_data()[s] = 0.0;
                    saved->invstd_data()[s] = 1.0 / std::sqrt(eps);
                }
            return;
        }

        const auto xg = grouped<GA, KA>(x, groups);
        const auto og = grouped<GA, KA>(out, groups);
        using GL = typename std::remove_cvref_t<decltype(xg)>::axes;
        using SL = axis_restrict<GL, axis_list<axes::N<>, axes::G<>>>; // statistics per (n, g)
        using XC = axis_restrict<XL, axis_list<axes::N<>, axes::C<>>>; // coefficients per (n, c)
        constexpr bool n_first = index_of<axes::N<>, XL> < index_of<axes::C<>, XL>;
        using CT = compute_t<T>;
        slot_scratch<CT> buf(slots, n * c);
        const std::size_t kk = c / groups;
        // hi, scale and offset of the slots [q0, q1) of (n, c), in the order of the input's N and C
        // (N first or last), from the statistics per (n, g) (in the same order of N and G).
        auto coefficients = [&](bool nf, std::size_t q0, std::size_t q1) {
            for (std::size_t q = q0; q < q1; ++q) {
                const std::size_t in = nf ? q / c : q % n;
                const std::size_t ch = nf ? q % c : q / n;
                const std::size_t g = ch / kk;
                const std::size_t slot = nf ? in * groups + g : g * n + in;
                const double a = (w.present ? to_double(w[ch]) : 1.0) / std::sqrt(buf.variance[slot] + eps);
                buf.hi[q] = static_cast<CT>(buf.shift[slot]);
                buf.scale[q] = static_cast<CT>(a);
                buf.offset[q] = static_cast<CT>((b.present ? to_double(b[ch]) : 0.0) - buf.centered[slot] * a);
            }
        };
        // Statistics per (n, g) on x seen with C split; output per (n, c) on x itself. When the
        // rows of (n, g) follow one another (N, then C, then the rest: NCHW), the rows of their
        // channels do too, and the layer works block by block (see for_slot_blocks).
        for_slot_blocks<SL, true>(
            xg, og,
            [&]<class KL>(const auto& xv, const auto& ov, std::size_t s0, std::size_t s1, KL, store_kind store) {
                nf::detail::scratch_arena arena;
                nf::detail::slot_moments<Arch, KL>(xv, buf.shift + s0, buf.centered + s0, buf.variance + s0, arena);
                using VL = typename std::remove_cvref_t<decltype(xv)>::axes;
                if constexpr (std::is_same_v<VL, nf::detail::slot_ends_reduced>) {
                    const auto& e = xv.extents().values();
                    if (e[1] == 1 && kk != 0) { // rows of the slots, each the rows of its kk channels
                        // The slots are (n, g) when N comes first, else (g, n); the latter is
                        // canonical with e[1] == 1 only when kk == 1, when q = slot = g * n + i.
                        using S = shape_from<VL>;
                        const std::size_t q0 = s0 * kk, q1 = s1 * kk;
                        const auto ce = nf::extents<S>::from_all({1, 1, q1 - q0, e[3] / kk});
                        coefficients(n_first, q0, q1);
                        apply_slot_affine<Arch, nf::detail::slot_kept>(view<const T, S>(xv.data(), ce),
                                                                       view<T, S>(ov.data(), ce), buf.hi + q0,
                                                                       buf.scale + q0, buf.offset + q0, store);
                        return;
                    }
                }
                // Not in rows: for_slot_blocks made one call, for every slot.
                coefficients(n_first, 0, n * c);
                apply_slot_affine<Arch, XC>(x, out, buf.hi, buf.scale, buf.offset, store);
            });
        if (saved) // per (n, g), in the input's order of N and C, for the backward
            for (std::size_t s = 0; s < slots; ++s) {
                saved->mean_data()[s] = buf.shift[s] + buf.centered[s];
                saved->invstd_data()[s] = 1.0 / std::sqrt(buf.variance[s] + eps);
            }
    }
}
} // namespace detail

namespace functional {

/// `torch.nn.functional.group_norm(input, num_groups, weight, bias, eps)` over caller-owned memory,
/// written into `out`: the channels split into num_groups contiguous blocks, mean and biased
/// variance per (n, group) over the block's channels and every other axis, then weight and bias
/// per channel (tensors or views over C, read-only is fine, `std::optional`s, or std::nullopt).
template <class Arch = xsimd::default_arch, Array X, Array Out, class W = const std::nullopt_t&,
          class B = const std::nullopt_t&>
void group_norm(const X& x, Out&& out, std::size_t num_groups, W&& weight = std::nullopt, B&& bias = std::nullopt,
                double eps = 1e-5) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::group_norm_views<Arch, axes::G<>, axes::K<>>(
        "nn::functional::group_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), num_groups,
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), eps);
}

/// functional::group_norm that also keeps the mean and 1 / sqrt(var + eps) of every (n, group) in
/// `saved` (in x's order of N and C) for functional::group_norm_backward. No extra pass; no
/// allocation when `saved` is over caller storage.
template <class Arch = xsimd::default_arch, Array X, Array Out, class W, class B>
void group_norm(const X& x, Out&& out, std::size_t num_groups, W&& weight, B&& bias, double eps,
                saved_statistics& saved) {
    using T = typename std::remove_cvref_t<X>::value_type;
    using PL = axis_list<axes::C<>>;
    nf::nn::detail::group_norm_views<Arch, axes::G<>, axes::K<>>(
        "nn::functional::group_norm", nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), num_groups,
        nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
        nf::nn::detail::param_of<T, PL>(std::forward<B>(bias)), eps, &saved);
}

/// The backward of `functional::group_norm` over caller-owned memory (the body the layer's
/// backward runs): from x, dy, num_groups, the forward's weight (or std::nullopt) and the group
/// statistics `saved` (filled by the forward above on this x), writes dx and, if given, adds (or
/// writes, `options.parameters`) the gradients of weight and bias into dweight and dbias (arrays
/// over C, or std::nullopt). dy and dx have the axes of x in the same order and its extents; every
/// check runs before anything is written; dx may be dy.
template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX, class W = const std::nullopt_t&,
          class DW = const std::nullopt_t&, class DB = const std::nullopt_t&>
auto group_norm_backward(const X& x, const DY& dy, DX&& dx, std::size_t num_groups, const saved_statistics& saved,
                         W&& weight = std::nullopt, DW&& dweight = std::nullopt, DB&& dbias = std::nullopt,
                         backward_options options = {}) {
    using T = typename X::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::group_norm_backward"));
    using PL = axis_list<axes::C<>>;
    using XL = typename X::axes;
    static_assert(contains<axes::N<>, XL> && contains<axes::C<>, XL>,
                  "normfuse: nn::functional::group_norm_backward: the input must have the axes N and C (and any "
                  "others)");
    static_assert(nf::nn::detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>,
                  "normfuse: nn::functional::group_norm_backward: dy and dx must have the axes of x in the same "
                  "order (a gradient is laid out as the array it is the gradient of); fix: view or copy dy in x's "
                  "layout");
    static_assert(std::is_same_v<typename std::remove_cvref_t<DY>::value_type, T> &&
                      std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T>,
                  "normfuse: nn::functional::group_norm_backward: x, dy and dx must have the same element type");
    if constexpr (nf::nn::detail::backward_element_ok<T> && contains<axes::N<>, XL> && contains<axes::C<>, XL> &&
                  nf::nn::detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>) {
        nf::nn::detail::group_norm_backward_views<Arch>(
            "nn::functional::group_norm_backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
            nf::nn::detail::output_view(dx), num_groups, nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
            saved, nf::nn::detail::param_of<T, PL>(std::forward<DW>(dweight)),
            nf::nn::detail::param_of<T, PL>(std::forward<DB>(dbias)), options);
    }
}

} // namespace functional

/// Group normalization as PyTorch 1.13's GroupNorm(num_groups, num_channels): the channels are
/// split into `num_groups` contiguous blocks; mean and biased variance are taken per sample and
/// group over the block's channels and every other axis; weight and bias apply per channel. With
/// static `Groups` and `Channels`, divisibility is checked at compile time. Input: (N, C, ...) in
/// any order.
template <class T, std::size_t Groups = dynamic_extent, std::size_t Channels = dynamic_extent>
class group_norm : public detail::layer_calls<group_norm<T, Groups, Channels>> {
    static_assert(detail::layer_element_v<T>,
                  "normfuse: nn::group_norm<T, ...>: T must be float, double, nf::bf16 or nf::fp16");
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
            weight_grad_ = channel_vector(e, T(0));
            bias_grad_ = channel_vector(e, T(0));
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
    const channel_vector& weight() const { return require(weight_, "weight"); }
    const channel_vector& bias() const { return require(bias_, "bias"); }

    /// The gradients of weight and bias (only with `affine`), as PyTorch's `.grad`: zero after
    /// construction, summed over backward calls until zero_grad().
    channel_vector& weight_grad() { return require(weight_grad_, "weight_grad"); }
    channel_vector& bias_grad() { return require(bias_grad_, "bias_grad"); }
    const channel_vector& weight_grad() const { return require(weight_grad_, "weight_grad"); }
    const channel_vector& bias_grad() const { return require(bias_grad_, "bias_grad"); }
    void zero_grad() {
        if (options_.affine) {
            weight_grad_ = T(0);
            bias_grad_ = T(0);
        }
    }

    using detail::layer_calls<group_norm>::forward;
    /// forward(x, out) that also keeps the statistics of every (n, group) in `saved` for backward().
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out, saved_statistics& saved) const {
        forward_views<Arch>(nf::nn::detail::input_view(x), nf::nn::detail::output_view(out), &saved);
    }

    /// The backward of the last forward(x, out, saved): writes the gradient of the input into dx
    /// (laid out as x, same extents; may be dy) and, with `affine`, adds those of weight and bias
    /// to weight_grad() and bias_grad() (`options` switch either). Checks everything first.
    template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX>
    auto backward(const X& x, const DY& dy, DX&& dx, const saved_statistics& saved, backward_options options = {}) {
        static_assert(nf::nn::detail::backward_element_ok<T>, NF_BACKWARD_ELEMENT_RULE("nn::group_norm::backward"));
        using XL = typename X::axes;
        static_assert(contains<axes::N<>, XL> && contains<axes::C<>, XL>,
                      "normfuse: nn::group_norm::backward: the input must have the axes N and C (and any others)");
        static_assert(detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>,
                      "normfuse: nn::group_norm::backward: dy and dx must have the axes of x in the same order (a "
                      "gradient is laid out as the array it is the gradient of); fix: view or copy dy in x's layout");
        if constexpr (nf::nn::detail::backward_element_ok<T> && contains<axes::N<>, XL> && contains<axes::C<>, XL> &&
                      detail::gradient_axes_ok<X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>> &&
                      detail::check_channels<detail::group_norm_call, Channels, XL>()) {
            using P = detail::param_ref<T>;
            using PL = axis_list<axes::C<>>;
            P w{}, dw{}, db{};
            if (options_.affine) {
                detail::check_parameter("nn::group_norm", "weight", weight_, channels_);
                detail::check_parameter("nn::group_norm", "weight_grad", weight_grad_, channels_);
                detail::check_parameter("nn::group_norm", "bias_grad", bias_grad_, channels_);
                w = detail::param_of<T, PL>(std::as_const(weight_));
                dw = detail::param_of<T, PL>(weight_grad_);
                db = detail::param_of<T, PL>(bias_grad_);
            }
            const auto xv = detail::input_view(x);
            if (xv.template extent<axes::C<>>() != channels_)
                nf::detail::raise_extent("nn::group_norm::backward: x has " +
                                         std::to_string(xv.template extent<axes::C<>>()) + " channels but the layer " +
                                         std::to_string(channels_) + "; nothing was written");
            detail::group_norm_backward_views<Arch>("nn::group_norm::backward", xv, detail::input_view(dy),
                                                    detail::output_view(dx), groups_, w, saved, dw, db, options);
        }
    }

private:
    friend class detail::layer_calls<group_norm<T, Groups, Channels>>;

    // The body of forward(), instantiated for views only: a forward on tensors and one on views of the
    // same layouts share this code (see nn::detail::input_view). The layer has no state that a
    // forward changes: every call is the const one.
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out, saved_statistics* saved = nullptr) const {
        using XL = typename X::axes;
        if constexpr (detail::check_channels<detail::group_norm_call, Channels, XL>()) {
            using P = detail::param_ref<T>;
            using PL = axis_list<axes::C<>>;
            P w{}, b{};
            if (options_.affine) {
                detail::check_parameter("nn::group_norm", "weight", weight_, channels_);
                detail::check_parameter("nn::group_norm", "bias", bias_, channels_);
                w = detail::param_of<T, PL>(weight_);
                b = detail::param_of<T, PL>(bias_);
            }
            detail::group_norm_views<Arch, group_axis, within_axis>("nn::group_norm", x, out, groups_, w, b,
                                                                    options_.eps, saved);
        }
    }

    template <class V>
    V& require(V& v, const char* what) const {
        if (!options_.affine)
            nf::detail::raise_logic(std::string("nn::group_norm: the layer has no ") + what +
                                    " (it was built without affine)");
        return v;
    }
    std::size_t groups_, channels_;
    group_norm_options options_;
    bool training_ = true;
    channel_vector weight_, bias_, weight_grad_, bias_grad_;
};

} // namespace nf::nn
