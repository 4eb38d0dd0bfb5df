// tests/support/reference.hpp: the plain double-precision reference of the runtime tests: logical
// indexing by axis name, deterministic test data, tolerances derived from rounding steps, and
// element-wise comparisons that report the first failing index.
//
// The reference deliberately knows nothing of normfuse's internals (plans, strides, hoisting):
// it finds an element by the NAMES of the axes of a tensor or view and computes row-major offsets
// itself, so a test states the expected value with plain index math, e.g.
//
//     nf_test::near(y, [&](const nf_test::named_index& i) {
//         return (nf_test::ref(x, i) - nf_test::ref(mean, i)) / nf_test::ref(std, i);
//     }, 2);
//
// where `ref(mean, i)` reads mean[c] because mean has the single axis C.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/axis_list.hpp>

namespace nf_test {

// --- Logical indices --------------------------------------------------------------------------

/// A position in a logical index space, one coordinate per axis NAME ("N", "C", "H", ...), so it
/// does not depend on the memory layout of the array it is used with.
class named_index {
public:
    named_index() = default;
    named_index(std::initializer_list<std::pair<std::string_view, std::size_t>> coordinates) {
        for (const auto& [axis, value] : coordinates) set(axis, value);
    }

    void set(std::string_view axis, std::size_t value) {
        for (std::size_t k = 0; k < count_; ++k)
            if (names_[k] == axis) {
                values_[k] = value;
                return;
            }
        if (count_ == capacity) throw std::length_error("nf_test::named_index: too many axes");
        names_[count_] = axis;
        values_[count_++] = value;
    }
    [[nodiscard]] bool has(std::string_view axis) const {
        for (std::size_t k = 0; k < count_; ++k)
            if (names_[k] == axis) return true;
        return false;
    }
    /// The coordinate of `axis`; throws if the index has no such axis (a test bug).
    [[nodiscard]] std::size_t operator[](std::string_view axis) const {
        for (std::size_t k = 0; k < count_; ++k)
            if (names_[k] == axis) return values_[k];
        throw std::out_of_range("nf_test::named_index: no axis '" + std::string(axis) + "' in " + str());
    }
    /// "(N=0, C=2, H=1, W=4)", for failure messages.
    [[nodiscard]] std::string str() const {
        std::string s = "(";
        for (std::size_t k = 0; k < count_; ++k) {
            if (k) s += ", ";
            s += std::string(names_[k]) + "=" + std::to_string(values_[k]);
        }
        return s + ")";
    }

private:
    static constexpr std::size_t capacity = 8;
    std::array<std::string_view, capacity> names_{};
    std::array<std::size_t, capacity> values_{};
    std::size_t count_ = 0;
};

/// A logical index space: axis names with extents, iterated row-major in the listed order.
struct index_space {
    std::vector<std::pair<std::string_view, std::size_t>> axes;

