// Runtime tests of every error the normalization layers throw (include/normfuse/nn/): its type,
// the PyTorch-derived text of its message, and that nothing changed when it was thrown: the output
// keeps its sentinel values, the running statistics and num_batches_tracked their old values.
// Where PyTorch raises no error (neither affine nor running stats), neither may we.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using Catch::Matchers::Contains;
using nf_layers::to_logical;

namespace {

using nc = nf::shape<N<>, C<>>;
using ncl = nf::shape<N<>, C<>, L<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using chw = nf::shape<C<>, H<>, W<>>;

constexpr float sentinel = -777.25f;

/// Deterministic, non-constant input.
template <class S>
nf::tensor<float, S> input(std::initializer_list<std::size_t> e) {
    nf::tensor<float, S> x{nf::extents<S>(e)};
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>((i * 7919) % 101) / 17.0f - 2.0f;
    return x;
}
template <class S>
nf::tensor<float, S> sentinel_like(const nf::extents<S>& e) {
    return nf::tensor<float, S>(e, sentinel);
}
template <class X>
bool untouched(const X& out) {
    for (std::size_t i = 0; i < out.size(); ++i)
        if (out.data()[i] != sentinel) return false;
    return true;
}

/// Running mean, running var and num_batches_tracked of a tracking layer, to compare before/after.
template <class Layer>
std::vector<double> state_of(Layer& layer) {
    auto s = to_logical(layer.running_mean(), {"C"});
    const auto v = to_logical(layer.running_var(), {"C"});
    s.insert(s.end(), v.begin(), v.end());
    s.push_back(static_cast<double>(layer.num_batches_tracked()));
    return s;
}

/// Gives a tracking layer non-default state, so that "unchanged" is not "still at 0 / 1".
template <class Layer>
void train_once(Layer& layer, std::size_t channels) {
    auto x = input<nchw>({3, channels, 4, 5});
    auto y = sentinel_like(x.extents());
    layer.forward(x, y);
}

} // namespace

TEST_CASE("batch_norm errors: wrong channel count", "[layers][errors]") {
    // BatchNorm2d(3) on [2, 4, 5, 5] (spec 2.7).
    const auto x = input<nchw>({2, 4, 5, 5});
    auto y = sentinel_like(x.extents());

    SECTION("with running stats: running_mean should contain 4 elements not 3, in train and eval") {
        nf::nn::batch_norm2d<float> bn(3);
        train_once(bn, 3);
        REQUIRE(bn.num_batches_tracked() == 1);
        const auto before = state_of(bn);
        for (const bool training : {true, false}) {
            bn.train(training);
            CHECK_THROWS_AS(bn.forward(x, y), nf::extent_error);
            CHECK_THROWS_WITH(bn.forward(x, y), Contains("running_mean should contain 4 elements not 3"));
            CHECK(untouched(y));
            CHECK(state_of(bn) == before);
        }
        // Channels-last input: the same check by name.
        const auto xl = nf_layers::relayout<nhwc>(x);
        auto yl = sentinel_like(xl.extents());
        bn.train();
        CHECK_THROWS_WITH(bn.forward(xl, yl), Contains("running_mean should contain 4 elements not 3"));
        CHECK(untouched(yl));
        CHECK(state_of(bn) == before);
    }
    SECTION("affine without running stats: weight should contain 4 elements not 3") {
        nf::nn::batch_norm2d<float> bn(3, {.track_running_stats = false});
        for (const bool training : {true, false}) {
            bn.train(training);
            CHECK_THROWS_AS(bn.forward(x, y), nf::extent_error);
            CHECK_THROWS_WITH(bn.forward(x, y), Contains("weight should contain 4 elements not 3"));
            CHECK(untouched(y));
            CHECK(bn.num_batches_tracked() == 0);
        }
    }
    SECTION("neither affine nor running stats: no error, num_features is never checked") {
        nf::nn::batch_norm2d<float> bn(3, {.affine = false, .track_running_stats = false});
        nf::nn::batch_norm2d<float> right(4, {.affine = false, .track_running_stats = false});
        auto want = sentinel_like(x.extents());
        for (const bool training : {true, false}) {
            bn.train(training);
            right.train(training);
            CHECK_NOTHROW(bn.forward(x, y));
            right.forward(x, want);
            CHECK(to_logical(y, {"N", "C", "H", "W"}) == to_logical(want, {"N", "C", "H", "W"}));
        }
    }
}

