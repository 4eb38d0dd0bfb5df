// Runtime tests of expressions with per-channel (and other lower-rank) sub-expressions, which the
// evaluator computes once before the main loop ("hoisting"): the results must be those of the
// formula, element by element, on every layout, whatever the size of the hoisted values.
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/per_channel.hpp"
#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::named_index;
using nf_test::ref;
using nf_test::ref_value;

namespace {

/// Per-channel batch-norm parameters: var in [0.05, 2), eps 1e-5.
template <class T>
struct bn_params {
    nf_test::channels<T> mean, var, gamma, beta;
    T eps = T(1e-5);
    explicit bn_params(std::size_t c)
        : mean(nf_test::channel_vector<T>(c, 201, -1, 1)), var(nf_test::channel_vector<T>(c, 202, 0.05, 2)),
          gamma(nf_test::channel_vector<T>(c, 203, -2, 2)), beta(nf_test::channel_vector<T>(c, 204, -1, 1)) {}
    /// gamma / sqrt(var + eps) in double, from the T values.
    double scale(const named_index& i) const {
        return ref(gamma, i) / std::sqrt(ref(var, i) + static_cast<double>(eps));
    }
};

/// Checks the hoisted forms on `x` (any layout with C) evaluated into `y` (same axes, any layout).
template <class X, class Y, class T>
void check_hoisted_forms(const X& x, Y& y, const bn_params<T>& p, const nf_test::channels<T>& stdev) {
    SECTION("(x - mean) * (gamma / std) + beta") {
        y = (x - p.mean) * (p.gamma / stdev) + p.beta;
        // gamma / std, x - mean, *, +: 4 steps; bound |(x - mean) a| + |beta|.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double t = (ref(x, i) - ref(p.mean, i)) * (ref(p.gamma, i) / ref(stdev, i));
                return ref_value{t + ref(p.beta, i), std::abs(t) + std::abs(ref(p.beta, i))};
            },
            4));
    }
    SECTION("(x - mean) * (gamma / nf::sqrt(var + eps)) + beta") {
        y = (x - p.mean) * (p.gamma / nf::sqrt(p.var + p.eps)) + p.beta;
        // var + eps, sqrt, /, x - mean, *, +: 6 steps.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double t = (ref(x, i) - ref(p.mean, i)) * p.scale(i);
                return ref_value{t + ref(p.beta, i), std::abs(t) + std::abs(ref(p.beta, i))};
            },
            6));
    }
    SECTION("folded: x * a - (mean * a - beta), a = gamma / nf::sqrt(var + eps)") {
        auto a = p.gamma / nf::sqrt(p.var + p.eps);
        y = x * a - (p.mean * a - p.beta);
        // a: 3 steps, x * a, mean * a, - beta, final -: 7 steps; bound |x a| + |mean a| + |beta|.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double s = p.scale(i), xa = ref(x, i) * s, ma = ref(p.mean, i) * s;
                return ref_value{xa - (ma - ref(p.beta, i)), std::abs(xa) + std::abs(ma) + std::abs(ref(p.beta, i))};
            },
            7));
    }
    SECTION("a hoisted function of a per-channel operand") {
        y = x * nf::exp(p.mean) + nf::rsqrt(p.var);
        // exp (transcendental), *, sqrt, /, +.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double t = ref(x, i) * std::exp(ref(p.mean, i)), r = 1 / std::sqrt(ref(p.var, i));
                return ref_value{t + r, std::abs(t) + std::abs(r)};
            },
            nf_test::transcendental_steps + 4));
    }
}

} // namespace

