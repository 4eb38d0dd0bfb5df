// normfuse/reduce/moments.hpp: mean and variance per slot from ONE read, exact to double rounding even when |mean| >> std.
//
// Each slot (one value of the kept axes, e.g. one channel) is shifted by one of its own elements k
// before it is summed: with d = x - k the sums S1 = sum d and S2 = sum d^2 are of numbers of the
// size of the spread, not of the mean, so E[d^2] - E[d]^2 does not cancel catastrophically. The
// mean is kept as the pair (k, S1 / M): k is an element of the input, so `x - k` is exact in the
// input's precision and the small remainder folds into a per-slot offset. This is how normfuse
// stays within 1e-5 of float64 at offset 1e6 where a float mean alone is off by 0.03.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/element.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/slot_layout.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/reduce/accumulate.hpp>

namespace nf {

namespace detail {

/// Row-major strides of an array with extents `ext`.
template <std::size_t R>
std::array<std::size_t, R> row_major_strides(const std::array<std::size_t, R>& ext) {
    std::array<std::size_t, R> st{};
    std::size_t s = 1;
    for (std::size_t j = R; j-- > 0;) {
        st[j] = s;
        s *= ext[j];
    }
    return st;
}

/// For every slot of the kept layout KL (a sub-list of the array's axes), the element of the slot
/// whose reduced indices are all 0, as double.
template <class KL, class XL, class T>
void first_of_slots(const T* data, const std::array<std::size_t, XL::size>& ext, double* out) {
    constexpr auto pos = positions_in<KL, XL>::value;
    const auto st = row_major_strides<XL::size>(ext);
    std::array<std::size_t, KL::size> kext{}, idx{};
    std::size_t slots = 1;
    for (std::size_t j = 0; j < KL::size; ++j) slots *= (kext[j] = ext[pos[j]]);
    for (std::size_t s = 0; s < slots; ++s) {
        std::size_t off = 0;
        for (std::size_t j = 0; j < KL::size; ++j) off += idx[j] * st[pos[j]];
        out[s] = usable_shift(static_cast<double>(static_cast<compute_t<T>>(data[off])));
        for (std::size_t j = KL::size; j-- > 0;) {
            if (++idx[j] < kext[j]) break;
            idx[j] = 0;
        }
    }
}

/// Per-slot statistics of an array (tensor or view) over the axes it has beyond KL, in one read:
/// `shift[s]` (an element of slot s), `centered[s] = mean - shift`, `variance[s]` (biased), all
/// in double. Returns the number of values per slot. With `MeanOfSquares`, only `variance[s]` is
/// filled, with the mean of x^2 (RMSNorm), and no shift is used. Runs on the canonical slot
/// layout of x (see core/slot_layout.hpp) when it has one, so that layouts share the kernel.
template <class Arch, class KL, bool MeanOfSquares = false, class X>
std::size_t slot_moments(const X& x, double* shift, double* centered, double* variance, scratch_arena& arena) {
    using XL = typename X::axes;
    if constexpr (!std::is_same_v<KL, slot_kept> && slot_canonical_ok<XL, KL>)
        return slot_moments<Arch, slot_kept, MeanOfSquares>(slot_canonical<KL>(x), shift, centered, variance, arena);
    const auto& ext = x.extents().values();
    std::size_t slots = 1;
    constexpr auto pos = positions_in<KL, XL>::value;
    for (std::size_t j = 0; j < KL::size; ++j) slots *= ext[pos[j]];
    const std::size_t count = slots ? x.size() / slots : 0;
    if (slots == 0) return count;
    auto e = as_expression(x);
    if constexpr (MeanOfSquares) {
        std::fill_n(variance, slots, 0.0);
        accumulate<Arch, XL, KL, sums::squares>(e, ext, nullptr, nullptr, variance, arena);
        for (std::size_t s = 0; s < slots; ++s) variance[s] /= static_cast<double>(count);
    } else {
        if (count == 0) // no element to shift by (x.data() may be null): the sums stay 0
            std::fill_n(shift, slots, 0.0);
        else
            first_of_slots<KL, XL>(x.data(), ext, shift);
        std::fill_n(centered, slots, 0.0);
        std::fill_n(variance, slots, 0.0);
        accumulate<Arch, XL, KL, sums::moments>(e, ext, shift, centered, variance, arena);
        const double m = static_cast<double>(count);
        for (std::size_t s = 0; s < slots; ++s) {
            const double d = centered[s] / m;
            centered[s] = d;
            variance[s] = nonnegative_or_nan(variance[s] / m - d * d);
        }
    }
    return count;
}

} // namespace detail

/// Mean and biased variance of an array over the named axes, from one read.
template <class T, class Kept>
struct moments_result {
    tensor<T, Kept> mean;
    tensor<T, Kept> variance;
};

namespace detail {
/// nf::moments for an explicit architecture (both overloads of nf::moments forward here with
/// theirs, so that each entity's name carries the architecture its body is compiled for).
template <class Arch, Axis... Rs, class X>
auto moments_for(const X& x) {
    using XL = typename X::axes;
    static_assert((contains<Rs, XL> && ...), "normfuse: nf::moments: every reduced axis must be an axis of the input");
    using KL = axis_remove<XL, axis_list<axis_id<Rs>...>>;
    using KS = shape_from<KL>;
    using T = typename X::value_type;
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "normfuse: nf::moments: the input must be float or double (for other element types use "
                  "nf::mean and nf::var, which read them widened)");
    const auto kext = detail::restrict_extents<KL, XL>(x.extents().values());
    moments_result<T, KS> r{tensor<T, KS>(nf::extents<KS>::from_all(kext)),
                            tensor<T, KS>(nf::extents<KS>::from_all(kext))};
    const std::size_t slots = r.mean.size();
    std::vector<double> buf(3 * slots);
    detail::scratch_arena arena;
    detail::slot_moments<Arch, KL>(x, buf.data(), buf.data() + slots, buf.data() + 2 * slots, arena);
    for (std::size_t s = 0; s < slots; ++s) {
        r.mean.data()[s] = static_cast<T>(buf[s] + buf[slots + s]);
        r.variance.data()[s] = static_cast<T>(buf[2 * slots + s]);
    }
    return r;
}
} // namespace detail

/// `auto [mean, var] = nf::moments<N, H, W>(x);`: per-slot mean and biased variance of a tensor or
/// view over the named axes, in one read with double accumulation and a per-slot shift.
template <Axis... Rs, class X, class Arch = xsimd::default_arch>
    requires(is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>)
auto moments(const X& x) {
    return detail::moments_for<Arch, Rs...>(x);
}
template <template <std::size_t> class... Rs, class X, class Arch = xsimd::default_arch>
    requires(is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>)
auto moments(const X& x) {
    return detail::moments_for<Arch, Rs<dynamic_extent>...>(x);
}

} // namespace nf