TEST_CASE("batch_norm errors: one value per channel", "[layers][errors]") {
    SECTION("training on [1, 16], [1, 16, 1], [1, 3, 1, 1] throws and changes nothing") {
        nf::nn::batch_norm1d<float> bn(16);
        const auto before = state_of(bn);
        const auto x = input<nc>({1, 16});
        auto y = sentinel_like(x.extents());
        CHECK_THROWS_AS(bn.forward(x, y), std::invalid_argument);
        CHECK_THROWS_WITH(bn.forward(x, y), Contains("more than 1 value per channel when training") &&
                                                Contains("got input size [N=1, C=16]"));
        CHECK(untouched(y));
        CHECK(state_of(bn) == before);
        CHECK(bn.num_batches_tracked() == 0);

        const auto x3 = input<ncl>({1, 16, 1});
        auto y3 = sentinel_like(x3.extents());
        CHECK_THROWS_WITH(bn.forward(x3, y3),
                          Contains("more than 1 value per channel when training") && Contains("[N=1, C=16, L=1]"));
        CHECK(untouched(y3));
        CHECK(state_of(bn) == before);

        nf::nn::batch_norm2d<float> bn2(3);
        const auto x4 = input<nchw>({1, 3, 1, 1});
        auto y4 = sentinel_like(x4.extents());
        CHECK_THROWS_WITH(bn2.forward(x4, y4),
                          Contains("more than 1 value per channel when training") && Contains("[N=1, C=3, H=1, W=1]"));
        CHECK(untouched(y4));
        CHECK(bn2.num_batches_tracked() == 0);
    }
    SECTION("eval with running stats on [1, C] is fine") {
        nf::nn::batch_norm1d<float> bn(16);
        bn.eval();
        const auto x = input<nc>({1, 16});
        auto y = sentinel_like(x.extents());
        CHECK_NOTHROW(bn.forward(x, y));
        CHECK_FALSE(untouched(y));
        // Fresh running stats (0, 1): y = x / sqrt(1 + eps).
        for (std::size_t c = 0; c < 16; ++c)
            CHECK(y.data()[c] == Approx(x.data()[c] / std::sqrt(1.0 + 1e-5)).epsilon(1e-6));
    }
    SECTION("without running stats, eval uses batch statistics, so [1, C] throws in eval too") {
        nf::nn::batch_norm1d<float> bn(16, {.track_running_stats = false});
        bn.eval();
        const auto x = input<nc>({1, 16});
        auto y = sentinel_like(x.extents());
        CHECK_THROWS_AS(bn.forward(x, y), std::invalid_argument);
        CHECK_THROWS_WITH(bn.forward(x, y), Contains("more than 1 value per channel"));
        CHECK(untouched(y));
    }
    SECTION("N = 1 with spatial size > 1 trains") {
        nf::nn::batch_norm2d<float> bn(3);
        const auto x = input<nchw>({1, 3, 2, 1});
        auto y = sentinel_like(x.extents());
        CHECK_NOTHROW(bn.forward(x, y));
        CHECK(bn.num_batches_tracked() == 1);
    }
}

