// Runtime tests of const inference on every layer: `std::as_const(layer)(x)` and
// `std::as_const(layer).forward(x, y)` compile and give the result of the mutable call in eval
// mode, and leave the layer untouched; a const call that would update running statistics (training
// mode with tracking) throws std::logic_error before anything is written; a mutable eval call
// changes nothing either. Also: the explicit-architecture entry `layer.template forward<Arch>`.
#include <catch2/catch.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/reference.hpp"

using namespace nf::axes;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using X = nf::tensor<float, nchw>;

/// The const calls a layer must offer on a tensor, a view and in place.
template <class L>
concept const_callable = requires(const L& l, const X& x, X& y, nf::view<const float, nchw> xv,
                                  nf::view<float, nhwc> yv) {
    { l(x) } -> std::same_as<X>;
    l.forward(x, y);
    l.forward(xv, yv);
    l(y, nf::nn::in_place);
    l.template forward<xsimd::default_arch>(x, y);
};
static_assert(const_callable<nf::nn::normalize<float>>);
static_assert(const_callable<nf::nn::batch_norm2d<float>>);
static_assert(const_callable<nf::nn::batch_norm2d<float, 3>>);
static_assert(const_callable<nf::nn::instance_norm2d<float>>);
static_assert(const_callable<nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>>>);
static_assert(const_callable<nf::nn::layer_norm<float, nf::shape<W<>>>>);
static_assert(const_callable<nf::nn::group_norm<float>>);
static_assert(const_callable<nf::nn::group_norm<float, 1, 3>>);
static_assert(const_callable<nf::nn::rms_norm<float, nf::shape<C<>>>>);

X data(std::uint64_t seed) {
    X x({2, 3, 4, 5});
    nf_test::fill_uniform(x, seed, -2.0, 3.0);
    return x;
}

bool same_bits(const X& a, const X& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// The layer's result through its mutable and its const calls, which must agree bit for bit
/// (same code), and the const call through a view into a channels-last destination.
template <class L>
void const_matches_mutable(L& layer, const X& x) {
    const X want = layer(x);
    const L& c = layer;
    const X got = c(x);
    CHECK(same_bits(got, want));
    X y(x.extents(), std::numeric_limits<float>::quiet_NaN());
    c.forward(x, y);
    CHECK(same_bits(y, want));
    X z = x;
    c(z, nf::nn::in_place);
    CHECK(same_bits(z, want));
    nf::tensor<float, nhwc> last({2, 4, 5, 3});
    c.forward(x.as_view(), last.as_view());
    CHECK(nf_test::same_values(want, last));
}

} // namespace

TEST_CASE("const layers: the const call equals the mutable one for every stateless layer", "[layers][const]") {
    const X x = data(1);
    nf::nn::normalize<float> norm({0.1, 0.2, 0.3}, {0.5, 2.0, 1.5});
    const_matches_mutable(norm, x);
    nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> ln({3, 4, 5});
    ln.weight()(1, 2, 3) = 2.f;
    const_matches_mutable(ln, x); // training mode: no effect
    nf::nn::layer_norm<float, nf::shape<C<>>> ln_c({3});
    const_matches_mutable(ln_c, x);
    nf::nn::group_norm<float> gn(3, 3);
    gn.bias()(2) = 0.5f;
    const_matches_mutable(gn, x);
    nf::nn::rms_norm<float, nf::shape<W<>>> rms({5});
    const_matches_mutable(rms, x);
    nf::nn::rms_norm<float, nf::shape<C<>>> rms_c({3}, {.elementwise_affine = false});
    const_matches_mutable(rms_c, x);
}

TEST_CASE("const layers: BatchNorm in eval, const or not, changes nothing", "[layers][const]") {
    nf::nn::batch_norm2d<float> bn(3);
    bn(data(2)); // one training step: running statistics away from 0 and 1
    bn(data(3));
    REQUIRE(bn.num_batches_tracked() == 2);
    bn.eval();
    const X x = data(4);
    const std::vector<float> mean(bn.running_mean().begin(), bn.running_mean().end()),
        var(bn.running_var().begin(), bn.running_var().end());
    const_matches_mutable(bn, x);
    CHECK(bn.num_batches_tracked() == 2);
    CHECK(std::vector<float>(bn.running_mean().begin(), bn.running_mean().end()) == mean);
    CHECK(std::vector<float>(bn.running_var().begin(), bn.running_var().end()) == var);

    // Without running statistics the batch's are used in both modes, and nothing is updated: the
    // const call is allowed in training mode too.
    nf::nn::batch_norm2d<float> untracked(3, {.track_running_stats = false});
    REQUIRE(untracked.training());
    const_matches_mutable(untracked, x);
    untracked.eval();
    const_matches_mutable(untracked, x);
}

