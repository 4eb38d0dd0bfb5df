// Runtime tests of every element function (sqrt, rsqrt, exp, log, abs, min, max, clamp, relu,
// sigmoid, tanh, square) on tensors, views, expressions and numbers, against the double reference
// of tests/support/reference.hpp, and of their consistency between SIMD batches and scalar tails.
// Every operand kind for nf::sqrt and nf::min, the representative ones for the others
// (support/operand_forms.hpp says why that suffices).
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

#include "support/operand_forms.hpp"
#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::check_binary_forms;
using nf_test::check_unary_forms;
using nf_test::forms;
using nf_test::named_index;
using nf_test::operands;
using nf_test::ref;

namespace {
using nchw = nf_test::forms_shape;
double sigmoid_ref(double v) {
    return 1 / (1 + std::exp(-v));
}
} // namespace

// --- Functions ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("nf::sqrt", "[functions]", float, double) {
    check_unary_forms<TestType>([](auto&& v) { return nf::sqrt(v); }, [](double v) { return std::sqrt(v); }, 1, 0, 4);
}

TEMPLATE_TEST_CASE("nf::rsqrt", "[functions]", float, double) {
    // Correctly rounded sqrt, then a true division: 2 steps.
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::rsqrt(v); },
                                                       [](double v) { return 1 / std::sqrt(v); }, 2, 0.25, 4);
}

TEMPLATE_TEST_CASE("nf::exp", "[functions]", float, double) {
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::exp(v); },
                                                       [](double v) { return std::exp(v); },
                                                       nf_test::transcendental_steps, -5, 5);
}

TEMPLATE_TEST_CASE("nf::log", "[functions]", float, double) {
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::log(v); },
                                                       [](double v) { return std::log(v); },
                                                       nf_test::transcendental_steps, 0.01, 10);
}

TEMPLATE_TEST_CASE("nf::tanh", "[functions]", float, double) {
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::tanh(v); },
                                                       [](double v) { return std::tanh(v); },
                                                       nf_test::transcendental_steps, -3, 3);
}

TEMPLATE_TEST_CASE("nf::sigmoid", "[functions]", float, double) {
    // exp, then + and /: one transcendental and 2 steps (results are in (0, 1)).
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::sigmoid(v); }, sigmoid_ref,
                                                       nf_test::transcendental_steps + 2, -6, 6);
}

TEMPLATE_TEST_CASE("nf::square", "[functions]", float, double) {
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::square(v); },
                                                       [](double v) { return v * v; }, 1, -3, 3);
}

TEMPLATE_TEST_CASE("nf::abs and nf::relu are exact", "[functions]", float, double) {
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::abs(v); },
                                                       [](double v) { return std::abs(v); }, 0, -3, 3);
    check_unary_forms<TestType, forms::representative>([](auto&& v) { return nf::relu(v); },
                                                       [](double v) { return v > 0 ? v : 0.0; }, 0, -3, 3);
}

TEMPLATE_TEST_CASE("nf::min, nf::max and nf::clamp with every operand kind", "[functions]", float, double) {
    using T = TestType;
    operands<T> o(-2, 2, -2, 2, false);
    SECTION("min") {
        check_binary_forms(
            [](auto&& l, auto&& r) {
                using std::min;
                using nf::min;
                return min(l, r);
            },
            0, o, T(0.5));
    }
    SECTION("max") {
        check_binary_forms<forms::representative>(
            [](auto&& l, auto&& r) {
                using std::max;
                using nf::max;
                return max(l, r);
            },
            0, o, T(-0.5));
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
    CHECK(
        nf_test::exact(y, [&](const named_index& i) { return std::min(std::max(ref(x, i), ref(lo, i)), ref(hi, i)); }));
    y = nf::clamp(x * T(2), lo, T(1)); // expression operand, mixed bounds
    CHECK(nf_test::exact(y, [&](const named_index& i) { return std::min(std::max(2 * ref(x, i), ref(lo, i)), 1.0); }));
}

TEMPLATE_TEST_CASE("nf::min and nf::max return the second operand when either is NaN", "[functions]", float, double) {
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
    CHECK(nf_test::near(
        y, [&](const named_index& i) { return second_if_nan(ref(x, i), 0, true); }, 0));
    y = nf::min(T(0), x);
    CHECK(nf_test::near(
        y, [&](const named_index& i) { return second_if_nan(0, ref(x, i), true); }, 0));
    y = nf::max(x, T(0));
    CHECK(nf_test::near(
        y, [&](const named_index& i) { return second_if_nan(ref(x, i), 0, false); }, 0));
    y = nf::max(T(0), x);
    CHECK(nf_test::near(
        y, [&](const named_index& i) { return second_if_nan(0, ref(x, i), false); }, 0));
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
