// Runtime tests of nf::tensor and nf::view: construction, extents, element access, alignment,
// views over unaligned and const memory, and the run-time checks of their constructors.
#include <catch2/catch.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <normfuse/core/io.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
using Catch::Matchers::Contains;

namespace {
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
using nchw_dyn = nf::shape<N<>, C<>, H<>, W<>>;

bool aligned_64(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
}
} // namespace

TEMPLATE_TEST_CASE("tensor: static and dynamic extents", "[tensor]", float, double) {
    nf::tensor<TestType, nchw> x({2, 5, 7});
    CHECK(x.rank == 4);
    CHECK(x.template extent<N<>>() == 2);
    CHECK(x.template extent<C<>>() == 3);
    CHECK(x.template extent<C<3>>() == 3); // any tag of the axis names it
    CHECK(x.template extent<H<>>() == 5);
    CHECK(x.template extent<W<>>() == 7);
    CHECK(x.extent(0) == 2);
    CHECK(x.extent(1) == 3);
    CHECK(x.extent(3) == 7);
    CHECK(x.size() == 2 * 3 * 5 * 7);
    CHECK(x.extents().size() == x.size());
    CHECK(std::vector<TestType>(x.begin(), x.end()) == std::vector<TestType>(x.size(), TestType(0)));

    SECTION("every extent may be given, static ones must match") {
        nf::tensor<TestType, nchw> y({2, 3, 5, 7});
        CHECK(y.extents() == x.extents());
        CHECK_THROWS_AS((nf::tensor<TestType, nchw>({2, 4, 5, 7})), nf::extent_error);
        CHECK_THROWS_WITH((nf::tensor<TestType, nchw>({2, 4, 5, 7})),
                          Contains("axis C") && Contains("declared with extent 3") && Contains("given 4"));
    }
    SECTION("a wrong number of dynamic extents throws") {
        CHECK_THROWS_AS((nf::tensor<TestType, nchw>({2, 5})), nf::extent_error);
        CHECK_THROWS_WITH((nf::tensor<TestType, nchw>({2, 5})),
                          Contains("3 dynamic axes") && Contains("2 extents were given"));
        CHECK_THROWS_AS((nf::tensor<TestType, nchw>({2, 5, 7, 1, 1})), nf::extent_error);
    }
    SECTION("the fill constructor") {
        nf::tensor<TestType, nchw> f(nf::extents<nchw>({1, 2, 3}), TestType(1.5));
        CHECK(f.size() == 6 * 3);
        CHECK(nf_test::all_equal(f, TestType(1.5)));
    }
    SECTION("a fully static tensor is sized by its type") {
        nf::tensor<TestType, nf::shape<C<3>, H<4>, W<5>>> s;
        CHECK(s.size() == 60);
        CHECK(nf_test::all_equal(s, TestType(0)));
    }
    SECTION("a default tensor with dynamic axes is empty") {
        nf::tensor<TestType, nchw> e;
        CHECK(e.size() == 0);
        CHECK(e.template extent<N<>>() == 0);
        CHECK(e.template extent<C<>>() == 3);
    }
    SECTION("zero extents are allowed") {
        nf::tensor<TestType, nchw> z({0, 4, 4});
        CHECK(z.size() == 0);
        nf::tensor<TestType, nchw> y({0, 4, 4});
        y = z * TestType(2); // nothing to do, nothing to crash
        CHECK(y.size() == 0);
    }
}

TEMPLATE_TEST_CASE("tensor: rank-1 tensors from initializer lists", "[tensor]", float, double) {
    using T = TestType;
    nf::tensor<T, nf::shape<C<3>>> m{T(0.5), T(-1), T(2)};
    CHECK(m.size() == 3);
    CHECK(m(0) == T(0.5));
    CHECK(m(1) == T(-1));
    CHECK(m(2) == T(2));

    nf::tensor<T, nf::shape<C<>>> d{T(1), T(2), T(3), T(4), T(5)};
    CHECK(d.template extent<C<>>() == 5);
    CHECK(d(4) == T(5));

    // A static extent must match the number of values.
    CHECK_THROWS_AS((nf::tensor<T, nf::shape<C<3>>>{T(1), T(2)}), nf::extent_error);
    CHECK_THROWS_WITH((nf::tensor<T, nf::shape<C<3>>>{T(1), T(2), T(3), T(4)}),
                      Contains("axis C") && Contains("declared with extent 3") && Contains("given 4"));
}

