// normfuse/nn/backward/instance_norm_backward.hpp: InstanceNorm's backward (dx, dweight, dbias) through the instance or the running statistics, for every layout.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

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

/// The instance slots (N, C) of an input, in its own order of N and C.
template <class XL>
using instance_slots = axis_restrict<XL, axis_list<axes::N<>, axes::C<>>>;

/// The body of the InstanceNorm backward on views: BatchNorm's backward per instance (slot (n, c),
/// statistics over the spatial axes), with dweight and dbias summed over the instances of each
/// channel. `input_stats`: the forward normalized with the instances' own statistics (`saved`,
/// one per slot), else with the running ones.
template <class Arch, class X, class DY, class DX, class T>
void instance_norm_backward_views(std::string_view call, const X& x, const DY& dy, const DX& dx, param_ref<T> w,
                                  param_ref<T> rm, param_ref<T> rv, const saved_statistics* saved, bool input_stats,
                                  double eps, param_ref<T> dw, param_ref<T> db, backward_options options) {
    using XL = typename X::axes;
    using SL = instance_slots<XL>;
    static_assert(nf::detail::slot_canonical_ok<XL, SL>,
                  "normfuse: nn::instance_norm::backward: this order of the axes is not implemented for the "
                  "backward (N and C separated by spatial axes on both sides); fix: relayout x and dy");
    const std::size_t c = x.template extent<axes::C<>>();
    std::size_t n = 1;
    if constexpr (contains<axes::N<>, XL>) n = x.template extent<axes::N<>>();
    const std::size_t slots = n * c;
    check_backward_operands(call, x, dy, dx, w, dw, db, c);
    check_statistics_source(call, rm, rv, c, saved, input_stats, slots, "the instance statistics", "instances");
    const std::size_t m = slots ? x.size() / slots : 0; // values per instance
    constexpr bool c_last = index_of<axes::C<>, SL> + 1 == SL::size;
    auto channel_of = [&](std::size_t s) { return c_last ? s % c : s / n; };
    gradient_scratch<T> buf(4 * slots, 4 * slots);
    double* mean = buf.doubles();
    double* invstd = mean + slots;
    double* s1 = mean + 2 * slots;
    double* s2 = mean + 3 * slots;
    T* k = buf.values();
    T* a = k + slots;
    T* b = k + 2 * slots;
    T* c0 = k + 3 * slots;
    for (std::size_t s = 0; s < slots; ++s) {
        if (input_stats) {
            mean[s] = saved->mean_data()[s];
            invstd[s] = saved->invstd_data()[s];
        } else {
            mean[s] = static_cast<double>(rm[channel_of(s)]);
            invstd[s] = 1.0 / std::sqrt(static_cast<double>(rv[channel_of(s)]) + eps);
        }
    }
    if (x.size() == 0) {
        std::fill_n(s1, slots, 0.0);
        std::fill_n(s2, slots, 0.0);
    } else {
        slot_gradient_sums<Arch>(nf::detail::slot_canonical<SL>(x), nf::detail::slot_canonical<SL>(dy), mean, s1, s2);
    }
    // dweight, dbias per channel: sums over the instances, in double
    for (std::size_t ch = 0; ch < c; ++ch) {
        double gw = 0, gb = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t s = c_last ? i * c + ch : ch * n + i;
            gw += s2[s] * invstd[s];
            gb += s1[s];
        }
        store_parameter_gradient(dw, ch, gw, options.parameters);
        store_parameter_gradient(db, ch, gb, options.parameters);
    }
    for (std::size_t s = 0; s < slots; ++s) {
        const std::size_t ch = channel_of(s);
        const double wa = (w.present ? static_cast<double>(w[ch]) : 1.0) * invstd[s];
        a[s] = static_cast<T>(wa);
        const double kk = nf::detail::usable_shift(static_cast<double>(static_cast<T>(mean[s])));
        const double bb = input_stats && m ? -wa * invstd[s] * invstd[s] * s2[s] / static_cast<double>(m) : 0.0;
        const double cc = input_stats && m ? -wa * s1[s] / static_cast<double>(m) : 0.0;
        k[s] = static_cast<T>(kk);
        b[s] = static_cast<T>(bb);
        c0[s] = static_cast<T>(cc - bb * (mean[s] - kk));
    }
    if (x.size() == 0) return;
    const auto xc = nf::detail::slot_canonical<SL>(x);
    const auto dyc = nf::detail::slot_canonical<SL>(dy);
    const auto dxc = nf::detail::slot_canonical<SL>(dx);
    if (input_stats)
        write_slot_gradient<Arch, true>(xc, dyc, dxc, k, a, b, c0, options.input);
    else
        write_slot_gradient<Arch, false>(xc, dyc, dxc, k, a, b, c0, options.input);
}

} // namespace nf::nn::detail
