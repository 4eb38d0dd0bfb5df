// Runtime tests of the extent checks: a dynamic extent that disagrees between operands, or between
// the destination and an operand, throws nf::extent_error whose message names the axis and both
// extents, and nothing is written (the destination keeps a sentinel).
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
using Catch::Matchers::Contains;

namespace {
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
template <class T>
using channels = nf::tensor<T, nf::shape<C<>>>;

template <class T>
constexpr T sentinel = T(-12345.5);

/// The message of the extent_error thrown by `f`, or "" if none was thrown.
template <class F>
std::string extent_error_message(F&& f) {
    try {
        f();
    } catch (const nf::extent_error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEMPLATE_TEST_CASE("operands that disagree on a dynamic extent", "[extent_checks]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 3, 4, 5});
    nf::tensor<T, nchw> y({2, 3, 4, 5}, sentinel<T>);
    nf_test::fill_uniform(x, 1, -1, 1);
    channels<T> m4{T(1), T(2), T(3), T(4)}, s3{T(1), T(2), T(3)};

    SECTION("the error names the call, the axis and both extents") {
        const std::string what = extent_error_message([&] { y = (x - m4) / s3; });
        CHECK_THAT(what, Contains("operator-") && Contains("axis C") && Contains("extent 3 on the left") &&
                             Contains("4 on the right"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("the per-channel operand on the left") {
        const std::string what = extent_error_message([&] { y = m4 * x; });
        CHECK_THAT(what, Contains("operator*") && Contains("axis C") && Contains("extent 4 on the left") &&
                             Contains("3 on the right"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("deep inside an expression, in a function call") {
        const std::string what = extent_error_message([&] { y = nf::max(nf::sqrt(x * x), m4); });
        CHECK_THAT(what, Contains("nf::max") && Contains("axis C") && Contains("3") && Contains("4"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("a static extent against a dynamic one") {
        nf::tensor<T, nf::shape<N<>, C<3>, H<>, W<>>> xs({2, 4, 5});
        const std::string what = extent_error_message([&] { y = xs + m4; });
        CHECK_THAT(what, Contains("axis C") && Contains("extent 3 on the left") && Contains("4 on the right"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("two layouts disagreeing on W") {
        nf::tensor<T, nhwc> xl({2, 4, 6, 3});
        const std::string what = extent_error_message([&] { y = x - xl; });
        CHECK_THAT(what, Contains("axis W") && Contains("5 on the left") && Contains("6 on the right"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
}

TEMPLATE_TEST_CASE("destination and operand disagree at assignment", "[extent_checks]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 3, 4, 5});
    nf_test::fill_uniform(x, 2, -1, 1);
    channels<T> m{T(1), T(2), T(3)};

    SECTION("tensor destination") {
        nf::tensor<T, nchw> y({2, 3, 7, 5}, sentinel<T>);
        const std::string what = extent_error_message([&] { y = (x - m) * T(2); });
        CHECK_THAT(what, Contains("assignment") && Contains("axis H") && Contains("extent 7 in the destination") &&
                             Contains("4 in an operand") && Contains("nothing was written"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("destination of another layout") {
        nf::tensor<T, nhwc> y({2, 4, 5, 4}, sentinel<T>);
        nf::tensor<T, nhwc> z({2, 4, 5, 3});
        // The operands agree (C = 3), the destination has C = 4.
        const std::string what = extent_error_message([&] { y = z + x; });
        CHECK_THAT(what, Contains("axis C") && Contains("4 in the destination") && Contains("3 in an operand"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("a per-channel operand against the destination") {
        nf::tensor<T, nchw> y({2, 3, 4, 5}, sentinel<T>);
        channels<T> m4{T(1), T(2), T(3), T(4)};
        nf::tensor<T, nf::shape<H<>, W<>>> hw({4, 5});
        // m4 and hw share no axis, so the operator accepts them; the destination has C = 3.
        const std::string what = extent_error_message([&] { y = m4 + hw; });
        CHECK_THAT(what, Contains("axis C") && Contains("3 in the destination") && Contains("4 in an operand"));
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
    SECTION("view destination over user memory") {
        std::vector<T> memory(2 * 3 * 4 * 6, sentinel<T>);
        nf::view<T, nchw> yv(memory.data(), {2, 3, 4, 6});
        const std::string what = extent_error_message([&] { yv = x / m; });
        CHECK_THAT(what, Contains("axis W") && Contains("6 in the destination") && Contains("5 in an operand"));
        CHECK(nf_test::all_equal(yv, sentinel<T>));
    }
    SECTION("a plain copy between layouts") {
        nf::tensor<T, nhwc> y({2, 4, 5, 2}, sentinel<T>);
        CHECK_THROWS_AS(y = x, nf::extent_error);
        CHECK(nf_test::all_equal(y, sentinel<T>));
    }
}

TEMPLATE_TEST_CASE("operands that change extents after the expression was built", "[extent_checks]", float, double) {
    // The operator checked the operands when the expression was built; the assignment checks them
    // again, against each other, since a named tensor can be given new extents in between.
    using T = TestType;
    nf::tensor<T, nchw> a({1, 3, 4, 4}), b({1, 3, 4, 4});
    auto e = a - b;
    a = nf::tensor<T, nchw>({1, 3, 4, 9});
    nf::tensor<T, nchw> y({1, 3, 4, 9}, sentinel<T>);
    const std::string what = extent_error_message([&] { y = e; });
    CHECK_THAT(what, Contains("axis W") && Contains("9") && Contains("4"));
    CHECK(nf_test::all_equal(y, sentinel<T>));
}

TEMPLATE_TEST_CASE("a tensor built from an expression checks its static extents", "[extent_checks]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 4, 1, 1});
    CHECK_THROWS_AS((nf::tensor<T, nf::shape<N<>, C<3>, H<>, W<>>>(x * T(2))), nf::extent_error);
    CHECK_THROWS_WITH((nf::tensor<T, nf::shape<N<>, C<3>, H<>, W<>>>(x * T(2))),
                      Contains("axis C") && Contains("declared with extent 3") && Contains("given 4"));
}
