// Runtime tests of sizes that do not fit (issue 15, defect 4): extents whose element count
// overflows std::size_t, and element counts whose byte count does, are rejected with
// std::length_error before anything is allocated or read: tensors, views, extents, the scratch
// space of an assignment, a reduction over operands broadcast to an iteration space too large to
// count, and the layers' parameters. Before the fix a tensor of (2^32, 2^32) had size() 0 and
// 2^62 + 1 floats allocated 4 bytes.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/scratch.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

namespace {
constexpr std::size_t two32 = std::size_t{1} << 32;
constexpr std::size_t two62 = std::size_t{1} << 62;
constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
using nc = nf::shape<N<>, C<>>;
using ncl = nf::shape<N<>, C<>, L<>>;
using l1 = nf::shape<L<>>;
} // namespace

TEST_CASE("extents whose element count overflows std::size_t are rejected", "[overflow]") {
    // 2^32 * 2^32 = 2^64 wraps to 0.
    CHECK_THROWS_AS((nf::tensor<float, nc>({two32, two32})), std::length_error);
    CHECK_THROWS_AS((nf::extents<nc>({two32, two32})), std::length_error);
    CHECK_THROWS_AS((nf::extents<nc>::from_all({two32, two32})), std::length_error);
    CHECK_THROWS_AS((nf::extents<ncl>({3, two32, two32 / 2})), std::length_error);
    CHECK_THROWS_AS((nf::extents<nc>({size_max, 2})), std::length_error);
    // A zero extent does not excuse the others: strides and slot counts over them would wrap.
    CHECK_THROWS_AS((nf::extents<ncl>({two32, two32, 0})), std::length_error);
    // With a static extent.
    CHECK_THROWS_AS((nf::extents<nf::shape<N<>, C<4>>>({two62})), std::length_error);
    // The message names the extents.
    CHECK_THROWS_WITH((nf::extents<nc>({two32, two32})),
                      Catch::Contains("N=4294967296") && Catch::Contains("overflows"));
    // What still fits.
    CHECK_NOTHROW(nf::extents<nc>({two32, two32 - 1}));
    CHECK(nf::extents<nc>({two32, two32 - 1}).size() == two32 * (two32 - 1));
    CHECK_NOTHROW(nf::extents<nc>({0, 7}));
    CHECK(nf::tensor<float, nc>({0, 3}).size() == 0);
}

TEST_CASE("element counts whose byte count overflows are rejected before allocating", "[overflow]") {
    // 2^62 + 1 floats are 2^64 + 4 bytes: wrapped, 4 bytes were allocated and then filled.
    CHECK_THROWS_AS((nf::tensor<float, l1>(nf::extents<l1>::from_all({two62 + 1}))), std::length_error);
    CHECK_THROWS_AS((nf::tensor<double, l1>(nf::extents<l1>::from_all({two62}))), std::length_error);
    // 2^61 floats fit in std::size_t bytes but not in std::ptrdiff_t: no array can be that large.
    CHECK_THROWS_AS((nf::tensor<float, l1>(nf::extents<l1>::from_all({two62 / 2}))), std::length_error);
    CHECK_THROWS_AS((nf::tensor<float, nc>({two32, two32 / 4})), std::length_error);
}

TEST_CASE("views whose extents overflow are rejected", "[overflow]") {
    std::vector<float> memory(16);
    CHECK_THROWS_AS((nf::view<float, nc>(memory.data(), {two32, two32})), std::length_error);
    CHECK_THROWS_AS((nf::view<const float, nc>(memory.data(), {two32, two32})), std::length_error);
    // The element count fits, the byte count does not.
    CHECK_THROWS_AS((nf::view<float, l1>(memory.data(), {two62 + 1})), std::length_error);
    CHECK_THROWS_AS((nf::view<const double, nc>(nullptr, {two32, two32})), std::length_error);
    CHECK_NOTHROW(nf::view<float, nc>(memory.data(), {4, 4}));
}

TEST_CASE("scratch allocations whose byte count overflows are rejected", "[overflow]") {
    nf::detail::scratch_arena arena;
    // size_max / 4 + 1 doubles wrap to a few bytes.
    CHECK_THROWS_AS(arena.allocate<double>(size_max / 4 + 1), std::length_error);
    CHECK_THROWS_AS(arena.allocate<float>(size_max), std::length_error);
    CHECK_THROWS_AS(arena.allocate<double>(two62), std::length_error);
    double* p = arena.allocate<double>(8);
    REQUIRE(p != nullptr);
    p[7] = 1.0; // usable
    CHECK(arena.allocate<double>(0) == nullptr);
}

TEST_CASE("a reduction over broadcast operands too many to count is rejected, nothing written", "[overflow]") {
    // x over N and y over C, each 2^32 long (views that are never read: the check comes first):
    // their product spans 2^64 values, whose count wraps to 0 and whose sum came out as 0.
    std::vector<float> memory(1, 1.0f);
    const nf::view<const float, nf::shape<N<>>> x(memory.data(), {two32});
    const nf::view<const float, nf::shape<C<>>> y(memory.data(), {two32});
    nf::tensor<float, nf::shape<L<>>> out(nf::extents<nf::shape<L<>>>::from_all({3}), 5.0f);
    CHECK_THROWS_AS((out = nf::sum<N, C>(x * y)), std::length_error);
    CHECK_THROWS_AS((out = nf::mean<N, C>(x * y)), std::length_error);
    CHECK_THROWS_AS((out = nf::var<N, C>(x * y)), std::length_error);
    for (float v : out) CHECK(v == 5.0f);
}

TEST_CASE("layer parameters whose size overflows are rejected", "[overflow]") {
    CHECK_THROWS_AS(nf::nn::batch_norm2d<float>(two62 + 1), std::length_error);
    CHECK_THROWS_AS(nf::nn::instance_norm2d<float>(two62 + 1, {.affine = true}), std::length_error);
    CHECK_THROWS_AS(nf::nn::group_norm<float>(1, two62 + 1), std::length_error);
    CHECK_THROWS_AS((nf::nn::layer_norm<float, nf::shape<H<>, W<>>>({two32, two32})), std::length_error);
    CHECK_THROWS_AS((nf::nn::layer_norm<float, nf::shape<W<>>>({two62 + 1})), std::length_error);
    CHECK_THROWS_AS((nf::nn::rms_norm<float, nf::shape<H<>, W<>>>({two32, two32})), std::length_error);
}
