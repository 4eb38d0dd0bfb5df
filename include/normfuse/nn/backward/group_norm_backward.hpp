// normfuse/nn/backward/group_norm_backward.hpp: GroupNorm's backward (dx, dweight, dbias) from the saved group statistics, for every layout.
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
#include <normfuse/nn/backward/instance_norm_backward.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/backward/slot_gradient.hpp>
#include <normfuse/nn/common.hpp>

namespace nf::nn::detail {

/// The body of the GroupNorm backward on views. `saved` holds the statistics of the slots (n, g),
/// in the input's order of N and C (slot n * G + g when N comes first, else g * N + n). One pass
/// over x and dy gives, per (n, c), t1 = sum dy and t2 = sum dy (x - mean of (n, g(c))) (the
/// InstanceNorm kernel); the group sums of g = dy * weight follow from them per channel, then one
/// fused pass writes dx = A dy + B (x - k) + C0 with coefficients per (n, c).
template <class Arch, class X, class DY, class DX, class T>
void group_norm_backward_views(std::string_view call, const X& x, const DY& dy, const DX& dx, std::size_t groups,
                               param_ref<T> w, const saved_statistics& saved, param_ref<T> dw, param_ref<T> db,
                               backward_options options) {
    using XL = typename X::axes;
    using SL = instance_slots<XL>;
    static_assert(nf::detail::slot_canonical_ok<XL, SL>,
                  "normfuse: nn::group_norm::backward: this order of the axes is not implemented for the backward "
                  "(N and C separated by other axes on both sides); fix: relayout x and dy");
    const std::size_t c = x.template extent<axes::C<>>();
    const std::size_t n = x.template extent<axes::N<>>();
    check_backward_operands(call, x, dy, dx, w, dw, db, c);
    if (groups == 0 || c % groups != 0 || saved.size() != n * groups)
        nf::detail::raise_invalid(std::string(call) + ": the saved statistics hold " + std::to_string(saved.size()) +
                                  " groups, not " + std::to_string(n * groups) +
                                  "; pass the nf::nn::saved_statistics that the forward on this x filled");
    const std::size_t slots = n * c, kk = c / groups;
    const std::size_t m = n != 0 && groups != 0 ? x.size() / (n * groups) : 0; // values per group
    constexpr bool n_first = index_of<axes::N<>, SL> == 0;
    auto group_slot = [&](std::size_t q) {
        const std::size_t in = n_first ? q / c : q % n, ch = n_first ? q % c : q / n;
        return n_first ? in * groups + ch / kk : (ch / kk) * n + in;
    };
    auto channel_of = [&](std::size_t q) { return n_first ? q % c : q / n; };
    gradient_scratch<T> buf(3 * slots + 2 * n * groups, 4 * slots);
    double* mean = buf.doubles();
    double* t1 = mean + slots;
    double* t2 = mean + 2 * slots;
    double* g1 = mean + 3 * slots; // per (n, g): sum of weight * t1, weight * t2
    double* g2 = g1 + n * groups;
    T* k = buf.values();
    T* a = k + slots;
    T* b = k + 2 * slots;
    T* c0 = k + 3 * slots;
    for (std::size_t q = 0; q < slots; ++q) mean[q] = saved.mean_data()[group_slot(q)];
    if (x.size() == 0) {
        std::fill_n(t1, 2 * slots, 0.0);
    } else {
        slot_gradient_sums<Arch>(nf::detail::slot_canonical<SL>(x), nf::detail::slot_canonical<SL>(dy), mean, t1, t2);
    }
    std::fill_n(g1, 2 * n * groups, 0.0);
    auto wt = [&](std::size_t ch) { return w.present ? static_cast<double>(w[ch]) : 1.0; };
    for (std::size_t q = 0; q < slots; ++q) {
        g1[group_slot(q)] += wt(channel_of(q)) * t1[q];
        g2[group_slot(q)] += wt(channel_of(q)) * t2[q];
    }
    for (std::size_t ch = 0; ch < c; ++ch) {
        double gw = 0, gb = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t q = n_first ? i * c + ch : ch * n + i;
            gw += t2[q] * saved.invstd_data()[group_slot(q)];
            gb += t1[q];
        }
        store_parameter_gradient(dw, ch, gw, options.parameters);
        store_parameter_gradient(db, ch, gb, options.parameters);
    }
    for (std::size_t q = 0; q < slots; ++q) {
        const std::size_t s = group_slot(q);
        const double r = saved.invstd_data()[s];
        const double kq = nf::detail::usable_shift(static_cast<double>(static_cast<T>(mean[q])));
        const double bb = m ? -r * r * r * g2[s] / static_cast<double>(m) : 0.0;
        const double cc = m ? -r * g1[s] / static_cast<double>(m) : 0.0;
        k[q] = static_cast<T>(kq);
        a[q] = static_cast<T>(wt(channel_of(q)) * r);
        b[q] = static_cast<T>(bb);
        c0[q] = static_cast<T>(cc - bb * (mean[q] - kq));
    }
    if (x.size() == 0) return;
    write_slot_gradient<Arch, true>(nf::detail::slot_canonical<SL>(x), nf::detail::slot_canonical<SL>(dy),
                                    nf::detail::slot_canonical<SL>(dx), k, a, b, c0, options.input);
}

} // namespace nf::nn::detail