TEST_CASE("const layers: a const call in training mode with running statistics throws, writes nothing",
          "[layers][const]") {
    const X x = data(5);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    auto check = [&](const auto& layer, const char* what) {
        INFO(what);
        X y(x.extents(), nan);
        CHECK_THROWS_AS(layer.forward(x, y), std::logic_error);
        CHECK(nf_test::all_equal(y, nan));
        CHECK_THROWS_WITH(layer(x), Catch::Contains("const layer in training mode") && Catch::Contains("eval()"));
        X z = x;
        CHECK_THROWS_AS(layer(z, nf::nn::in_place), std::logic_error);
        CHECK(same_bits(z, x));
    };
    nf::nn::batch_norm2d<float> bn(3);
    check(std::as_const(bn), "batch_norm2d");
    CHECK(bn.num_batches_tracked() == 0);
    CHECK(nf_test::all_equal(bn.running_mean(), 0.f));
    CHECK(nf_test::all_equal(bn.running_var(), 1.f));
    nf::nn::instance_norm2d<float> in(3, {.affine = true, .track_running_stats = true});
    check(std::as_const(in), "instance_norm2d");
    CHECK(nf_test::all_equal(in.running_mean(), 0.f));
    // The mutable call in training mode still trains, and eval makes the const call legal.
    bn(x);
    CHECK(bn.num_batches_tracked() == 1);
    bn.eval();
    CHECK_NOTHROW(std::as_const(bn)(x));
    in.eval();
    const_matches_mutable(in, x);
    nf::nn::instance_norm2d<float> plain(3); // no running statistics: instance statistics always
    const_matches_mutable(plain, x);
}

TEST_CASE("const layers: a rejected training call changes neither the output nor the layer", "[layers][const]") {
    // num_batches_tracked is counted after every check passed.
    nf::nn::batch_norm2d<float> bn(3, {.momentum = std::nullopt});
    X wrong({2, 4, 4, 5});
    X y(wrong.extents(), 7.f);
    CHECK_THROWS_AS(bn.forward(wrong, y), nf::extent_error);
    CHECK(bn.num_batches_tracked() == 0);
    CHECK(nf_test::all_equal(bn.running_mean(), 0.f));
    CHECK(nf_test::all_equal(y, 7.f));
    // The first real step then has the factor 1 (momentum=None): the running mean is the batch mean.
    const X x = data(6);
    bn(x);
    CHECK(bn.num_batches_tracked() == 1);
    for (std::size_t c = 0; c < 3; ++c) {
        double s = 0;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t h = 0; h < 4; ++h)
                for (std::size_t w = 0; w < 5; ++w) s += x(n, c, h, w);
        CHECK(std::abs(bn.running_mean()(c) - s / 40) <= 2 * nf_test::epsilon<float> * (1 + std::abs(s / 40)));
    }
}

TEST_CASE("const layers: forward<Arch> with an explicit architecture agrees with the default one", "[layers][const]") {
    // The SSE2 kernels compile in any x86-64 unit. The per-element operations are the same IEEE
    // operations on every ISA; only the order of the double sums of the statistics differs, which
    // moves the float coefficients by at most their rounding: 4 eps of the output scale.
    nf::nn::batch_norm2d<float> bn(3);
    const X x = data(7);
    X a(x.extents()), b(x.extents());
    bn.template forward<xsimd::sse2>(x, a);
    nf::nn::batch_norm2d<float> twin(3);
    twin.template forward<xsimd::default_arch>(x, b);
    CHECK(nf_test::near(
        a, [&](const nf_test::named_index& i) { return nf_test::ref(b, i); }, 4));
    for (std::size_t c = 0; c < 3; ++c)
        CHECK(std::abs(bn.running_mean()(c) - twin.running_mean()(c)) <= nf_test::epsilon<float>);
    bn.eval();
    std::as_const(bn).template forward<xsimd::sse2>(x, a);
    std::as_const(bn).template forward<xsimd::default_arch>(x, b);
    CHECK(nf_test::near(
        a, [&](const nf_test::named_index& i) { return nf_test::ref(b, i); }, 4));
}

TEST_CASE("const layers: per-call scratch never overlaps another live call's on the same thread", "[layers][const]") {
    // A forward run from inside another on one thread (a thread pool that runs queued work while
    // it waits) must not get the scratch the outer call still uses: the thread's buffer is lent to
    // one call at a time, and a second one gets its own.
    using scratch = nf::nn::detail::slot_scratch<float>;
    const std::size_t big = scratch::inline_slots + 1;
    auto range = [](const scratch& s, std::size_t slots) {
        const auto* lo = reinterpret_cast<const unsigned char*>(s.shift);
        const auto* hi = reinterpret_cast<const unsigned char*>(s.offset + slots);
        return std::pair{lo, hi};
    };
    auto disjoint = [](auto a, auto b) { return a.second <= b.first || b.second <= a.first; };
    std::optional<scratch> holder;
    const scratch& outer = holder.emplace(big, big);
    {
        scratch inner(big, big);
        CHECK(disjoint(range(outer, big), range(inner, big)));
        scratch small(4, 4); // on the stack
        CHECK(disjoint(range(outer, big), range(small, 4)));
        CHECK(disjoint(range(inner, big), range(small, 4)));
    }
    // The statistics and coefficients of one scratch do not overlap either, and are aligned.
    CHECK(outer.centered == outer.shift + big);
    CHECK(outer.variance == outer.centered + big);
    CHECK(reinterpret_cast<const unsigned char*>(outer.hi) ==
          reinterpret_cast<const unsigned char*>(outer.variance + big));
    CHECK(outer.offset == outer.scale + big);
    CHECK(reinterpret_cast<std::uintptr_t>(outer.shift) % alignof(double) == 0);
    // Once the outer call ends, the next call borrows the thread's buffer again.
    const double* first = outer.shift;
    holder.reset();
    CHECK(holder.emplace(big, big).shift == first);
}