TEMPLATE_TEST_CASE("tensor: element access is row-major in axis order", "[tensor]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 5, 7});
    for (std::size_t k = 0; k < x.size(); ++k) x.data()[k] = T(k);
    bool all = true;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t h = 0; h < 5; ++h)
                for (std::size_t w = 0; w < 7; ++w) all = all && x(n, c, h, w) == T(((n * 3 + c) * 5 + h) * 7 + w);
    CHECK(all);

    x(1, 2, 4, 6) = T(-1);
    CHECK(x.data()[x.size() - 1] == T(-1));
    const auto& cx = x;
    CHECK(cx(1, 2, 4, 6) == T(-1));
    CHECK(cx(0, 1, 0, 0) == T(35));
}

TEMPLATE_TEST_CASE("tensor: storage is 64-byte aligned, copies are deep", "[tensor]", float, double) {
    using T = TestType;
    for (std::size_t w : {1u, 3u, 17u, 255u}) {
        nf::tensor<T, nchw> x({1, 1, w});
        CAPTURE(w);
        CHECK(aligned_64(x.data()));
        nf_test::fill_uniform(x, w, -1, 1);

        nf::tensor<T, nchw> copy = x;
        CHECK(aligned_64(copy.data()));
        CHECK(copy.data() != x.data());
        CHECK(nf_test::same_values(copy, x));

        nf::tensor<T, nchw> assigned({2, 2, 2});
        assigned = x; // copy assignment takes the extents and the values
        CHECK(assigned.extents() == x.extents());
        CHECK(aligned_64(assigned.data()));
        CHECK(nf_test::same_values(assigned, x));

        copy(0, 0, 0, 0) = T(42);
        CHECK(x(0, 0, 0, 0) != T(42));
    }
}

TEMPLATE_TEST_CASE("tensor: a moved-from tensor stays consistent", "[tensor][bug]", float, double) {
    // A moved-from object must stay valid: at least assignable and destructible. Its extents and
    // its storage have to agree, else the next assignment writes through a null pointer.
    using T = TestType;
    nf::tensor<T, nchw> a({2, 2, 2});
    nf_test::fill_uniform(a, 1, -1, 1);
    nf::tensor<T, nchw> b = std::move(a);
    CHECK(b.size() == 24);
    CHECK(a.size() == a.extents().size());

    nf::tensor<T, nchw> c({1, 1, 1});
    c = std::move(b);
    CHECK(c.size() == 24);
    CHECK(b.size() == b.extents().size());

    if (a.size() == a.extents().size()) { // only then is it safe to write into it
        nf::tensor<T, nchw> src(a.extents(), T(3));
        a = src * T(2);
        CHECK(nf_test::all_equal(a, T(6)));
    }
}

TEMPLATE_TEST_CASE("tensor: a rank-0 tensor holds one value and broadcasts everywhere", "[tensor]", float, double) {
    using T = TestType;
    nf::tensor<T, nf::shape<>> s;
    CHECK(s.size() == 1);
    s = T(3);
    nf::tensor<T, nchw> x({2, 2, 3}), y({2, 2, 3});
    nf_test::fill_uniform(x, 2, -1, 1);
    y = x * s;
    CHECK(nf_test::exact(y, [&](const nf_test::named_index& i) { return nf_test::at(x, i) * T(3); }));
    s = s * T(2) - T(1); // a rank-0 destination
    CHECK(s.data()[0] == T(5));
}

TEMPLATE_TEST_CASE("tensor: printing names the axes", "[tensor]", float, double) {
    nf::tensor<TestType, nf::shape<C<2>, W<>>> x({3});
    std::ostringstream os;
    os << x;
    CHECK_THAT(os.str(), Contains("C=2") && Contains("W=3"));
}

TEMPLATE_TEST_CASE("view: over user memory, writes go through", "[view]", float, double) {
    using T = TestType;
    std::vector<T> buffer(2 * 3 * 4 * 5, T(0));
    nf::view<T, nchw> v(buffer.data(), {2, 4, 5});
    CHECK(v.data() == buffer.data());
    CHECK(v.size() == buffer.size());
    CHECK(v.template extent<H<>>() == 4);
    CHECK(v.extent(3) == 5);

    v(1, 2, 3, 4) = T(7);
    CHECK(buffer.back() == T(7));
    CHECK(v(1, 2, 3, 4) == T(7));

    v = T(2); // every element
    CHECK(std::all_of(buffer.begin(), buffer.end(), [](T e) { return e == T(2); }));

    SECTION("every extent given, static ones checked") {
        nf::view<T, nchw> all(buffer.data(), {2, 3, 4, 5});
        CHECK(all.extents() == v.extents());
        CHECK_THROWS_AS((nf::view<T, nchw>(buffer.data(), {2, 1, 4, 5})), nf::extent_error);
    }
    SECTION("a wrong number of dynamic extents throws") {
        CHECK_THROWS_AS((nf::view<T, nchw>(buffer.data(), {2, 4})), nf::extent_error);
        CHECK_THROWS_WITH((nf::view<T, nchw>(buffer.data(), {2, 4})), Contains("3 dynamic axes"));
    }
    SECTION("a fully static view needs only the pointer") {
        nf::view<T, nf::shape<C<3>, H<4>, W<10>>> s(buffer.data());
        CHECK(s.size() == 120);
    }
    SECTION("assigning a view to a view copies elements, not the pointer") {
        std::vector<T> other(buffer.size());
        nf_test::random_stream rng(3);
        for (auto& e : other) e = T(rng.uniform(-1, 1));
        nf::view<T, nchw> o(other.data(), {2, 4, 5});
        v = o;
        CHECK(v.data() == buffer.data());
        CHECK(buffer == other);
    }
}

