// Runtime tests of nf::nn::normalize, torchvision's transforms.Normalize: mean and std rounded to
// the element type, then (x - mean[c]) / std[c] with a true division. The float32 outputs of
// PyTorch (tests/reference/data/normalize_*.ref) must be matched BIT FOR BIT, and so must a
// float reference done one operation at a time: a subtraction and a division are each correctly
// rounded, so there is exactly one right answer.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/normalize.hpp>

#include "support/reference.hpp"
#include "support/reference_file.hpp"

using namespace nf::axes;
using Catch::Matchers::Contains;
using nf_test::at;
using nf_test::named_index;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

/// torchvision's arithmetic one operation at a time: mean and std rounded to T, then T - T, T / T.
template <class T, class X>
auto torchvision_reference(const X& x, std::vector<double> mean, std::vector<double> stdev) {
    return [&x, mean = std::move(mean), stdev = std::move(stdev)](const named_index& i) {
        const std::size_t c = i.has("C") ? i["C"] : 0;
        const T m = static_cast<T>(mean[mean.size() == 1 ? 0 : c]);
        const T s = static_cast<T>(stdev[stdev.size() == 1 ? 0 : c]);
        const T d = at(x, i) - m;
        return d / s;
    };
}

/// A tensor of `Shape` holding the row-major values of a reference tensor.
template <class T, class Shape>
nf::tensor<T, Shape> tensor_from(const nf_test::ref_tensor& r) {
    REQUIRE(r.rank() == Shape::rank);
    std::array<std::size_t, Shape::rank> extents{};
    for (std::size_t d = 0; d < Shape::rank; ++d) extents[d] = r.shape[d];
    nf::tensor<T, Shape> t(nf::extents<Shape>::from_all(extents));
    for (std::size_t k = 0; k < r.numel(); ++k) t.data()[k] = static_cast<T>(r.values[k]);
    return t;
}

/// Runs one PyTorch reference case through nn::normalize and requires PyTorch's bits.
template <class T, class Shape>
void check_reference_case(const std::string& name) {
    INFO("reference case " << name);
    const auto file = nf_test::load_reference_case(name);
    REQUIRE(file.param("layer") == "Normalize");
    REQUIRE(file.param("dtype") == (std::is_same_v<T, float> ? "float32" : "float64"));
    const auto& mean = file.tensor("mean").values;
    const auto& stdev = file.tensor("std").values;
    const auto x = tensor_from<T, Shape>(file.tensor("input"));
    const auto expected = tensor_from<T, Shape>(file.tensor("output"));

    const nf::nn::normalize<T> normalizer{std::span<const double>(mean), std::span<const double>(stdev)};
    const auto y = normalizer(x);
    CHECK(y.extents() == x.extents());
    CHECK(nf_test::same_values(y, expected));
    // Our step-by-step reference agrees with PyTorch, so the two checks mean the same thing.
    CHECK(nf_test::exact(expected, torchvision_reference<T>(x, mean, stdev)));
}

} // namespace

TEST_CASE("normalize: PyTorch's float32 outputs, bit for bit", "[normalize][pytorch]") {
    check_reference_case<float, nchw>("normalize_seed_2x3x2x2_f32");
    check_reference_case<float, nf::shape<C<>, H<>, W<>>>("normalize_3x17x5_f32");
    check_reference_case<float, nchw>("normalize_broadcast1_2x3x4x5_f32");
}

TEST_CASE("normalize: PyTorch's float64 outputs, bit for bit", "[normalize][pytorch]") {
    // A subtraction and a division in double are as reproducible as in float.
    check_reference_case<double, nchw>("normalize_2x3x4x5_f64");
}