TEMPLATE_TEST_CASE("per-channel sub-expressions on every layout", "[hoisting]", float, double) {
    using T = TestType;
    const std::size_t c = GENERATE(3, 17);
    CAPTURE(c);
    const bn_params<T> p(c);
    const auto stdev = nf_test::channel_vector<T>(c, 205, 0.2, 2);

    SECTION("NCHW") {
        nf::tensor<T, nf::shape<N<>, C<>, H<>, W<>>> x({2, c, 3, 5}), y({2, c, 3, 5});
        nf_test::fill_uniform(x, 1, -3, 3);
        check_hoisted_forms(x, y, p, stdev);
    }
    SECTION("NHWC") {
        nf::tensor<T, nf::shape<N<>, H<>, W<>, C<>>> x({2, 3, 5, c}), y({2, 3, 5, c});
        nf_test::fill_uniform(x, 2, -3, 3);
        check_hoisted_forms(x, y, p, stdev);
    }
    SECTION("NC") {
        nf::tensor<T, nf::shape<N<>, C<>>> x({7, c}), y({7, c});
        nf_test::fill_uniform(x, 3, -3, 3);
        check_hoisted_forms(x, y, p, stdev);
    }
    SECTION("NCL data into an NLC view over unaligned memory") {
        nf::tensor<T, nf::shape<N<>, C<>, L<>>> x({2, c, 9});
        nf_test::fill_uniform(x, 4, -3, 3);
        std::vector<T> memory(x.size() + 1);
        nf::view<T, nf::shape<N<>, L<>, C<>>> y(memory.data() + 1, {2, 9, c});
        check_hoisted_forms(x, y, p, stdev);
    }
}

TEMPLATE_TEST_CASE("hoisted values larger than the stack scratch space", "[hoisting]", float, double) {
    // 5000 channels: 20 KB (float) or 40 KB (double) of hoisted values, beyond the 16 KB kept on
    // the stack, so the scratch arena falls back to the heap.
    using T = TestType;
    const std::size_t c = 5000;
    const bn_params<T> p(c);
    const auto stdev = nf_test::channel_vector<T>(c, 205, 0.2, 2);
    nf::tensor<T, nf::shape<N<>, C<>>> x({3, c}), y({3, c});
    nf_test::fill_uniform(x, 5, -3, 3);
    check_hoisted_forms(x, y, p, stdev);
}

TEMPLATE_TEST_CASE("sub-expressions over (N, C) and (H, W)", "[hoisting]", float, double) {
    using T = TestType;
    nf::tensor<T, nf::shape<N<>, C<>>> a({2, 3});
    nf::tensor<T, nf::shape<H<>, W<>>> q({4, 17});
    nf::tensor<T, nf::shape<W<>, H<>>> r({17, 4}); // transposed
    const auto b = nf_test::channel_vector<T>(3, 7, -1, 1);
    nf_test::fill_uniform(a, 8, -1, 1);
    nf_test::fill_uniform(q, 9, -1, 1);
    nf_test::fill_uniform(r, 10, -1, 1);

    auto run = [&](const auto& x, auto& y) {
        y = x * (a * T(2) + b);
        // a * 2 exact, + b, *: 2 steps.
        CHECK(nf_test::near(
            y, [&](const named_index& i) { return ref(x, i) * (2 * ref(a, i) + ref(b, i)); }, 2));
        y = x + (r * T(0.5) - q);
        // r * 0.5 exact, - q, +: 2 steps; bound |x| + |r / 2 - q|.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double t = ref(r, i) * 0.5 - ref(q, i);
                return ref_value{ref(x, i) + t, std::abs(ref(x, i)) + std::abs(t)};
            },
            2));
    };
    SECTION("NCHW") {
        nf::tensor<T, nf::shape<N<>, C<>, H<>, W<>>> x({2, 3, 4, 17}), y({2, 3, 4, 17});
        nf_test::fill_uniform(x, 11, -3, 3);
        run(x, y);
    }
    SECTION("NHWC") {
        nf::tensor<T, nf::shape<N<>, H<>, W<>, C<>>> x({2, 4, 17, 3}), y({2, 4, 17, 3});
        nf_test::fill_uniform(x, 12, -3, 3);
        run(x, y);
    }
}

TEMPLATE_TEST_CASE("a stored sub-expression used twice", "[hoisting]", float, double) {
    using T = TestType;
    const bn_params<T> p(3);
    nf::tensor<T, nf::shape<N<>, H<>, W<>, C<>>> x({2, 3, 5, 3}), y({2, 3, 5, 3});
    nf_test::fill_uniform(x, 13, -3, 3);
    auto a = p.gamma / nf::sqrt(p.var + p.eps);
    y = (x - p.mean) * a + a;
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const double s = p.scale(i), t = (ref(x, i) - ref(p.mean, i)) * s;
            return ref_value{t + s, std::abs(t) + std::abs(s)};
        },
        6));
}
