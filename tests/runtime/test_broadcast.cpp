// Runtime tests of broadcasting by axis name: per-channel operands over C against NCHW, NHWC,
// NCL, NC, NCDHW and CHW; operands and destinations of different layouts; (N, C) and (H, W)
// operands. Expected values come from plain index math by axis name (tests/support/reference.hpp).
//
// (x - m) / s is compared BIT FOR BIT with the same two float operations done one by one: a
// subtraction and a true division are correctly rounded, so any difference is a wrong element
// (a broadcasting or layout error), never rounding.
#include <catch2/catch.hpp>

#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/per_channel.hpp"
#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::at;
using nf_test::named_index;
using nf_test::ref;

using nf_test::channels;
using nf_test::check_per_channel;
using nf_test::per_channel;

TEMPLATE_TEST_CASE("per-channel operands broadcast over every layout that has C", "[broadcast]", float, double) {
    using T = TestType;
    SECTION("NCHW") {
        using S = nf::shape<N<>, C<3>, H<>, W<>>;
        nf::tensor<T, S> x({2, 4, 5}), y({2, 4, 5});
        nf_test::fill_uniform(x, 1, -3, 3);
        check_per_channel(x, y, per_channel<T>(3));
    }
    SECTION("NHWC") {
        using S = nf::shape<N<>, H<>, W<>, C<3>>;
        nf::tensor<T, S> x({2, 4, 5}), y({2, 4, 5});
        nf_test::fill_uniform(x, 2, -3, 3);
        check_per_channel(x, y, per_channel<T>(3));
    }
    SECTION("NCL with 17 channels") {
        using S = nf::shape<N<>, C<>, L<>>;
        nf::tensor<T, S> x({2, 17, 9}), y({2, 17, 9});
        nf_test::fill_uniform(x, 3, -3, 3);
        check_per_channel(x, y, per_channel<T>(17));
    }
    SECTION("NC with 17 channels") {
        using S = nf::shape<N<>, C<>>;
        nf::tensor<T, S> x({5, 17}), y({5, 17});
        nf_test::fill_uniform(x, 4, -3, 3);
        check_per_channel(x, y, per_channel<T>(17));
    }
    SECTION("NCDHW") {
        using S = nf::shape<N<>, C<3>, D<>, H<>, W<>>;
        nf::tensor<T, S> x({2, 2, 3, 5}), y({2, 2, 3, 5});
        nf_test::fill_uniform(x, 5, -3, 3);
        check_per_channel(x, y, per_channel<T>(3));
    }
    SECTION("CHW, unbatched") {
        using S = nf::shape<C<3>, H<>, W<>>;
        nf::tensor<T, S> x({4, 5}), y({4, 5});
        nf_test::fill_uniform(x, 6, -3, 3);
        check_per_channel(x, y, per_channel<T>(3));
    }
    SECTION("static C<3> data with a dynamic C<> operand, and the reverse") {
        using S = nf::shape<N<>, C<>, H<>, W<>>;
        nf::tensor<T, S> x({2, 3, 4, 5}), y({2, 3, 4, 5});
        nf_test::fill_uniform(x, 7, -3, 3);
        per_channel<T> p(3);
        nf::tensor<T, nf::shape<C<3>>> m3{p.m(0), p.m(1), p.m(2)};
        y = x - m3;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(x, i) - at(m3, i)); }));
    }
}

