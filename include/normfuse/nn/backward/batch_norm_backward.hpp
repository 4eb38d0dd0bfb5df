// normfuse/nn/backward/batch_norm_backward.hpp: BatchNorm's backward (dx, dweight, dbias) through the batch or the running statistics, for every layout.
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/slot_layout.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/backward/slot_gradient.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/accumulate.hpp>

namespace nf::nn::detail {

/// dweight / dbias per channel, written or added.
template <class T>
void store_parameter_gradient(const param_ref<T>& p, std::size_t ch, double v, grad_write mode) {
    if (!p.present) return;
    T& g = p.writable[ch];
    g = static_cast<T>(mode == grad_write::accumulate ? static_cast<double>(g) + v : v);
}

/// The body of nf::nn::functional::batch_norm_backward and of the layer's backward, on views: checks
/// everything, then one pass over x and dy for the per-channel sums (when dx goes through the batch
/// statistics or dweight / dbias are asked for), then one fused pass writing dx.
/// `batch_stats`: the forward normalized with the batch's statistics (`saved`), else with the
/// running ones.
template <class Arch, class X, class DY, class DX, class T>
void batch_norm_backward_views(std::string_view call, const X& x, const DY& dy, const DX& dx, param_ref<T> w,
                               param_ref<T> rm, param_ref<T> rv, const saved_statistics* saved, bool batch_stats,
                               double eps, param_ref<T> dw, param_ref<T> db, backward_options options) {
    using XL = typename X::axes;
    using CA = find_axis_t<axes::C<>, XL>;
    using KL = axis_list<CA>;
    const std::size_t c = x.template extent<axes::C<>>();
    check_backward_operands(call, x, dy, dx, w, dw, db, c);
    check_statistics_source(call, rm, rv, c, saved, batch_stats, c,
                            "the batch statistics (training, or no running statistics)", "channels");
    const std::size_t m = c ? x.size() / c : 0; // values per channel
    const bool params = dw.present || db.present;
    // doubles: mean, invstd, s1, s2; values: k, A, B, C0 (per channel)
    gradient_scratch<T> buf(4 * c, 4 * c);
    double* mean = buf.doubles();
    double* invstd = mean + c;
    double* s1 = mean + 2 * c;
    double* s2 = mean + 3 * c;
    T* k = buf.values();
    T* a = k + c;
    T* b = k + 2 * c;
    T* c0 = k + 3 * c;
    for (std::size_t ch = 0; ch < c; ++ch) {
        if (batch_stats) {
            mean[ch] = saved->mean_data()[ch];
            invstd[ch] = saved->invstd_data()[ch];
        } else { // as PyTorch's eval backward: 1 / sqrt(running_var + eps)
            mean[ch] = static_cast<double>(rm[ch]);
            invstd[ch] = 1.0 / std::sqrt(static_cast<double>(rv[ch]) + eps);
        }
    }
    if (m == 0 || x.size() == 0) {
        std::fill_n(s1, c, 0.0);
        std::fill_n(s2, c, 0.0);
    } else if (batch_stats || params) {
        if constexpr (nf::detail::slot_canonical_ok<XL, KL>)
            slot_gradient_sums<Arch>(nf::detail::slot_canonical<KL>(x), nf::detail::slot_canonical<KL>(dy), mean, s1,
                                     s2);
        else
            static_assert(nf::detail::slot_canonical_ok<XL, KL>); // one kept axis: at most three groups
    }
    for (std::size_t ch = 0; ch < c; ++ch) {
        store_parameter_gradient(dw, ch, s2[ch] * invstd[ch], options.parameters);
        store_parameter_gradient(db, ch, s1[ch], options.parameters);
        const double wa = (w.present ? static_cast<double>(w[ch]) : 1.0) * invstd[ch];
        a[ch] = static_cast<T>(wa);
        if (batch_stats) {
            // dx = w invstd (dy - s1 / m - (x - mean) invstd^2 s2 / m), with x - mean = (x - k) - (mean - k)
            const double kk = nf::detail::usable_shift(static_cast<double>(static_cast<T>(mean[ch])));
            const double bb = m ? -wa * invstd[ch] * invstd[ch] * s2[ch] / static_cast<double>(m) : 0.0;
            const double cc = m ? -wa * s1[ch] / static_cast<double>(m) : 0.0;
            k[ch] = static_cast<T>(kk);
            b[ch] = static_cast<T>(bb);
            c0[ch] = static_cast<T>(cc - bb * (mean[ch] - kk));
        }
    }
    if (x.size() == 0) return;
    const auto xc = nf::detail::slot_canonical<KL>(x);
    const auto dyc = nf::detail::slot_canonical<KL>(dy);
    const auto dxc = nf::detail::slot_canonical<KL>(dx);
    if (batch_stats)
        write_slot_gradient<Arch, true>(xc, dyc, dxc, k, a, b, c0, options.input);
    else
        write_slot_gradient<Arch, false>(xc, dyc, dxc, k, a, b, c0, options.input);
}

} // namespace nf::nn::detail

