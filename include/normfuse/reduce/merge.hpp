// normfuse/reduce/merge.hpp: mergeable statistics: per-slot count, mean and M2 that combine exactly-as-possible across shards (Chan et al.).
//
// A batch split into shards (ranks of a data-parallel job, micro-batches of gradient accumulation,
// the batches of a pass over a data set, per-thread partials) has the statistics of the whole if
// every shard keeps, per slot, its count n, its mean and its centered second moment
// M2 = sum (x - mean)^2, and two shards merge with Chan, Golub and LeVeque's pairwise formula
//     n = na + nb,  delta = mean_b - mean_a,
//     mean = mean_a + delta * nb / n,  M2 = M2_a + M2_b + delta^2 * na * nb / n.
// Nothing in it subtracts two large sums. The mean is kept as the pair (k, mean - k), k being the
// shift of the one-read pass that produced the shard's statistics (reduce/moments.hpp, an element
// of the shard), and the merge keeps one operand's k: delta = (k_b - k_a) + (d_b - d_a) is then
// exact or nearly so even at |mean| >> std (k_b - k_a is exact when the two are within a factor 2),
// so merging loses none of the shifted pass's accuracy, in float64 data too. Empty statistics
// (n = 0) are the identity of the merge.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/reduce/moments.hpp>

namespace nf {

namespace detail {

/// One slot's mergeable statistics as four doubles {count, shift k, mean - k, M2}: the layout of
/// nf::moments_state's storage, and of what transports (MPI) carry.
inline constexpr std::size_t moments_stride = 4;

/// True when the slot statistics `b` come before `a` in a fixed order of their values (count,
/// shift, mean - shift, M2). The merge puts its operands in that order first, so that merge(a, b)
/// and merge(b, a) give the same bits: ranks that combine the same shards in different orders
/// then agree exactly.
NF_ALWAYS_INLINE bool moments_before(const double* b, const double* a) {
    for (std::size_t i = 0; i + 1 < moments_stride; ++i)
        if (b[i] != a[i]) return b[i] < a[i];
    return b[moments_stride - 1] < a[moments_stride - 1];
}

/// Chan's pairwise merge of the slot statistics `b` into `a` ({count, k, mean - k, M2} each), in
/// double, keeping the shift k of one of them. Empty statistics are the identity; the result
/// does not depend on the order of a and b.
NF_ALWAYS_INLINE void merge_moments(double* a, const double* b) {
    if (b[0] == 0) return;
    if (a[0] == 0) {
        for (std::size_t i = 0; i < moments_stride; ++i) a[i] = b[i];
        return;
    }
    const double* p = a;
    const double* q = b;
    if (moments_before(b, a)) std::swap(p, q);
    const double na = p[0], nb = q[0], n = na + nb;
    const double delta = (q[1] - p[1]) + (q[2] - p[2]); // mean_q - mean_p
    const double k = p[1];
    const double centered = p[2] + delta * (nb / n);
    const double m2 = (p[3] + q[3]) + delta * delta * (na * (nb / n));
    a[0] = n;
    a[1] = k;
    a[2] = centered;
    a[3] = m2;
}

} // namespace detail

/// Mergeable statistics of an array, per slot of its kept axes: count, mean and centered second
/// moment M2 (sum of squared deviations from the mean), in double. Produced from a tensor or view
/// by `nf::moments_state_of<N, H, W>(x)` (one read, the shifted pass of nf::moments), combined
/// with merge(). `moments_state(slots)` holds empty statistics: the identity of merge().
///
/// The storage is `slots()` quadruples {count, shift k, mean - k, M2} of doubles (data()): what a
/// transport sends. Counts are whole numbers held in double, exact up to 2^53; the mean is held as
/// k + (mean - k), k an element of the data, so that it keeps its accuracy when |mean| >> std.
class moments_state {
public:
    /// No slots.
    moments_state() = default;
    /// `slots` empty slots (count 0): the identity of merge() for that many slots.
    explicit moments_state(std::size_t slots) : values_(slots * detail::moments_stride, 0.0) {}

    std::size_t slots() const noexcept { return values_.size() / detail::moments_stride; }

    /// The number of values merged into slot s.
    std::uint64_t count(std::size_t s) const { return static_cast<std::uint64_t>(at(s)[0]); }
    /// The mean of slot s (0 for an empty slot).
    double mean(std::size_t s) const { return at(s)[1] + at(s)[2]; }
    /// The mean of slot s as the pair (shift k, mean - k): k is a value of the slot's data (0 for an
    /// empty slot), so the pair is exact to double rounding of mean - k, not of the mean.
    double shift(std::size_t s) const { return at(s)[1]; }
    double centered_mean(std::size_t s) const { return at(s)[2]; }
    /// The sum of squared deviations from the mean of slot s (0 for an empty slot).
    double m2(std::size_t s) const { return at(s)[3]; }
    /// The biased (population) variance M2 / n of slot s: NaN for an empty slot.
    double variance(std::size_t s) const {
        const double* v = at(s);
        return v[0] > 0 ? v[3] / v[0] : std::numeric_limits<double>::quiet_NaN();
    }
    /// The unbiased (sample) variance M2 / (n - 1) of slot s: NaN for fewer than two values.
    double unbiased_variance(std::size_t s) const {
        const double* v = at(s);
        return v[0] > 1 ? v[3] / (v[0] - 1) : std::numeric_limits<double>::quiet_NaN();
    }