TEMPLATE_TEST_CASE("operands and destinations of different layouts", "[broadcast][layout]", float, double) {
    using T = TestType;
    using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
    per_channel<T> p(3);

    SECTION("an NCHW source into an NHWC destination") {
        nf::tensor<T, nchw> x({2, 4, 5});
        nf::tensor<T, nhwc> y({2, 4, 5});
        nf_test::fill_uniform(x, 11, -3, 3);
        y = x; // layout conversion by axis names
        CHECK(nf_test::same_values(y, x));
        check_per_channel(x, y, p);
    }
    SECTION("an NHWC source into an NCHW destination") {
        nf::tensor<T, nhwc> x({2, 4, 5});
        nf::tensor<T, nchw> y({2, 4, 5});
        nf_test::fill_uniform(x, 12, -3, 3);
        y = x;
        CHECK(nf_test::same_values(y, x));
        check_per_channel(x, y, p);
    }
    SECTION("operands of both layouts in one expression, into either layout") {
        nf::tensor<T, nchw> a({2, 4, 5}), y1({2, 4, 5});
        nf::tensor<T, nhwc> b({2, 4, 5}), y2({2, 4, 5});
        nf_test::fill_uniform(a, 13, -3, 3);
        nf_test::fill_uniform(b, 14, -3, 3);
        auto expected = [&](const named_index& i) { return static_cast<T>(at(a, i) - at(b, i)) / at(p.s, i); };
        y1 = (a - b) / p.s;
        CHECK(nf_test::exact(y1, expected));
        y2 = (a - b) / p.s;
        CHECK(nf_test::exact(y2, expected));
    }
    SECTION("a view of NHWC memory as the destination of NCHW data") {
        nf::tensor<T, nchw> x({3, 1, 17});
        nf_test::fill_uniform(x, 15, -3, 3);
        std::vector<T> memory(x.size(), T(0));
        nf::view<T, nhwc> yv(memory.data(), {3, 1, 17});
        check_per_channel(x, yv, p);
    }
}

TEMPLATE_TEST_CASE("operands over (N, C) and over (H, W)", "[broadcast]", float, double) {
    using T = TestType;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    const std::size_t n = 2, c = 3, h = 4, w = 5;

    nf::tensor<T, nf::shape<N<>, C<>>> a_nc({n, c});
    nf::tensor<T, nf::shape<H<>, W<>>> p_hw({h, w});
    nf::tensor<T, nf::shape<W<>, H<>>> p_wh({w, h}); // the same axes, transposed
    nf_test::fill_uniform(a_nc, 21, -2, 2);
    nf_test::fill_uniform(p_hw, 22, -2, 2);
    nf_test::fill_uniform(p_wh, 23, -2, 2);

    auto run = [&](auto& x, auto& y) {
        nf_test::fill_uniform(x, 24, -3, 3);
        y = x - a_nc;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(x, i) - at(a_nc, i)); }));
        y = x * p_hw;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(x, i) * at(p_hw, i)); }));
        y = p_wh - x;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(p_wh, i) - at(x, i)); }));
        // Neither operand has every axis: (N, C) + (H, W) spans (N, C, H, W).
        y = a_nc + p_hw;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(a_nc, i) + at(p_hw, i)); }));
        y = p_wh + a_nc;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(p_wh, i) + at(a_nc, i)); }));
    };
    SECTION("NCHW") {
        nf::tensor<T, nchw> x({n, c, h, w}), y({n, c, h, w});
        run(x, y);
    }
    SECTION("NHWC") {
        nf::tensor<T, nhwc> x({n, h, w, c}), y({n, h, w, c});
        run(x, y);
    }
    SECTION("NCHW data into NHWC") {
        nf::tensor<T, nchw> x({n, c, h, w});
        nf::tensor<T, nhwc> y({n, h, w, c});
        run(x, y);
    }
}

TEMPLATE_TEST_CASE("broadcasting is by name only: an extent of 1 is not stretched", "[broadcast]", float, double) {
    // Unlike NumPy, a C axis of extent 1 is an axis like any other: against C = 3 it is a
    // mismatch. (Broadcasting happens along axes an operand does not have.)
    using T = TestType;
    nf::tensor<T, nf::shape<N<>, C<>, H<>, W<>>> x({1, 3, 2, 2});
    channels<T> one{T(1)};
    CHECK_THROWS_AS(x - one, nf::extent_error);
}
