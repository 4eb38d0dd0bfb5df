// Runtime tests of every operator (+ - * / unary -) and element function (sqrt, rsqrt, exp, log,
// abs, min, max, clamp, relu, sigmoid, tanh, square) between tensors, views, expressions and
// numbers on either side, against the double reference of tests/support/reference.hpp.
//
// The arrays are N=2, C=3, H=5, W=7: 210 elements, so every run has an unrolled part, single
// batches and a scalar tail, whatever the SIMD width.
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::named_index;
using nf_test::ref;

namespace {

using nchw = nf::shape<N<>, C<3>, H<>, W<>>;

/// Two operands of every kind over the same logical data: tensors `a`, `b`, views of other memory
/// holding the same values, and the number `s`.
template <class T>
struct operands {
    nf::tensor<T, nchw> a{{2, 5, 7}}, b{{2, 5, 7}}, y{{2, 5, 7}};
    std::vector<T> a_copy, b_copy;
    nf::view<const T, nchw> av;
    nf::view<T, nchw> bv;

    operands(double a_lo, double a_hi, double b_lo, double b_hi, bool b_signed)
        : a_copy(init(a, 1, a_lo, a_hi, false)), b_copy(init(b, 2, b_lo, b_hi, b_signed)),
          av(a_copy.data(), {2, 5, 7}), bv(b_copy.data(), {2, 5, 7}) {}

    static std::vector<T> init(nf::tensor<T, nchw>& t, std::uint64_t seed, double lo, double hi, bool sign) {
        if (sign) nf_test::fill_signed(t, seed, lo, hi);
        else nf_test::fill_uniform(t, seed, lo, hi);
        return {t.begin(), t.end()};
    }
};

/// Checks `f(l, r)` for every combination of operand kinds against `f` applied to doubles.
/// `f` is a generic lambda such as `[](auto&& l, auto&& r) { return l + r; }`: on nf operands it
/// builds an expression, on doubles it is the reference.
template <class T, class F>
void check_binary_forms(F f, double steps, operands<T>& o, T s) {
    auto &a = o.a, &b = o.b, &y = o.y;
    auto& av = o.av;
    auto& bv = o.bv;
    const double sd = static_cast<double>(s);
    auto reference = [&](const named_index& i) { return f(ref(a, i), ref(b, i)); };

    SECTION("tensor, tensor") {
        y = f(a, b);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("view, tensor") {
        y = f(av, b);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("tensor, view") {
        y = f(a, bv);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("view, view") {
        y = f(av, bv);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("expression, tensor and tensor, expression") {
        // Negation is exact, so -(-a) is an expression node with a's values.
        y = f(-(-a), b);
        CHECK(nf_test::near(y, reference, steps));
        y = f(a, -(-b));
        CHECK(nf_test::near(y, reference, steps));
        y = f(-(-a), -(-bv));
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("number on either side") {
        y = f(s, b);
        CHECK(nf_test::near(y, [&](const named_index& i) { return f(sd, ref(b, i)); }, steps));
        y = f(a, s);
        CHECK(nf_test::near(y, [&](const named_index& i) { return f(ref(a, i), sd); }, steps));
        y = f(-(-a), s);
        CHECK(nf_test::near(y, [&](const named_index& i) { return f(ref(a, i), sd); }, steps));
        y = f(s, -(-bv));
        CHECK(nf_test::near(y, [&](const named_index& i) { return f(sd, ref(b, i)); }, steps));
    }
    SECTION("into a view destination") {
        std::vector<T> out(y.size(), T(0));
        nf::view<T, nchw> yv(out.data(), {2, 5, 7});
        yv = f(av, b);
        CHECK(nf_test::near(yv, reference, steps));
    }
}

/// Checks a unary function on a tensor, a view and an expression operand against `reference`.
template <class T, class NF, class Ref>
void check_unary_forms(NF f, Ref reference_fn, double steps, double lo, double hi) {
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 7, lo, hi);
    std::vector<T> copy(x.begin(), x.end());
    nf::view<const T, nchw> xv(copy.data(), {2, 5, 7});
    auto reference = [&](const named_index& i) { return reference_fn(ref(x, i)); };

    y = f(x);
    CHECK(nf_test::near(y, reference, steps));
    y = f(xv);
    CHECK(nf_test::near(y, reference, steps));
    y = f(-(-x));
    CHECK(nf_test::near(y, reference, steps));
    y = f(nf::tensor<T, nchw>(x)); // a temporary operand
    CHECK(nf_test::near(y, reference, steps));
}

double sigmoid_ref(double v) { return 1 / (1 + std::exp(-v)); }

} // namespace

// --- Operators ---------------------------------------------------------------------------------
// One rounding step each: the result is the correctly rounded value of the exact operation.

TEMPLATE_TEST_CASE("operator+ between every kind of operand", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms([](auto&& l, auto&& r) { return l + r; }, 1, o, TestType(0.75));
}

TEMPLATE_TEST_CASE("operator- between every kind of operand", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms([](auto&& l, auto&& r) { return l - r; }, 1, o, TestType(-1.25));
}

TEMPLATE_TEST_CASE("operator* between every kind of operand", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms([](auto&& l, auto&& r) { return l * r; }, 1, o, TestType(0.3));
}

TEMPLATE_TEST_CASE("operator/ between every kind of operand", "[operators]", float, double) {
    // Divisors are kept away from zero: |b| in [0.25, 4).
    operands<TestType> o(-2, 2, 0.25, 4, true);
    check_binary_forms([](auto&& l, auto&& r) { return l / r; }, 1, o, TestType(-0.7));
}

TEMPLATE_TEST_CASE("operator/ is a true division, never a multiplication by the reciprocal", "[operators]",
                   float, double) {
    // x / 3 and x * (1/3) differ for many x; a true division is correctly rounded everywhere.
    using T = TestType;
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 21, -10, 10);
    y = x / T(3);
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(nf_test::at(x, i) / T(3)); }));
    nf::tensor<T, nf::shape<C<3>>> d{T(3), T(7), T(0.1)};
    y = x / d;
    CHECK(nf_test::exact(y, [&](const named_index& i) {
        return static_cast<T>(nf_test::at(x, i) / nf_test::at(d, i));
    }));
}

