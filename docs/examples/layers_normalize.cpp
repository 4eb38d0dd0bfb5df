// Guide, chapter 6: nf::nn::normalize, torchvision's transforms.Normalize. Checked against a
// plain loop that follows torchvision's order of operations; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <stdexcept>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
// torchvision: mean and std rounded to float first, then (x - mean) / std with a true division.
float reference(float v, std::size_t c) {
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    return (v - mean[c]) / sd[c];
}
} // namespace

int main() {
    nf::tensor<float, nchw> images({2, 8, 8});
    for (std::size_t i = 0; i < images.size(); ++i)
        images.data()[i] = std::fmod(0.017f * static_cast<float>(i), 1.f);

    // clang-format off
    // [snippet normalize]
    // ImageNet statistics
    nf::nn::normalize<float> normalizer({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});

    // inplace=False: a new tensor, images unchanged
    nf::tensor<float, nchw> out = normalizer(images);
    // [/snippet]
    // clang-format on
    bool ok = true;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t h = 0; h < 8; ++h)
                for (std::size_t w = 0; w < 8; ++w)
                    ok = ok && out(n, c, h, w) == reference(images(n, c, h, w), c);
    expect(ok, "normalize, bit for bit");

    // clang-format off
    // [snippet in_place]
    std::vector<float> pixels(2 * 8 * 8 * 3, 0.5f); // channels-last memory of the program
    nf::view<float, nhwc> frame(pixels.data(), {2, 8, 8});
    normalizer(frame, nf::nn::in_place); // inplace=True: overwrites the memory
    // [/snippet]
    // clang-format on
    ok = true;
    for (std::size_t i = 0; i < pixels.size(); ++i) ok = ok && pixels[i] == reference(0.5f, i % 3);
    expect(ok, "normalize in place through an NHWC view");

    // clang-format off
    // [snippet fused]
    // The layer's formula as an unevaluated expression, fused with what follows it.
    nf::tensor<float, nchw> activated = nf::relu(normalizer.expression(images));
    // [/snippet]
    // clang-format on
    ok = true;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::size_t c = (i / 64) % 3;
        const float r = reference(images.data()[i], c);
        ok = ok && activated.data()[i] == (r > 0.f ? r : 0.f);
    }
    expect(ok, "fused expression");

    // clang-format off
    // [snippet zero_std]
    try {
        nf::nn::normalize<float> broken({0.5, 0.5, 0.5}, {0.2, 1e-50, 0.2});
    } catch (const std::invalid_argument& e) {
        std::cout << e.what() << '\n';
        // normfuse: nn::normalize: std evaluated to zero after conversion to float (channel 1),
        // leading to division by zero
    }
    // [/snippet]
    // clang-format on
    bool rejected = false;
    try {
        nf::nn::normalize<float> broken({0.5, 0.5, 0.5}, {0.2, 1e-50, 0.2});
    } catch (const std::invalid_argument&) {
        rejected = true;
    }
    expect(rejected, "a std that rounds to zero is rejected");
    return failures == 0 ? 0 : 1;
}