TEMPLATE_TEST_CASE("view: a null pointer with elements throws", "[view]", float, double) {
    using T = TestType;
    CHECK_THROWS_AS((nf::view<T, nchw>(nullptr, {1, 2, 2})), nf::extent_error);
    CHECK_THROWS_WITH((nf::view<T, nchw>(nullptr, {1, 2, 2})), Contains("null pointer") && Contains("12"));
    CHECK_THROWS_AS((nf::view<const T, nchw>(nullptr, {1, 1, 1})), nf::extent_error);
    // With no elements there is nothing to point at.
    CHECK_NOTHROW((nf::view<T, nchw>(nullptr, {0, 2, 2})));
    CHECK_NOTHROW((nf::view<T, nchw>(nullptr, {2, 0, 2})));
}

TEMPLATE_TEST_CASE("view: unaligned memory as source and destination", "[view]", float, double) {
    // One element past a 64-byte aligned block: misaligned for every SIMD width.
    using T = TestType;
    const std::size_t n = 2, h = 3, w = 17, size = n * 3 * h * w;
    nf::tensor<T, nf::shape<W<>>> in_block(nf::extents<nf::shape<W<>>>({size + 1}));
    nf::tensor<T, nf::shape<W<>>> out_block(nf::extents<nf::shape<W<>>>({size + 1}), T(-7));
    nf_test::fill_uniform(in_block, 11, -2, 2);
    T* in = in_block.data() + 1;
    T* out = out_block.data() + 1;
    REQUIRE(reinterpret_cast<std::uintptr_t>(in) % 64 == sizeof(T));

    nf::view<T, nchw> xv(in, {n, h, w}), yv(out, {n, h, w});
    nf::tensor<T, nf::shape<C<3>>> g{T(0.5), T(-2), T(4)};
    yv = xv * g - T(1);

    CHECK(nf_test::near(
        yv,
        [&](const nf_test::named_index& i) {
            const double p = nf_test::ref(xv, i) * nf_test::ref(g, i);
            return nf_test::ref_value{p - 1, std::abs(p) + 1};
        },
        2));
    // The element before the view is untouched.
    CHECK(out_block.data()[0] == T(-7));

    // An NHWC view at an odd address, converted from the unaligned NCHW view.
    std::vector<T> nhwc_buffer(size + 1, T(0));
    nf::view<T, nf::shape<N<>, H<>, W<>, C<3>>> zv(nhwc_buffer.data() + 1, {n, h, w});
    zv = xv;
    CHECK(nf_test::same_values(zv, xv));
    CHECK(nhwc_buffer[0] == T(0));
}

TEMPLATE_TEST_CASE("view: const views read and convert", "[view]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({1, 2, 3});
    nf_test::fill_uniform(x, 5, -1, 1);
    const std::vector<T> data(x.begin(), x.end());

    nf::view<const T, nchw> cv(data.data(), {1, 2, 3});
    CHECK(cv(0, 2, 1, 2) == x(0, 2, 1, 2));

    nf::view<T, nchw> mv = x.as_view();
    nf::view<const T, nchw> from_mutable = mv; // mutable converts to const
    CHECK(from_mutable.data() == x.data());

    const auto& cx = x;
    nf::view<const T, nchw> from_const_tensor = cx.as_view();
    CHECK(from_const_tensor.data() == x.data());
    nf::view<const T, nchw> converted = cx; // implicit conversion of a const tensor
    CHECK(converted.data() == x.data());

    // A const view is an operand like any other.
    nf::tensor<T, nchw> y({1, 2, 3});
    y = cv * T(2);
    CHECK(nf_test::exact(y, [&](const nf_test::named_index& i) { return static_cast<T>(nf_test::ref(x, i) * 2); }));
}
