// Runtime tests of expressions stored with `auto` and assigned later: named tensors are held by
// reference (later changes are seen), temporaries are kept alive inside the expression, views are
// copied. The sanitizer build (ASan + UBSan) turns any dangling reference here into a failure.
// Also: in-place assignment, where the destination is an operand.
#include <catch2/catch.hpp>

#include <cstdint>
#include <utility>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::at;
using nf_test::named_index;
using nf_test::ref;

namespace {

using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
template <class T>
using per_c = nf::tensor<T, nf::shape<C<3>>>;

/// (x - m) / s, done one float operation at a time.
template <class T, class X, class M, class S>
auto normalized(const X& x, const M& m, const S& s) {
    return [&](const named_index& i) {
        const T d = at(x, i) - at(m, i);
        return d / at(s, i);
    };
}

/// Builds an expression whose per-channel operands are temporaries created (and, as named
/// objects, destroyed) inside this function.
template <class T, class X>
auto centered_and_scaled(const X& x) {
    return (x - per_c<T>{T(0.25), T(-0.5), T(1)}) * per_c<T>{T(2), T(4), T(-8)};
}

} // namespace

TEMPLATE_TEST_CASE("a stored expression is evaluated when assigned", "[stored]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 3, 17}), y({2, 3, 17});
    per_c<T> mean{T(0.45), T(0.52), T(0.48)}, stdev{T(0.23), T(0.236), T(0.24)};
    nf_test::fill_uniform(x, 1, 0, 1);

    auto e = (x - mean) / stdev;
    y = e;
    CHECK(nf_test::exact(y, normalized<T>(x, mean, stdev)));

    SECTION("named tensors are held by reference: later changes are seen") {
        nf_test::fill_uniform(x, 2, -5, 5);
        mean(1) = T(-3);
        stdev(2) = T(7);
        y = e;
        CHECK(nf_test::exact(y, normalized<T>(x, mean, stdev)));
    }
    SECTION("even a change of extents is seen") {
        x = nf::tensor<T, nchw>({1, 4, 5});
        nf_test::fill_uniform(x, 3, -1, 1);
        nf::tensor<T, nchw> z({1, 4, 5});
        z = e;
        CHECK(nf_test::exact(z, normalized<T>(x, mean, stdev)));
    }
    SECTION("one expression, several destinations and layouts") {
        nf::tensor<T, nhwc> yl({2, 3, 17});
        yl = e;
        CHECK(nf_test::exact(yl, normalized<T>(x, mean, stdev)));
        nf::tensor<T, nchw> constructed = e; // extents deduced from the expression
        CHECK(constructed.extents() == x.extents());
        CHECK(nf_test::exact(constructed, normalized<T>(x, mean, stdev)));
        nf::tensor<T, nhwc> constructed_nhwc = e;
        CHECK(nf_test::exact(constructed_nhwc, normalized<T>(x, mean, stdev)));
    }
    SECTION("a stored expression is an operand of further expressions") {
        auto f = e * e + e;
        y = f;
        // (e * e) + e: 2 steps after the bit-exact e; bound |e|^2 + |e|.
        CHECK(nf_test::near(
            y,
            [&](const named_index& i) {
                const double v = static_cast<double>(normalized<T>(x, mean, stdev)(i));
                return nf_test::ref_value{v * v + v, v * v + std::abs(v)};
            },
            2));
    }
}

TEMPLATE_TEST_CASE("temporaries inside a stored expression outlive their statement", "[stored]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({2, 3, 5}), y({2, 3, 5});
    nf_test::fill_uniform(x, 4, -2, 2);
    const per_c<T> m{T(0.25), T(-0.5), T(1)}, g{T(2), T(4), T(-8)};
    // (x - m) * g with g a power of two: exact.
    auto expected = [&](const named_index& i) { return static_cast<T>((at(x, i) - at(m, i)) * at(g, i)); };

    SECTION("a temporary tensor in the statement that stores the expression") {
        auto e = (x - per_c<T>{T(0.25), T(-0.5), T(1)}) * T(2);
        // The temporary is gone; its values live on inside e. Overwrite the stack and heap it used.
        std::vector<T> churn(4096, T(-99));
        per_c<T> other{T(9), T(9), T(9)};
        (void)churn;
        (void)other;
        y = e;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>((at(x, i) - at(m, i)) * T(2)); }));
    }
    SECTION("temporaries created in a function that returns the expression") {
        auto e = centered_and_scaled<T>(x);
        y = e;
        CHECK(nf_test::exact(y, expected));
        // Copies and moves of the expression own copies of the temporaries.
        auto copy = e;
        {
            auto moved = std::move(e);
            y = moved;
            CHECK(nf_test::exact(y, expected));
        }
        y = copy;
        CHECK(nf_test::exact(y, expected));
    }
    SECTION("a temporary data tensor is a snapshot, a named one is not") {
        auto snapshot = nf::tensor<T, nchw>(x) * T(2);
        auto live = x * T(2);
        const nf::tensor<T, nchw> before = x;
        nf_test::fill_uniform(x, 5, -2, 2);
        y = snapshot;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(before, i) * T(2)); }));
        y = live;
        CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(x, i) * T(2)); }));
    }
    SECTION("a stored expression outlives the scope in which it was built") {
        auto make = [&] {
            const per_c<T> local_g{T(2), T(4), T(-8)};
            return (x - m) * nf::tensor<T, nf::shape<C<3>>>(local_g); // a copy: local_g dies here
        };
        auto e = make();
        y = e;
        CHECK(nf_test::exact(y, expected));
    }
}