TEST_CASE("instance_norm errors", "[layers][errors]") {
    SECTION("training with one spatial element: more than 1 spatial element") {
        nf::nn::instance_norm2d<float> in(3, {.affine = true, .track_running_stats = true});
        const auto x = input<nchw>({2, 3, 1, 1});
        auto y = sentinel_like(x.extents());
        const auto before = state_of(in);
        CHECK_THROWS_AS(in.forward(x, y), std::invalid_argument);
        CHECK_THROWS_WITH(in.forward(x, y), Contains("more than 1 spatial element when training") &&
                                                Contains("got input size [N=2, C=3, H=1, W=1]"));
        CHECK(untouched(y));
        CHECK(state_of(in) == before);
        // Eval with running stats does not need instance statistics.
        in.eval();
        CHECK_NOTHROW(in.forward(x, y));
        CHECK(state_of(in) == before);

        // Without running stats the instance statistics are used in eval too.
        nf::nn::instance_norm2d<float> plain(3);
        plain.eval();
        auto y2 = sentinel_like(x.extents());
        CHECK_THROWS_WITH(plain.forward(x, y2), Contains("more than 1 spatial element"));
        CHECK(untouched(y2));

        // Unbatched [C, H, W] = [3, 1, 1].
        const auto xu = input<chw>({3, 1, 1});
        auto yu = sentinel_like(xu.extents());
        CHECK_THROWS_WITH(plain.forward(xu, yu),
                          Contains("more than 1 spatial element") && Contains("[C=3, H=1, W=1]"));
        CHECK(untouched(yu));
    }
    SECTION("wrong channel count: the message counts N * C (weight repeated N times)") {
        // InstanceNorm2d(3, affine=True) on [2, 4, 5, 5] (spec 3).
        const auto x = input<nchw>({2, 4, 5, 5});
        auto y = sentinel_like(x.extents());
        nf::nn::instance_norm2d<float> affine(3, {.affine = true});
        CHECK_THROWS_AS(affine.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(affine.forward(x, y), Contains("weight should contain 8 elements not 6"));
        CHECK(untouched(y));

        nf::nn::instance_norm2d<float> tracking(3, {.track_running_stats = true});
        const auto before = state_of(tracking);
        for (const bool training : {true, false}) {
            tracking.train(training);
            CHECK_THROWS_AS(tracking.forward(x, y), nf::extent_error);
            CHECK_THROWS_WITH(tracking.forward(x, y), Contains("running_mean should contain 8 elements not 6"));
            CHECK(untouched(y));
            CHECK(state_of(tracking) == before);
        }
        nf::nn::instance_norm2d<float> both(3, {.affine = true, .track_running_stats = true});
        CHECK_THROWS_WITH(both.forward(x, y), Contains("running_mean should contain 8 elements not 6"));
        CHECK(untouched(y));

        // Unbatched [4, 5, 5]: N counts as 1.
        const auto xu = input<chw>({4, 5, 5});
        auto yu = sentinel_like(xu.extents());
        CHECK_THROWS_WITH(affine.forward(xu, yu), Contains("weight should contain 4 elements not 3"));
        CHECK(untouched(yu));

        // Neither affine nor tracking: no check, as in PyTorch.
        nf::nn::instance_norm2d<float> neither(3);
        nf::nn::instance_norm2d<float> right(4);
        auto want = sentinel_like(x.extents());
        CHECK_NOTHROW(neither.forward(x, y));
        right.forward(x, want);
        CHECK(to_logical(y, {"N", "C", "H", "W"}) == to_logical(want, {"N", "C", "H", "W"}));
    }
}

TEST_CASE("group_norm errors", "[layers][errors]") {
    SECTION("constructor: num_channels must be divisible by num_groups") {
        CHECK_THROWS_AS((nf::nn::group_norm<float>(4, 6)), std::invalid_argument);
        CHECK_THROWS_WITH((nf::nn::group_norm<float>(4, 6)), Contains("num_channels must be divisible by num_groups"));
        CHECK_THROWS_AS((nf::nn::group_norm<float>(0, 6)), std::invalid_argument);
        // The type's static G and C must agree with the constructor's.
        CHECK_THROWS_AS((nf::nn::group_norm<float, 2, 6>(3, 6)), std::invalid_argument);
        CHECK_THROWS_AS((nf::nn::group_norm<float, 2, 6>(2, 8)), std::invalid_argument);
    }
    SECTION("input: channels not divisible by num_groups") {
        // PyTorch: "Expected number of channels in input to be divisible by num_groups, but got
        // input of shape [2, 6, 4] and num_groups=4".
        nf::nn::group_norm<float> gn(4, 8);
        const auto x = input<ncl>({2, 6, 4});
        auto y = sentinel_like(x.extents());
        for (const bool training : {true, false}) {
            gn.train(training);
            CHECK_THROWS_AS(gn.forward(x, y), nf::extent_error);
            CHECK_THROWS_WITH(gn.forward(x, y), Contains("number of channels in input to be divisible by num_groups") &&
                                                    Contains("[N=2, C=6, L=4]") && Contains("num_groups=4"));
            CHECK(untouched(y));
        }
    }
    SECTION("input: channel count differs from the weight's") {
        nf::nn::group_norm<float> gn(2, 6);
        const auto x = input<ncl>({2, 8, 4});
        auto y = sentinel_like(x.extents());
        CHECK_THROWS_AS(gn.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(gn.forward(x, y),
                          Contains("weight of shape [6]") && Contains("input of shape [N=2, C=8, L=4]"));
        CHECK(untouched(y));
        // Without affine there is no weight to disagree with.
        nf::nn::group_norm<float> plain(2, 6, {.affine = false});
        CHECK_NOTHROW(plain.forward(x, y));
        CHECK_FALSE(untouched(y));
    }
    SECTION("one value per group, in train and eval") {
        nf::nn::group_norm<float> gn(4, 4);
        const auto x = input<nc>({1, 4});
        auto y = sentinel_like(x.extents());
        for (const bool training : {true, false}) {
            gn.train(training);
            CHECK_THROWS_AS(gn.forward(x, y), std::invalid_argument);
            CHECK_THROWS_WITH(gn.forward(x, y), Contains("more than 1 value per group"));
            CHECK(untouched(y));
        }
    }
}

TEST_CASE("layer_norm and rms_norm errors: wrong normalized extents", "[layers][errors]") {
    SECTION("one normalized axis") {
        // PyTorch: "Given normalized_shape=[5], expected input with shape [*, 5], but got input of
        // size[2, 4]".
        nf::nn::layer_norm<float, nf::shape<C<>>> ln({5});
        const auto x = input<nc>({2, 4});
        auto y = sentinel_like(x.extents());
        CHECK_THROWS_AS(ln.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(ln.forward(x, y),
                          Contains("normalized shape [C=5]") && Contains("got input of size [N=2, C=4]"));
        CHECK(untouched(y));

        nf::nn::rms_norm<float, nf::shape<C<>>> rn({5});
        CHECK_THROWS_AS(rn.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(rn.forward(x, y), Contains("normalized shape [C=5]") && Contains("[N=2, C=4]"));
        CHECK(untouched(y));
    }
    SECTION("two normalized axes, one of them wrong") {
        nf::nn::layer_norm<float, nf::shape<C<>, L<>>> ln({5, 7});
        const auto x = input<ncl>({3, 5, 6});
        auto y = sentinel_like(x.extents());
        CHECK_THROWS_WITH(ln.forward(x, y), Contains("[C=5, L=7]") && Contains("[N=3, C=5, L=6]"));
        CHECK(untouched(y));
    }
    SECTION("a zero extent in the normalized shape is rejected at construction") {
        CHECK_THROWS_AS((nf::nn::layer_norm<float, nf::shape<C<>>>({0})), std::invalid_argument);
        CHECK_THROWS_AS((nf::nn::rms_norm<float, nf::shape<C<>>>({0})), std::invalid_argument);
    }
}

TEST_CASE("every layer: output extents differing from the input's", "[layers][errors]") {
    const auto x = input<nchw>({2, 6, 5, 5});
    auto y = sentinel_like(nf::extents<nchw>({2, 6, 5, 4}));
    const auto message = Contains("axis W has extent 5 in the input and 4 in the output");
    SECTION("batch_norm: nothing written, running stats and num_batches_tracked unchanged") {
        nf::nn::batch_norm2d<float> bn(6);
        train_once(bn, 6);
        const auto before = state_of(bn);
        for (const bool training : {true, false}) {
            bn.train(training);
            CHECK_THROWS_AS(bn.forward(x, y), nf::extent_error);
            CHECK_THROWS_WITH(bn.forward(x, y), message);
            CHECK(untouched(y));
            CHECK(state_of(bn) == before);
        }
        // Same axes in another order: still by name.
        auto yl = sentinel_like(nf::extents<nhwc>({2, 5, 4, 6}));
        bn.train();
        CHECK_THROWS_WITH(bn.forward(x, yl), message);
        CHECK(untouched(yl));
        CHECK(state_of(bn) == before);
    }
    SECTION("instance_norm") {
        nf::nn::instance_norm2d<float> in(6, {.track_running_stats = true});
        const auto before = state_of(in);
        CHECK_THROWS_AS(in.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(in.forward(x, y), message);
        CHECK(untouched(y));
        CHECK(state_of(in) == before);
    }
    SECTION("group_norm") {
        nf::nn::group_norm<float> gn(3, 6);
        CHECK_THROWS_AS(gn.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(gn.forward(x, y), message);
        CHECK(untouched(y));
    }
    SECTION("layer_norm and rms_norm") {
        nf::nn::layer_norm<float, nf::shape<H<>, W<>>> ln({5, 5});
        CHECK_THROWS_AS(ln.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(ln.forward(x, y), message);
        CHECK(untouched(y));
        nf::nn::rms_norm<float, nf::shape<W<>>> rn({5});
        CHECK_THROWS_AS(rn.forward(x, y), nf::extent_error);
        CHECK_THROWS_WITH(rn.forward(x, y), message);
        CHECK(untouched(y));
    }
}

TEST_CASE("parameters a layer does not have: std::logic_error", "[layers][errors]") {
    const auto has_no = [](const char* what) { return Contains(std::string("has no ") + what); };
    nf::nn::batch_norm2d<float> bn(3, {.affine = false, .track_running_stats = false});
    CHECK_THROWS_AS(bn.weight(), std::logic_error);
    CHECK_THROWS_WITH(bn.weight(), has_no("weight"));
    CHECK_THROWS_WITH(bn.bias(), has_no("bias"));
    CHECK_THROWS_WITH(bn.running_mean(), has_no("running_mean"));
    CHECK_THROWS_WITH(bn.running_var(), has_no("running_var"));
    const auto& cbn = bn;
    CHECK_THROWS_AS(cbn.weight(), std::logic_error);
    CHECK_THROWS_AS(cbn.running_var(), std::logic_error);

    nf::nn::instance_norm2d<float> in(3);
    CHECK_THROWS_WITH(in.weight(), has_no("weight"));
    CHECK_THROWS_WITH(in.bias(), has_no("bias"));
    CHECK_THROWS_WITH(in.running_mean(), has_no("running_mean"));
    CHECK_THROWS_AS(in.running_var(), std::logic_error);

    nf::nn::layer_norm<float, nf::shape<C<>>> ln({4}, {.elementwise_affine = false});
    CHECK_THROWS_WITH(ln.weight(), has_no("weight"));
    CHECK_THROWS_WITH(ln.bias(), has_no("bias"));

    nf::nn::group_norm<float> gn(2, 4, {.affine = false});
    CHECK_THROWS_WITH(gn.weight(), has_no("weight"));
    CHECK_THROWS_WITH(gn.bias(), has_no("bias"));

    nf::nn::rms_norm<float, nf::shape<C<>>> rn({4}, {.elementwise_affine = false});
    CHECK_THROWS_AS(rn.weight(), std::logic_error);
    CHECK_THROWS_WITH(rn.weight(), has_no("weight"));
}

TEST_CASE("constructor errors of batch_norm and instance_norm", "[layers][errors]") {
    CHECK_THROWS_AS(nf::nn::batch_norm2d<float>(0), std::invalid_argument);
    CHECK_THROWS_WITH(nf::nn::batch_norm2d<float>(0), Contains("num_features must be positive"));
    CHECK_THROWS_AS((nf::nn::batch_norm2d<float, 3>(4)), std::invalid_argument);
    CHECK_THROWS_WITH((nf::nn::batch_norm2d<float, 3>(4)), Contains("num_features is 4") && Contains("fixes 3"));
    CHECK_THROWS_AS(nf::nn::instance_norm2d<float>(0), std::invalid_argument);
    CHECK_THROWS_AS((nf::nn::instance_norm2d<float, 3>(4)), std::invalid_argument);
    CHECK_THROWS_WITH((nf::nn::instance_norm2d<float, 3>(4)), Contains("num_features is 4") && Contains("fixes 3"));
}
