// tests/support/per_channel.hpp: per-channel test data (mean, std, gamma, beta over C) and the
// standard per-channel checks shared by the broadcasting and odd-extent tests.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

namespace nf_test {

template <class T>
using channels = nf::tensor<T, nf::shape<nf::axes::C<>>>;

/// `count` values over C, uniform in [lo, hi) (with a random sign if `sign`).
template <class T>
channels<T> channel_vector(std::size_t count, std::uint64_t seed, double lo, double hi, bool sign = false) {
    channels<T> v(nf::extents<nf::shape<nf::axes::C<>>>({count}));
    if (sign)
        fill_signed(v, seed, lo, hi);
    else
        fill_uniform(v, seed, lo, hi);
    return v;
}

/// Per-channel statistics for `count` channels: mean in [-1, 1), std with |s| in [0.2, 2) and a
/// random sign, gamma in [-2, 2), beta in [-1, 1).
template <class T>
struct per_channel {
    channels<T> m, s, g, b;
    explicit per_channel(std::size_t count)
        : m(channel_vector<T>(count, 101, -1, 1)), s(channel_vector<T>(count, 102, 0.2, 2, true)),
          g(channel_vector<T>(count, 103, -2, 2)), b(channel_vector<T>(count, 104, -1, 1)) {}
};

/// Evaluates per-channel expressions of `x` (any layout with C) into `y` (any layout with the same
/// axes) and checks them by axis name:
///   (x - m) / s      bit for bit against the two operations done one by one in T;
///   x * g + b        2 rounding steps, bound |x g| + |b| (the sum may cancel);
///   m - x            the per-channel operand on the left (the expression's axes start with C);
///   relu(x - m)      exact.
template <class X, class Y, class P>
void check_per_channel(const X& x, Y& y, const P& p) {
    using T = typename std::remove_cvref_t<Y>::value_type;
    y = (x - p.m) / p.s;
    CHECK(exact(y, [&](const named_index& i) {
        const T d = at(x, i) - at(p.m, i);
        return d / at(p.s, i);
    }));
    y = x * p.g + p.b;
    CHECK(near(
        y,
        [&](const named_index& i) {
            const double prod = ref(x, i) * ref(p.g, i);
            return ref_value{prod + ref(p.b, i), std::abs(prod) + std::abs(ref(p.b, i))};
        },
        2));
    y = p.m - x;
    CHECK(exact(y, [&](const named_index& i) { return static_cast<T>(at(p.m, i) - at(x, i)); }));
    y = nf::relu(x - p.m);
    CHECK(exact(y, [&](const named_index& i) {
        const T d = at(x, i) - at(p.m, i);
        return d > T(0) ? d : T(0);
    }));
}

} // namespace nf_test