    [[nodiscard]] std::size_t size() const {
        std::size_t n = 1;
        for (const auto& a : axes) n *= a.second;
        return n;
    }
};

namespace detail {
/// Axis names of a tensor or view type, in memory order.
template <class Array>
inline constexpr auto axis_names = []<class... As>(nf::axis_list<As...>) {
    return std::array<std::string_view, sizeof...(As)>{As::name...};
}(typename std::remove_cvref_t<Array>::axes{});
} // namespace detail

/// The index space of a tensor or view: its axes (in memory order) with their extents.
template <class Array>
index_space space_of(const Array& a) {
    index_space s;
    constexpr auto& names = detail::axis_names<Array>;
    for (std::size_t d = 0; d < names.size(); ++d) s.axes.emplace_back(names[d], a.extent(d));
    return s;
}

/// Calls `f(const named_index&)` for every index of `space`, row-major.
template <class F>
void for_each_index(const index_space& space, F&& f) {
    const std::size_t rank = space.axes.size();
    if (space.size() == 0) return;
    std::vector<std::size_t> pos(rank, 0);
    named_index idx;
    for (const auto& a : space.axes) idx.set(a.first, 0);
    for (;;) {
        f(static_cast<const named_index&>(idx));
        std::size_t d = rank;
        for (;;) {
            if (d == 0) return;
            --d;
            if (++pos[d] < space.axes[d].second) {
                idx.set(space.axes[d].first, pos[d]);
                break;
            }
            pos[d] = 0;
            idx.set(space.axes[d].first, 0);
        }
    }
}

/// Row-major offset of a logical index in a tensor or view. Axes the index has but the array lacks
/// are ignored: that is broadcasting by name, computed without any normfuse machinery.
template <class Array>
std::size_t offset_of(const Array& a, const named_index& i) {
    constexpr auto& names = detail::axis_names<Array>;
    std::size_t o = 0;
    for (std::size_t d = 0; d < names.size(); ++d) {
        const std::size_t c = i[names[d]];
        if (c >= a.extent(d))
            throw std::out_of_range("nf_test::offset_of: index " + i.str() + " outside axis " + std::string(names[d]) +
                                    " of extent " + std::to_string(a.extent(d)));
        o = o * a.extent(d) + c;
    }
    return o;
}

/// The element of a tensor or view at a logical index (any layout).
template <class Array>
decltype(auto) at(Array& a, const named_index& i) {
    return a.data()[offset_of(a, i)];
}

/// The element at a logical index, widened to double (exact for float and double).
template <class Array>
double ref(const Array& a, const named_index& i) {
    return static_cast<double>(a.data()[offset_of(a, i)]);
}

// --- Test data --------------------------------------------------------------------------------

/// splitmix64: a tiny, portable generator, so that test data is identical on every platform.
class random_stream {
public:
    explicit random_stream(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1p-53; }

private:
    std::uint64_t state_;
};

/// Fills a tensor or view (in memory order) with values uniform in [lo, hi), rounded to its type.
template <class Array>
void fill_uniform(Array& a, std::uint64_t seed, double lo, double hi) {
    using T = std::remove_cvref_t<decltype(*a.data())>;
    random_stream rng(seed);
    for (std::size_t k = 0; k < a.size(); ++k) a.data()[k] = static_cast<T>(rng.uniform(lo, hi));
}

/// Fills a tensor or view with values uniform in [lo, hi) whose sign is random: magnitudes stay
/// away from zero (for divisors).
template <class Array>
void fill_signed(Array& a, std::uint64_t seed, double lo, double hi) {
    using T = std::remove_cvref_t<decltype(*a.data())>;
    random_stream rng(seed);
    for (std::size_t k = 0; k < a.size(); ++k) {
        const double m = rng.uniform(lo, hi);
        a.data()[k] = static_cast<T>((rng.next() & 1) ? -m : m);
    }
}

/// Sets every element of a tensor or view to `f(named_index)`.
template <class Array, class F>
void fill_with(Array& a, F&& f) {
    using T = std::remove_cvref_t<decltype(*a.data())>;
    for_each_index(space_of(a), [&](const named_index& i) { at(a, i) = static_cast<T>(f(i)); });
}

// --- Tolerances -------------------------------------------------------------------------------
//
// FLT_EPSILON / DBL_EPSILON is eps = 2u, where u is the unit roundoff: one correctly rounded
// operation (+ - * / sqrt, and the conversion of a double to T) has a relative error of at most u
// of its own result. If every intermediate of a computation of s such steps is at most `scale` in
// magnitude, the absolute error of the result is at most s * u * scale to first order: rounding
// errors add relatively through * and /, and absolutely (each at most u * |intermediate|) through
// + and -. The double reference performs the same s steps in double, adding at most
// s * u_double * scale, which matters only when T is double. Hence
//
//     tolerance<T>(s, scale) = s * eps(T) * max(scale, 1)  =  2 * s * u * max(scale, 1)
//
// covers the computation under test (s * u) plus the reference (s * u when T is double), with
// the higher-order terms far below the slack this leaves. `scale` is max(|reference|, 1) unless a
// test passes a bound on its intermediates (needed where + or - cancels, e.g. a*x + b).
//
// The floor of 1 follows the usual practice for O(1) data: results near zero are held to an
// absolute error of s * eps rather than to a relative one that a cancelling subtraction could not
// meet.
//
// Transcendental functions (exp, log, tanh) are not correctly rounded. We budget
// `transcendental_steps` (4 eps, i.e. 8 u) for each call, the bound stated by vectorized libm
// implementations for their "full precision" variants (e.g. SLEEF's 3.5-ulp functions; glibc's
// float exp/log are within 1 ulp). This is fixed before looking at normfuse's results.

/// eps of T: 2^-23 for float, 2^-52 for double.
template <class T>
inline constexpr double epsilon = static_cast<double>(std::numeric_limits<T>::epsilon());

/// Rounding steps charged to one call of exp, log or tanh (see above).
inline constexpr double transcendental_steps = 4;

/// Allowed |result - reference| for a result in T of `steps` correctly rounded operations whose
/// intermediates are bounded by `scale` in magnitude (see above).
template <class T>
double tolerance(double steps, double scale) {
    return steps * epsilon<T> * std::max(std::abs(scale), 1.0);
}

/// A reference value with an explicit bound on the magnitude of the intermediates that lead to it.
struct ref_value {
    double value;
    double scale;
};

// --- Comparisons ------------------------------------------------------------------------------

/// The outcome of comparing every element of an array; true when all matched. Streams a summary
/// with the first failing index, so `CHECK(nf_test::near(...))` explains a failure.
struct check_result {
    std::size_t checked = 0;
    std::size_t failures = 0;
    double worst_excess = 0; // largest |error| / tolerance seen (near() only)
    std::string first_failure;