TEMPLATE_TEST_CASE("views in a stored expression are copied, the memory is read at assignment", "[stored]", float,
                   double) {
    using T = TestType;
    std::vector<T> memory(2 * 3 * 4 * 5);
    nf::view<T, nchw> xv(memory.data(), {2, 4, 5});
    nf::tensor<T, nchw> y({2, 4, 5});
    const per_c<T> m{T(1), T(2), T(3)};
    nf_test::fill_uniform(xv, 6, -1, 1);

    auto e = [&] {
        nf::view<const T, nchw> local(memory.data(), {2, 4, 5}); // the view object itself dies here
        return local - m;
    }();
    y = e;
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(xv, i) - at(m, i)); }));
    nf_test::fill_uniform(xv, 7, -1, 1);
    y = e;
    CHECK(nf_test::exact(y, [&](const named_index& i) { return static_cast<T>(at(xv, i) - at(m, i)); }));
}

// --- In place -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("in place: x = (x - mean) / std", "[in_place]", float, double) {
    using T = TestType;
    const per_c<T> mean{T(0.45), T(0.52), T(0.48)}, stdev{T(0.23), T(0.236), T(0.24)};
    const std::size_t w = GENERATE(1, 17, 255);
    CAPTURE(w);

    SECTION("NCHW tensor") {
        nf::tensor<T, nchw> x({2, 3, w});
        nf_test::fill_uniform(x, 8, 0, 1);
        const nf::tensor<T, nchw> before = x;
        x = (x - mean) / stdev;
        CHECK(nf_test::exact(x, normalized<T>(before, mean, stdev)));
    }
    SECTION("NHWC tensor") {
        nf::tensor<T, nhwc> x({2, 3, w});
        nf_test::fill_uniform(x, 9, 0, 1);
        const nf::tensor<T, nhwc> before = x;
        x = (x - mean) / stdev;
        CHECK(nf_test::exact(x, normalized<T>(before, mean, stdev)));
    }
    SECTION("view over unaligned memory, NCHW and NHWC") {
        std::vector<T> memory(2 * 3 * 3 * w + 1);
        nf::view<T, nchw> v(memory.data() + 1, {2, 3, w});
        nf_test::fill_uniform(v, 10, 0, 1);
        const nf::tensor<T, nchw> before = nf::tensor<T, nchw>(v - T(0));
        v = (v - mean) / stdev;
        CHECK(nf_test::exact(v, normalized<T>(before, mean, stdev)));

        nf::view<T, nhwc> vl(memory.data() + 1, {2, 3, w});
        const nf::tensor<T, nhwc> before_l = nf::tensor<T, nhwc>(vl - T(0));
        vl = (vl - mean) / stdev;
        CHECK(nf_test::exact(vl, normalized<T>(before_l, mean, stdev)));
    }
    SECTION("through the tensor's own view") {
        nf::tensor<T, nchw> x({2, 3, w});
        nf_test::fill_uniform(x, 11, 0, 1);
        const nf::tensor<T, nchw> before = x;
        x.as_view() = (x - mean) / stdev;
        CHECK(nf_test::exact(x, normalized<T>(before, mean, stdev)));
    }
}

TEMPLATE_TEST_CASE("in place: the destination appears several times and in hoisted terms", "[in_place]", float,
                   double) {
    using T = TestType;
    const per_c<T> mean{T(0.45), T(0.52), T(0.48)}, stdev{T(0.23), T(0.236), T(0.24)}, gamma{T(1.5), T(-1), T(0.5)},
        beta{T(0.1), T(0.2), T(-0.3)};
    nf::tensor<T, nhwc> x({2, 5, 17});
    nf_test::fill_uniform(x, 12, -2, 2);
    const nf::tensor<T, nhwc> before = x;

    x = x * x + x;
    CHECK(nf_test::near(
        x,
        [&](const named_index& i) {
            const double v = ref(before, i);
            return nf_test::ref_value{v * v + v, v * v + std::abs(v)};
        },
        2));

    nf::tensor<T, nchw> z({2, 5, 17});
    z = before;
    const nf::tensor<T, nchw> z0 = z;
    z = (z - mean) * (gamma / stdev) + beta;
    // gamma / std (1), - (1), * (1), + (1): 4 steps; bound |(z - mean) * a| + |beta|.
    CHECK(nf_test::near(
        z,
        [&](const named_index& i) {
            const double p = (ref(z0, i) - ref(mean, i)) * (ref(gamma, i) / ref(stdev, i));
            return nf_test::ref_value{p + ref(beta, i), std::abs(p) + std::abs(ref(beta, i))};
        },
        4));
}
