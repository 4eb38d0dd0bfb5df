// Guide, chapter 6: LayerNorm over named axes: over C of channels-last data, and over (H, W) with
// an element-wise weight. Compared with plain loops in double; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <string>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
/// Normalizes each of `groups` blocks of `count` values (block b at data + b * count) in double and
/// compares with `got` (same layout), applying `affine(index in block, value)`.
template <class Affine>
bool blocks_normalized(const float* got, const float* x, std::size_t groups, std::size_t count,
                       Affine affine) {
    for (std::size_t g = 0; g < groups; ++g) {
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < count; ++i) sum += x[g * count + i];
        const double mean = sum / double(count);
        for (std::size_t i = 0; i < count; ++i) sq += std::pow(x[g * count + i] - mean, 2);
        const double inv = 1 / std::sqrt(sq / double(count) + 1e-5);
        for (std::size_t i = 0; i < count; ++i) {
            const double want = affine(i, (x[g * count + i] - mean) * inv);
            if (std::abs(got[g * count + i] - want) > 1e-5 * (1 + std::abs(want))) return false;
        }
    }
    return true;
}
} // namespace

int main() {
    nf::tensor<float, nhwc> x({2, 4, 4, 16}); // channels last, 16 channels
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(1.3f * static_cast<float>(i)) * 2.f + 3.f;
    nf::tensor<float, nchw> planes({2, 3, 4, 5});
    for (std::size_t i = 0; i < planes.size(); ++i)
        planes.data()[i] = std::cos(0.9f * static_cast<float>(i));

    // clang-format off
    // [snippet over_c]
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({16}); // nn.LayerNorm(16) on (N, H, W, C) data
    nf::tensor<float, nhwc> y = ln(x);                  // mean and variance per pixel, over C
    // [/snippet]
    // clang-format on
    expect(blocks_normalized(y.data(), x.data(), 2 * 4 * 4, 16,
                             [](std::size_t, double v) { return v; }),
           "layer_norm over C of NHWC");

    // clang-format off
    // [snippet over_hw]
    nf::nn::layer_norm<float, nf::shape<H<>, W<>>> ln_hw({4, 5}); // nn.LayerNorm([4, 5]) on NCHW
    for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 5; ++w)
            ln_hw.weight()(h, w) = 1.f + 0.1f * static_cast<float>(h * 5 + w);
    // weight and bias are element-wise over (H, W)
    nf::tensor<float, nchw> planes_out = ln_hw(planes);
    // [/snippet]
    // clang-format on
    expect(blocks_normalized(planes_out.data(), planes.data(), 2 * 3, 20,
                             [](std::size_t i, double v) {
                                 return v * (1.0 + double(0.1f * static_cast<float>(i)));
                             }),
           "layer_norm over (H, W) with element-wise weight");

    // clang-format off
    // [snippet shape_error]
    try {
        nf::tensor<float, nhwc> wrong({2, 4, 4, 8});
        ln(wrong);
    } catch (const nf::extent_error& e) {
        std::cout << e.what() << '\n';
        // normfuse: nn::layer_norm::forward: given normalized shape [C=16], expected input with
        // those extents, but got input of size [N=2, H=4, W=4, C=8]
    }
    // [/snippet]
    // clang-format on
    std::string message;
    try {
        nf::tensor<float, nhwc> wrong({2, 4, 4, 8});
        ln(wrong);
    } catch (const nf::extent_error& e) {
        message = e.what();
    }
    expect(message == "normfuse: nn::layer_norm::forward: given normalized shape [C=16], expected "
                      "input with those "
                      "extents, but got input of size [N=2, H=4, W=4, C=8]",
           "normalized shape error");
    return failures == 0 ? 0 : 1;
}