TEMPLATE_TEST_CASE("unary minus and unary plus", "[operators]", float, double) {
    using T = TestType;
    check_unary_forms<T>([](auto&& v) { return -v; }, [](double v) { return -v; }, 0, -3, 3);
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 8, -3, 3);
    y = +x;
    CHECK(nf_test::same_values(y, x));
    y = -(x - T(1)); // negation of an expression
    CHECK(nf_test::near(y, [&](const named_index& i) { return 1 - ref(x, i); }, 1));
}

TEMPLATE_TEST_CASE("numbers of other arithmetic types take the array's element type", "[operators]", float,
                   double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 9, -3, 3);
    static_assert(std::is_same_v<typename decltype(x * 2)::value_type, T>);
    static_assert(std::is_same_v<typename decltype(0.1 * x)::value_type, T>);
    y = x * 2;
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(nf_test::at(x, i) * T(2)); }));
    // A double number is rounded to T once, then used: 0.1 becomes T(0.1).
    y = 0.1 * x;
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(T(0.1) * nf_test::at(x, i)); }));
}

TEMPLATE_TEST_CASE("a compound expression of every operand kind", "[operators]", float, double) {
    using T = TestType;
    operands<T> o(-2, 2, -2, 2, false);
    auto &a = o.a, &b = o.b, &y = o.y;
    auto& av = o.av;
    y = nf::sqrt(nf::square(av) + T(1)) * b - a / T(2);
    // square, +1, sqrt, *b, /2 (exact unless subnormal, counted anyway), - : 6 steps.
    CHECK(nf_test::near(y, [&](const named_index& i) {
        const double p = std::sqrt(ref(a, i) * ref(a, i) + 1) * ref(b, i), q = ref(a, i) / 2;
        return nf_test::ref_value{p - q, std::abs(p) + std::abs(q)};
    }, 6));
}

// --- Functions ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("nf::sqrt", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::sqrt(v); }, [](double v) { return std::sqrt(v); }, 1, 0, 4);
}

TEMPLATE_TEST_CASE("nf::rsqrt", "[functions]", float, double) {
    // Correctly rounded sqrt, then a true division: 2 steps.
    check_unary_forms<TestType>([](auto&& v) { return nf::rsqrt(v); }, [](double v) { return 1 / std::sqrt(v); }, 2,
                                0.25, 4);
}

TEMPLATE_TEST_CASE("nf::exp", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::exp(v); }, [](double v) { return std::exp(v); },
                                nf_test::transcendental_steps, -5, 5);
}

TEMPLATE_TEST_CASE("nf::log", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::log(v); }, [](double v) { return std::log(v); },
                                nf_test::transcendental_steps, 0.01, 10);
}

TEMPLATE_TEST_CASE("nf::tanh", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::tanh(v); }, [](double v) { return std::tanh(v); },
                                nf_test::transcendental_steps, -3, 3);
}

TEMPLATE_TEST_CASE("nf::sigmoid", "[functions]", float, double) {
    // exp, then + and /: one transcendental and 2 steps (results are in (0, 1)).
    check_unary_forms<TestType>([](auto&& v) { return nf::sigmoid(v); }, sigmoid_ref,
                                nf_test::transcendental_steps + 2, -6, 6);
}

TEMPLATE_TEST_CASE("nf::square", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::square(v); }, [](double v) { return v * v; }, 1, -3, 3);
}

TEMPLATE_TEST_CASE("nf::abs and nf::relu are exact", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::abs(v); }, [](double v) { return std::abs(v); }, 0, -3, 3);
    check_unary_forms<TestType>([](auto&& v) { return nf::relu(v); }, [](double v) { return v > 0 ? v : 0.0; }, 0, -3,
                                3);
}