    explicit operator bool() const { return checked > 0 && failures == 0; }

    void fail(std::string what) {
        if (failures++ == 0) first_failure = std::move(what);
    }
};

inline std::ostream& operator<<(std::ostream& os, const check_result& r) {
    os << r.checked << " elements checked, " << r.failures << " failed";
    if (r.checked == 0) os << " (nothing was compared: empty array?)";
    if (r.failures) os << "; first: " << r.first_failure;
    if (r.failures && r.worst_excess > 0) os << "; worst error/tolerance = " << r.worst_excess;
    return os;
}

namespace detail {
inline ref_value as_ref_value(double v) {
    return {v, std::abs(v)};
}
inline ref_value as_ref_value(ref_value v) {
    return {v.value, std::max(std::abs(v.value), std::abs(v.scale))};
}

template <class T>
std::string show(T v) {
    std::ostringstream os;
    os.precision(std::numeric_limits<T>::max_digits10);
    os << v;
    return os.str();
}

template <class T>
auto bits_of(T v) {
    if constexpr (sizeof(T) == 4)
        return std::bit_cast<std::uint32_t>(v);
    else
        return std::bit_cast<std::uint64_t>(v);
}
} // namespace detail

/// Compares every element of `actual` (tensor or view, any layout) with `expected(named_index)`,
/// a double or a ref_value, allowing tolerance<T>(steps, scale). NaN must match NaN and an
/// infinity must match exactly. The index space is `actual`'s own.
template <class Array, class Expected>
check_result near(const Array& actual, Expected&& expected, double steps) {
    using T = std::remove_cvref_t<decltype(*actual.data())>;
    check_result r;
    for_each_index(space_of(actual), [&](const named_index& i) {
        ++r.checked;
        const ref_value e = detail::as_ref_value(expected(i));
        const T got = actual.data()[offset_of(actual, i)];
        const double g = static_cast<double>(got);
        bool ok;
        if (std::isnan(e.value))
            ok = std::isnan(g);
        else if (std::isinf(e.value))
            ok = g == e.value;
        else {
            const double tol = tolerance<T>(steps, e.scale);
            const double err = std::abs(g - e.value);
            r.worst_excess = std::max(r.worst_excess, err / tol);
            ok = err <= tol;
        }
        if (!ok)
            r.fail("at " + i.str() + ": got " + detail::show(got) + ", reference " + detail::show(e.value) +
                   ", tolerance " + detail::show(tolerance<T>(steps, e.scale)));
    });
    return r;
}

/// Requires every element of `actual` to have exactly the bits of `expected(named_index)`
/// (converted to the element type): for results that are reproducible operation by operation.
template <class Array, class Expected>
check_result exact(const Array& actual, Expected&& expected) {
    using T = std::remove_cvref_t<decltype(*actual.data())>;
    check_result r;
    for_each_index(space_of(actual), [&](const named_index& i) {
        ++r.checked;
        const T want = static_cast<T>(expected(i));
        const T got = actual.data()[offset_of(actual, i)];
        if (detail::bits_of(got) != detail::bits_of(want))
            r.fail("at " + i.str() + ": got " + detail::show(got) + ", expected " + detail::show(want));
    });
    return r;
}

/// True when two arrays hold the same bits at every logical index (layouts may differ; `b` may
/// have more axes than `a` only if it is indexed by `a`'s space).
template <class A, class B>
check_result same_values(const A& a, const B& b) {
    return exact(a, [&](const named_index& i) { return b.data()[offset_of(b, i)]; });
}

/// True when every element of a contiguous array still holds `sentinel` (bitwise).
template <class Array, class T>
bool all_equal(const Array& a, T sentinel) {
    for (std::size_t k = 0; k < a.size(); ++k)
        if (detail::bits_of(a.data()[k]) !=
            detail::bits_of(static_cast<std::remove_cvref_t<decltype(*a.data())>>(sentinel)))
            return false;
    return true;
}

} // namespace nf_test
