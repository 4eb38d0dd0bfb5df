// Runtime tests with odd extents: every extent in {1, 3, 17, 255} appears, so that total sizes are
// rarely a multiple of the SIMD width and every run has tails; channels-last layouts with C = 3,
// 17 and 255 exercise the periodic (tiled) reading of per-channel operands, including tiles too
// large for the assignment's stack scratch space.
#include <catch2/catch.hpp>

#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/per_channel.hpp"
#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::at;
using nf_test::check_per_channel;
using nf_test::named_index;
using nf_test::per_channel;

namespace {
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
} // namespace

TEMPLATE_TEST_CASE("odd extents: NCHW, NHWC and conversions between them", "[odd]", float, double) {
    using T = TestType;
    const std::size_t n = GENERATE(1, 3);
    const std::size_t c = GENERATE(1, 3, 17);
    const std::size_t h = GENERATE(1, 3);
    const std::size_t w = GENERATE(1, 3, 17, 255);
    CAPTURE(n, c, h, w);
    const per_channel<T> p(c);

    nf::tensor<T, nchw> x({n, c, h, w}), y({n, c, h, w});
    nf::tensor<T, nhwc> xl({n, h, w, c}), yl({n, h, w, c});
    nf_test::fill_uniform(x, n * 1000 + c * 100 + h * 10 + w, -3, 3);
    xl = x;
    REQUIRE(nf_test::same_values(xl, x));

    check_per_channel(x, y, p);   // NCHW
    check_per_channel(xl, yl, p); // NHWC: per-channel values repeat with period C along the run
    check_per_channel(x, yl, p);  // NCHW data into NHWC: gathered reads
    check_per_channel(xl, y, p);  // NHWC data into NCHW
}

TEMPLATE_TEST_CASE("odd extents: many channels in channels-last layouts", "[odd]", float, double) {
    // C = 255 channels-last: the per-channel tile spans lcm(SIMD width, 255) elements (4080 floats,
    // 16 KB); two such operands exceed the 16 KB of stack scratch and spill to the heap.
    using T = TestType;
    const std::size_t c = GENERATE(17, 255);
    const std::size_t w = GENERATE(1, 3, 17);
    CAPTURE(c, w);
    const per_channel<T> p(c);
    SECTION("NHWC") {
        nf::tensor<T, nhwc> x({3, 1, w, c}), y({3, 1, w, c});
        nf_test::fill_uniform(x, 7 * c + w, -3, 3);
        check_per_channel(x, y, p);
    }
    SECTION("NC") {
        nf::tensor<T, nf::shape<N<>, C<>>> x({w, c}), y({w, c});
        nf_test::fill_uniform(x, 9 * c + w, -3, 3);
        check_per_channel(x, y, p);
    }
    SECTION("NLC (sequence data, channels last)") {
        nf::tensor<T, nf::shape<N<>, L<>, C<>>> x({2, w, c}), y({2, w, c});
        nf_test::fill_uniform(x, 11 * c + w, -3, 3);
        check_per_channel(x, y, p);
    }
}

TEMPLATE_TEST_CASE("odd extents: an (H, W) operand repeating along NCHW and NHWC", "[odd]", float, double) {
    using T = TestType;
    const std::size_t h = GENERATE(1, 17);
    const std::size_t w = GENERATE(3, 255);
    CAPTURE(h, w);
    nf::tensor<T, nf::shape<H<>, W<>>> q({h, w});
    nf_test::fill_uniform(q, 5, -1, 1);
    nf::tensor<T, nchw> x({3, 3, h, w}), y({3, 3, h, w});
    nf::tensor<T, nhwc> yl({3, h, w, 3});
    nf_test::fill_uniform(x, 6, -1, 1);
    auto expected = [&](const named_index& i) { return static_cast<T>(at(x, i) - at(q, i)); };
    y = x - q;
    CHECK(nf_test::exact(y, expected));
    yl = x - q;
    CHECK(nf_test::exact(yl, expected));
}

TEMPLATE_TEST_CASE("odd extents: sizes below one SIMD batch, unaligned views", "[odd]", float, double) {
    using T = TestType;
    const std::size_t w = GENERATE(1, 3);
    CAPTURE(w);
    const per_channel<T> p(1);
    // One element past aligned storage, every size below a batch.
    nf::tensor<T, nf::shape<W<>>> in_block(nf::extents<nf::shape<W<>>>({w + 1}));
    nf::tensor<T, nf::shape<W<>>> out_block(nf::extents<nf::shape<W<>>>({w + 1}));
    nf_test::fill_uniform(in_block, 3, -3, 3);
    nf::view<T, nf::shape<C<>, W<>>> x(in_block.data() + 1, {1, w}), y(out_block.data() + 1, {1, w});
    check_per_channel(x, y, p);
}

TEMPLATE_TEST_CASE("odd extents: an extent of zero writes nothing", "[odd]", float, double) {
    using T = TestType;
    const per_channel<T> p(3);
    nf::tensor<T, nchw> x({0, 3, 17, 255}), y({0, 3, 17, 255});
    y = (x - p.m) / p.s;
    CHECK(y.size() == 0);
    nf::tensor<T, nhwc> xl({2, 3, 0, 3}), yl({2, 3, 0, 3});
    yl = (xl - p.m) / p.s;
    CHECK(yl.size() == 0);
}