TEMPLATE_TEST_CASE("nf::min, nf::max and nf::clamp with every operand kind", "[functions]", float, double) {
    using T = TestType;
    operands<T> o(-2, 2, -2, 2, false);
    SECTION("min") {
        check_binary_forms([](auto&& l, auto&& r) {
            using std::min;
            using nf::min;
            return min(l, r);
        }, 0, o, T(0.5));
    }
    SECTION("max") {
        check_binary_forms([](auto&& l, auto&& r) {
            using std::max;
            using nf::max;
            return max(l, r);
        }, 0, o, T(-0.5));
    }
}

TEMPLATE_TEST_CASE("nf::clamp with number and per-channel bounds", "[functions]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 12, -3, 3);
    y = nf::clamp(x, T(-1), T(0.5));
    CHECK(nf_test::exact(y, [&](const named_index& i) { return std::min(std::max(ref(x, i), -1.0), 0.5); }));

    nf::tensor<T, nf::shape<C<3>>> lo{T(-2), T(0), T(-0.5)}, hi{T(2), T(1), T(-0.25)};
    y = nf::clamp(x, lo, hi);
    CHECK(nf_test::exact(y, [&](const named_index& i) {
        return std::min(std::max(ref(x, i), ref(lo, i)), ref(hi, i));
    }));
    y = nf::clamp(x * T(2), lo, T(1)); // expression operand, mixed bounds
    CHECK(nf_test::exact(y, [&](const named_index& i) {
        return std::min(std::max(2 * ref(x, i), ref(lo, i)), 1.0);
    }));
}

TEMPLATE_TEST_CASE("nf::min and nf::max return the second operand when either is NaN", "[functions]", float,
                   double) {
    // Documented in expr/ops.hpp ("like minps/maxps"); NaNs sit both in SIMD batches and in the
    // scalar tail (positions 0, 5, 100 and the last one of 210).
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 13, -1, 1);
    for (std::size_t k : {std::size_t(0), std::size_t(5), std::size_t(100), x.size() - 1}) x.data()[k] = nan;
    auto second_if_nan = [](double first, double second, bool is_min) {
        if (std::isnan(first) || std::isnan(second)) return second;
        return is_min ? std::min(first, second) : std::max(first, second);
    };
    y = nf::min(x, T(0));
    CHECK(nf_test::near(y, [&](const named_index& i) { return second_if_nan(ref(x, i), 0, true); }, 0));
    y = nf::min(T(0), x);
    CHECK(nf_test::near(y, [&](const named_index& i) { return second_if_nan(0, ref(x, i), true); }, 0));
    y = nf::max(x, T(0));
    CHECK(nf_test::near(y, [&](const named_index& i) { return second_if_nan(ref(x, i), 0, false); }, 0));
    y = nf::max(T(0), x);
    CHECK(nf_test::near(y, [&](const named_index& i) { return second_if_nan(0, ref(x, i), false); }, 0));
}

TEMPLATE_TEST_CASE("every element function gives one value for one input, wherever it sits in a run",
                   "[functions][bug]", float, double) {
    // expr/ops.hpp promises that "the SIMD body and the scalar tail of a loop compute identical
    // values". A run of 67 equal inputs has SIMD batches and a scalar tail for every SIMD width
    // (67 = 64 + 3); every output must have the same bits as the first. Otherwise a result would
    // depend on the position of an element, hence on the extents and the layout of the tensor.
    using T = TestType;
    using row = nf::shape<W<>>;
    nf::tensor<T, row> x(nf::extents<row>({67})), y(nf::extents<row>({67}));

    using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    // Each of 400 inputs in [lo, hi) is one check; a failure names the input and two positions.
    auto consistency = [&](auto f, double lo, double hi) {
        nf_test::check_result r;
        for (int k = 0; k < 400; ++k) {
            const T v = static_cast<T>(lo + (hi - lo) * k / 400.0);
            x = v;
            y = f(x);
            ++r.checked;
            for (std::size_t j = 1; j < y.size(); ++j)
                if (std::bit_cast<bits>(y.data()[j]) != std::bit_cast<bits>(y.data()[0])) {
                    r.fail("input " + nf_test::detail::show(v) + ": position 0 gives " +
                           nf_test::detail::show(y.data()[0]) + ", position " + std::to_string(j) + " gives " +
                           nf_test::detail::show(y.data()[j]));
                    break;
                }
        }
        return r;
    };
    CHECK(consistency([](auto& v) { return nf::sqrt(v); }, 0, 10));
    CHECK(consistency([](auto& v) { return nf::rsqrt(v); }, 0.1, 10));
    CHECK(consistency([](auto& v) { return nf::abs(v); }, -5, 5));
    CHECK(consistency([](auto& v) { return nf::square(v); }, -5, 5));
    CHECK(consistency([](auto& v) { return nf::relu(v); }, -5, 5));
    CHECK(consistency([](auto& v) { return nf::exp(v); }, -10, 10));
    CHECK(consistency([](auto& v) { return nf::log(v); }, 0.01, 10));
    CHECK(consistency([](auto& v) { return nf::tanh(v); }, -5, 5));
    CHECK(consistency([](auto& v) { return nf::sigmoid(v); }, -10, 10));
}