    /// Sets slot s to `count` values of mean `mean` and M2 `m2` (e.g. statistics received from
    /// elsewhere). Throws std::invalid_argument for a negative M2 or non-empty statistics of
    /// count 0.
    void set(std::size_t s, std::uint64_t count, double mean, double m2) {
        double* v = at(s);
        if (m2 < 0) nf::detail::raise_invalid("moments_state::set: M2 must not be negative");
        if (count == 0 && (mean != 0 || m2 != 0))
            nf::detail::raise_invalid("moments_state::set: empty statistics have mean 0 and M2 0");
        v[0] = static_cast<double>(count);
        v[1] = mean;
        v[2] = 0;
        v[3] = m2;
    }

    /// Merges `other` (statistics of other values of the same slots) into this: afterwards this
    /// holds the statistics of both. Throws nf::extent_error, changing nothing, when the slot counts
    /// differ. merge(a, b) and merge(b, a) give the same bits; grouping changes the result only by
    /// rounding.
    moments_state& merge(const moments_state& other) {
        if (other.slots() != slots())
            nf::detail::raise_extent("moments_state::merge: the statistics have " + std::to_string(slots()) +
                                     " slots on the left and " + std::to_string(other.slots()) +
                                     " on the right; nothing was merged");
        for (std::size_t i = 0; i < values_.size(); i += detail::moments_stride)
            detail::merge_moments(values_.data() + i, other.values_.data() + i);
        return *this;
    }

    /// The quadruples {count, k, mean - k, M2} of every slot, in slot order.
    double* data() noexcept { return values_.data(); }
    const double* data() const noexcept { return values_.data(); }

    friend bool operator==(const moments_state&, const moments_state&) = default;

private:
    double* at(std::size_t s) {
        if (s >= slots())
            nf::detail::raise_extent("moments_state: slot " + std::to_string(s) + " of " + std::to_string(slots()));
        return values_.data() + s * detail::moments_stride;
    }
    const double* at(std::size_t s) const { return const_cast<moments_state*>(this)->at(s); }

    std::vector<double> values_;
};

/// The statistics of the values of `a` and `b` together (see moments_state::merge).
inline moments_state merge(moments_state a, const moments_state& b) {
    a.merge(b);
    return a;
}

namespace detail {
/// nf::moments_state_of for an explicit architecture.
template <class Arch, Axis... Rs, class X>
moments_state moments_state_for(const X& x) {
    using XL = typename X::axes;
    static_assert((contains<Rs, XL> && ...),
                  "normfuse: nf::moments_state_of: every reduced axis must be an axis of the input");
    using KL = axis_remove<XL, axis_list<axis_id<Rs>...>>;
    const auto kext = restrict_extents<KL, XL>(x.extents().values());
    std::size_t slots = 1;
    for (const std::size_t e : kext) slots *= e;
    moments_state r(slots);
    if (slots == 0 || x.size() == 0) return r; // every slot empty: no element to read
    std::vector<double> buf(3 * slots);
    scratch_arena arena;
    const std::size_t count = slot_moments<Arch, KL>(x, buf.data(), buf.data() + slots, buf.data() + 2 * slots, arena);
    const double n = static_cast<double>(count);
    for (std::size_t s = 0; s < slots; ++s) {
        double* v = r.data() + s * moments_stride;
        v[0] = n;
        v[1] = buf[s];
        v[2] = buf[slots + s];
        v[3] = buf[2 * slots + s] * n;
    }
    return r;
}
} // namespace detail

/// `nf::moments_state_of<N, H, W>(x)`: the mergeable statistics of a tensor or view per slot of the
/// axes it keeps (here C), slots in the order nf::moments lays out its result; one read, with
/// double accumulation and a per-slot shift.
template <Axis... Rs, class X, class Arch = xsimd::default_arch>
    requires(is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>)
moments_state moments_state_of(const X& x) {
    return detail::moments_state_for<Arch, Rs...>(x);
}
template <template <std::size_t> class... Rs, class X, class Arch = xsimd::default_arch>
    requires(is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>)
moments_state moments_state_of(const X& x) {
    return detail::moments_state_for<Arch, Rs<dynamic_extent>...>(x);
}

/// Streaming statistics over a data set: `nf::running_moments<N<>, H<>, W<>> s; s.add(batch)` for
/// every batch, then `s.mean()`, `s.variance()` (biased) or `s.unbiased_variance()`, per slot of
/// the kept axes. Each add() reads its batch once; the result equals the statistics of all the
/// batches concatenated, up to double rounding, whatever the batch sizes (empty ones included).
template <Axis... Rs>
class running_moments {
public:
    running_moments() = default;

    /// Merges the statistics of `x` (a tensor or view with the reduced axes Rs). The first
    /// call fixes the number of slots (empty batches included); a batch with another number throws
    /// nf::extent_error and changes nothing.
    template <class Arch = xsimd::default_arch, class X>
        requires(is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>)
    void add(const X& x) { add(detail::moments_state_for<Arch, Rs...>(x)); }
    /// Merges statistics computed elsewhere (another thread, another process).
    void add(const moments_state& s) {
        if (!started_) {
            state_ = s;
            started_ = true;
        } else {
            state_.merge(s);
        }
    }

    /// The statistics so far (no slots before the first add()).
    const moments_state& state() const noexcept { return state_; }
    std::size_t slots() const noexcept { return state_.slots(); }
    /// Per slot: the mean, the biased variance, the unbiased variance (NaN where undefined).
    std::vector<double> mean() const { return per_slot(&moments_state::mean); }
    std::vector<double> variance() const { return per_slot(&moments_state::variance); }
    std::vector<double> unbiased_variance() const { return per_slot(&moments_state::unbiased_variance); }

private:
    std::vector<double> per_slot(double (moments_state::*f)(std::size_t) const) const {
        std::vector<double> r(state_.slots());
        for (std::size_t s = 0; s < r.size(); ++s) r[s] = (state_.*f)(s);
        return r;
    }

    moments_state state_;
    bool started_ = false;
};

} // namespace nf
