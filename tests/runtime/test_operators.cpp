// Runtime tests of every operator (+ - * / and unary - +) between tensors, views, expressions and
// numbers on either side, against the double reference of tests/support/reference.hpp: every
// pairing of operand kinds for operator+ and unary minus, the representative ones for the others
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
} // namespace

// --- Operators ---------------------------------------------------------------------------------
// One rounding step each: the result is the correctly rounded value of the exact operation.

TEMPLATE_TEST_CASE("operator+ between every kind of operand", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms([](auto&& l, auto&& r) { return l + r; }, 1, o, TestType(0.75));
}

TEMPLATE_TEST_CASE("operator- between operands of each kind", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms<forms::representative>([](auto&& l, auto&& r) { return l - r; }, 1, o, TestType(-1.25));
}

TEMPLATE_TEST_CASE("operator* between operands of each kind", "[operators]", float, double) {
    operands<TestType> o(-2, 2, -2, 2, false);
    check_binary_forms<forms::representative>([](auto&& l, auto&& r) { return l * r; }, 1, o, TestType(0.3));
}

TEMPLATE_TEST_CASE("operator/ between operands of each kind", "[operators]", float, double) {
    // Divisors are kept away from zero: |b| in [0.25, 4).
    operands<TestType> o(-2, 2, 0.25, 4, true);
    check_binary_forms<forms::representative>([](auto&& l, auto&& r) { return l / r; }, 1, o, TestType(-0.7));
}

TEMPLATE_TEST_CASE("operator/ is a true division, never a multiplication by the reciprocal", "[operators]", float,
                   double) {
    // x / 3 and x * (1/3) differ for many x; a true division is correctly rounded everywhere.
    using T = TestType;
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 21, -10, 10);
    y = x / T(3);
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(nf_test::at(x, i) / T(3)); }));
    nf::tensor<T, nf::shape<C<3>>> d{T(3), T(7), T(0.1)};
    y = x / d;
    CHECK(
        nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(nf_test::at(x, i) / nf_test::at(d, i)); }));
}

TEMPLATE_TEST_CASE("unary minus and unary plus", "[operators]", float, double) {
    using T = TestType;
    check_unary_forms<T>([](auto&& v) { return -v; }, [](double v) { return -v; }, 0, -3, 3);
    nf::tensor<T, nchw> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 8, -3, 3);
    y = +x;
    CHECK(nf_test::same_values(y, x));
    y = -(x - T(1)); // negation of an expression
    CHECK(nf_test::near(
        y, [&](const named_index& i) { return 1 - ref(x, i); }, 1));
}

TEMPLATE_TEST_CASE("numbers of other arithmetic types take the array's element type", "[operators]", float, double) {
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
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            const double p = std::sqrt(ref(a, i) * ref(a, i) + 1) * ref(b, i), q = ref(a, i) / 2;
            return nf_test::ref_value{p - q, std::abs(p) + std::abs(q)};
        },
        6));
}