TEMPLATE_TEST_CASE("normalize: one float operation at a time, any layout and extent", "[normalize]", float, double) {
    using T = TestType;
    const std::vector<double> mean{0.485, 0.456, 0.406}, stdev{0.229, 0.224, 0.225};
    const nf::nn::normalize<T> normalizer({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    const std::size_t w = GENERATE(1, 3, 17, 255);
    CAPTURE(w);

    nf::tensor<T, nchw> x({2, 3, 3, w});
    nf_test::fill_uniform(x, w, 0, 1);
    const auto y = normalizer(x);
    CHECK(nf_test::exact(y, torchvision_reference<T>(x, mean, stdev)));

    SECTION("NHWC input gives the same values as NCHW") {
        nf::tensor<T, nhwc> xl({2, 3, w, 3});
        xl = x;
        const auto yl = normalizer(xl);
        CHECK(nf_test::same_values(yl, y));
    }
    SECTION("forward into another layout") {
        nf::tensor<T, nhwc> out({2, 3, w, 3});
        normalizer.forward(x, out);
        CHECK(nf_test::same_values(out, y));
    }
    SECTION("the unevaluated expression composes") {
        nf::tensor<T, nchw> z({2, 3, 3, w});
        z = normalizer.expression(x) * T(2); // doubling is exact
        CHECK(nf_test::exact(z, [&](const named_index& i) { return at(y, i) * T(2); }));
    }
}

TEMPLATE_TEST_CASE("normalize: in place and not in place", "[normalize]", float, double) {
    using T = TestType;
    const std::vector<double> mean{0.45, 0.52, 0.48}, stdev{0.23, 0.236, 0.24};
    const nf::nn::normalize<T> normalizer({0.45, 0.52, 0.48}, {0.23, 0.236, 0.24});
    nf::tensor<T, nchw> x({2, 3, 4, 17});
    nf_test::fill_uniform(x, 31, 0, 1);
    const nf::tensor<T, nchw> original = x;

    SECTION("not in place: a new tensor, the input unchanged") {
        const auto y = normalizer(x);
        CHECK(y.data() != x.data());
        CHECK(nf_test::same_values(x, original));
        CHECK(nf_test::exact(y, torchvision_reference<T>(original, mean, stdev)));
    }
    SECTION("in place on a tensor: overwritten and returned") {
        auto& r = normalizer(x, nf::nn::in_place);
        CHECK(&r == &x);
        CHECK(nf_test::exact(x, torchvision_reference<T>(original, mean, stdev)));
    }
    SECTION("in place on an NHWC view over unaligned memory") {
        std::vector<T> memory(x.size() + 1, T(-1));
        nf::view<T, nhwc> v(memory.data() + 1, {2, 4, 17, 3});
        v = original;
        normalizer(v, nf::nn::in_place);
        CHECK(nf_test::exact(v, torchvision_reference<T>(original, mean, stdev)));
        CHECK(memory[0] == T(-1));
    }
}

TEMPLATE_TEST_CASE("normalize: mean and std of length 1 apply to every channel", "[normalize]", float, double) {
    using T = TestType;
    const std::size_t c = GENERATE(1, 3, 17);
    CAPTURE(c);
    nf::tensor<T, nchw> x({2, c, 3, 5});
    nf_test::fill_uniform(x, 41, 0, 1);

    SECTION("both of length 1") {
        const nf::nn::normalize<T> normalizer({0.5}, {0.25});
        CHECK(nf_test::exact(normalizer(x), torchvision_reference<T>(x, {0.5}, {0.25})));
        nf::tensor<T, nhwc> xl({2, 3, 5, c});
        xl = x;
        CHECK(nf_test::exact(normalizer(xl), torchvision_reference<T>(xl, {0.5}, {0.25})));
    }
    SECTION("one of length 1, the other per channel") {
        std::vector<double> stdev(c);
        for (std::size_t k = 0; k < c; ++k) stdev[k] = 0.1 + 0.05 * static_cast<double>(k);
        const nf::nn::normalize<T> normalizer(std::vector<double>{0.3}, stdev);
        CHECK(normalizer.mean().size() == c);
        CHECK(nf_test::exact(normalizer(x), torchvision_reference<T>(x, {0.3}, stdev)));
    }
}

TEMPLATE_TEST_CASE("normalize: mean and std are rounded to the element type first", "[normalize]", float, double) {
    using T = TestType;
    const nf::nn::normalize<T> normalizer({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    CHECK(normalizer.mean()(0) == static_cast<T>(0.485));
    CHECK(normalizer.mean()(2) == static_cast<T>(0.406));
    CHECK(normalizer.std()(1) == static_cast<T>(0.224));
}

TEST_CASE("normalize: a std that is zero after conversion to the element type is rejected", "[normalize]") {
    // 1e-50 is not zero as a double but underflows to 0 as a float: torchvision raises
    // "std evaluated to zero after conversion to torch.float32, leading to division by zero".
    CHECK_THROWS_AS((nf::nn::normalize<float>({0.5, 0.5, 0.5}, {0.2, 1e-50, 0.3})), std::invalid_argument);
    CHECK_THROWS_WITH((nf::nn::normalize<float>({0.5, 0.5, 0.5}, {0.2, 1e-50, 0.3})),
                      Contains("std evaluated to zero after conversion to float") && Contains("channel 1"));
    CHECK_NOTHROW((nf::nn::normalize<double>({0.5, 0.5, 0.5}, {0.2, 1e-50, 0.3})));
    CHECK_THROWS_WITH((nf::nn::normalize<double>({0.5}, {0.0})),
                      Contains("std evaluated to zero after conversion to double"));
    CHECK_THROWS_AS((nf::nn::normalize<float>({0.5}, {-0.0})), std::invalid_argument);
}

TEMPLATE_TEST_CASE("normalize: negative and NaN std are accepted, as in torchvision", "[normalize]", float, double) {
    using T = TestType;
    nf::tensor<T, nchw> x({1, 3, 2, 17});
    nf_test::fill_uniform(x, 51, 0, 1);
    const nf::nn::normalize<T> negative({0.1, 0.2, 0.3}, {-0.5, 0.25, -2});
    CHECK(nf_test::exact(negative(x), torchvision_reference<T>(x, {0.1, 0.2, 0.3}, {-0.5, 0.25, -2})));

    const double nan = std::numeric_limits<double>::quiet_NaN();
    const nf::nn::normalize<T> with_nan({0.1, 0.2, 0.3}, {0.5, nan, 2});
    const auto y = with_nan(x);
    CHECK(nf_test::near(
        y,
        [&](const named_index& i) {
            return i["C"] == 1 ? nan
                               : static_cast<double>(torchvision_reference<T>(x, {0.1, 0.2, 0.3}, {0.5, 1, 2})(i));
        },
        0));
}

TEST_CASE("normalize: mean and std lengths are checked", "[normalize]") {
    CHECK_THROWS_AS((nf::nn::normalize<float>({0.1, 0.2}, {0.3, 0.4, 0.5})), std::invalid_argument);
    CHECK_THROWS_WITH((nf::nn::normalize<float>({0.1, 0.2}, {0.3, 0.4, 0.5})), Contains("mean has 2 values and std 3"));
    CHECK_THROWS_AS((nf::nn::normalize<float>(std::span<const double>{}, std::span<const double>{})),
                    std::invalid_argument);
    // A static channel axis fixes the count.
    CHECK_THROWS_AS((nf::nn::normalize<float, C<3>>({0.1, 0.2, 0.3, 0.4}, {1, 1, 1, 1})), std::invalid_argument);
    CHECK_NOTHROW((nf::nn::normalize<float, C<3>>({0.1}, {1})));

    // A per-channel normalizer meets data with another number of channels: an extent error.
    const nf::nn::normalize<float> four({0.1, 0.2, 0.3, 0.4}, {1, 1, 1, 1});
    nf::tensor<float, nchw> x({1, 3, 2, 2});
    CHECK_THROWS_AS(four(x), nf::extent_error);
}

TEMPLATE_TEST_CASE("normalize: another axis as the channel axis", "[normalize]", float, double) {
    // normalize<T, L<>> normalizes each position of a sequence with its own mean and std.
    using T = TestType;
    const nf::nn::normalize<T, L<>> per_position({0.1, 0.2, 0.3, 0.4, 0.5}, {1, 2, 4, 0.5, 0.1});
    nf::tensor<T, nf::shape<N<>, C<>, L<>>> x({2, 3, 5});
    nf_test::fill_uniform(x, 61, -1, 1);
    const std::vector<double> mean{0.1, 0.2, 0.3, 0.4, 0.5}, stdev{1, 2, 4, 0.5, 0.1};
    CHECK(nf_test::exact(per_position(x), [&](const named_index& i) {
        const T d = at(x, i) - static_cast<T>(mean[i["L"]]);
        return d / static_cast<T>(stdev[i["L"]]);
    }));
}