namespace nf::nn::functional {

/// The backward of `functional::batch_norm` (PyTorch's `native_batch_norm_backward`) over
/// caller-owned memory: from x, the gradient of the output dy and the statistics the forward used,
/// writes the gradient of the input into dx and, if given, those of weight and bias into dweight and
/// dbias (arrays over C, or std::nullopt for gradients not wanted).
///
/// * `training = true`: the forward normalized with the batch statistics, which `saved` holds (the
///   nf::nn::saved_statistics given to that forward); dx goes through them.
/// * `training = false`: the forward normalized with running_mean and running_var (given, as to
///   the forward); dx = dy * weight / sqrt(running_var + eps). `saved` is not read.
///
/// dy and dx have the axes of x in the same order (compile-time), and its extents (checked before
/// anything is written; `dx` may be `dy`). `options`: dx overwritten and dweight / dbias
/// accumulated by default (PyTorch's autograd), either can be switched. Sums in double from one
/// read of x and dy, then one fused pass writing dx.
template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX, class W, class RM, class RV,
          class DW = const std::nullopt_t&, class DB = const std::nullopt_t&>
auto batch_norm_backward(const X& x, const DY& dy, DX&& dx, W&& weight, RM&& running_mean, RV&& running_var,
                         const saved_statistics& saved, bool training, double eps, DW&& dweight = std::nullopt,
                         DB&& dbias = std::nullopt, backward_options options = {}) {
    using T = typename X::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::batch_norm_backward"));
    using PL = axis_list<axes::C<>>;
    static_assert(contains<axes::C<>, typename X::axes>,
                  "normfuse: nn::functional::batch_norm_backward: the input x has no axis C");
    static_assert(nf::nn::detail::gradient_axes_ok<X, DY, DX>,
                  "normfuse: nn::functional::batch_norm_backward: dy and dx must have the axes of x in the same "
                  "order (a gradient is laid out as the array it is the gradient of); fix: view or copy dy in "
                  "x's layout");
    static_assert(std::is_same_v<typename std::remove_cvref_t<DY>::value_type, T> &&
                      std::is_same_v<typename std::remove_cvref_t<DX>::value_type, T>,
                  "normfuse: nn::functional::batch_norm_backward: x, dy and dx must have the same element type");
    if constexpr (nf::nn::detail::backward_element_ok<T> && contains<axes::C<>, typename X::axes> &&
                  nf::nn::detail::gradient_axes_ok<X, DY, DX>) {
        nf::nn::detail::batch_norm_backward_views<Arch>(
            "nn::functional::batch_norm_backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
            nf::nn::detail::output_view(dx), nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
            nf::nn::detail::param_of<T, PL>(std::forward<RM>(running_mean)),
            nf::nn::detail::param_of<T, PL>(std::forward<RV>(running_var)), &saved, training, eps,
            nf::nn::detail::param_of<T, PL>(std::forward<DW>(dweight)),
            nf::nn::detail::param_of<T, PL>(std::forward<DB>(dbias)), options);
    }
}

} // namespace nf::nn::functional
