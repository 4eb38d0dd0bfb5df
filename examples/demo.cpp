// The seed notebook's first cell in normfuse: a batch of 2 RGB images of 2x2 pixels with values
// uniform in [0, 1), normalized per channel with torchvision's Normalize(mean=[0.45, 0.52, 0.48],
// std=[0.23, 0.236, 0.24]). Then the same expression on channels-last memory the program owns.
#include <cstdio>
#include <iostream>
#include <random>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    // Shape = named axes in memory order; C is known at compile time, N, H and W at run time.
    using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
    nf::tensor<float, nchw> img_data({2, 2, 2});

    std::mt19937 rng(2024);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    for (float& v : img_data) v = uniform(rng);
    std::cout << "img_data = torch.rand(2, 3, 2, 2):\n" << img_data << "\n\n";

    // The formula as on paper: one fused SIMD loop, mean and std broadcast by the axis name C.
    nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f}, std{0.23f, 0.236f, 0.24f};
    nf::tensor<float, nchw> out = (img_data - mean) / std;
    std::cout << "(img_data - mean) / std:\n" << out << "\n\n";

    // The library's torchvision-exact layer gives the same values.
    nf::nn::normalize<float> normalizer({0.45, 0.52, 0.48}, {0.23, 0.236, 0.24});
    const auto out2 = normalizer(img_data);
    bool same = true;
    for (std::size_t i = 0; i < out.size(); ++i) same = same && out.data()[i] == out2.data()[i];
    std::cout << "nf::nn::normalize gives the same values: " << (same ? "yes" : "NO") << "\n\n";

    // Channels-last memory owned by the caller: the same expression, no copy of the data.
    using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
    std::vector<float> pixels(2 * 2 * 2 * 3), normalized(pixels.size());
    nf::view<float, nhwc> xv(pixels.data(), {2, 2, 2}), yv(normalized.data(), {2, 2, 2});
    xv = img_data; // layout conversion NCHW -> NHWC, by axis names
    yv = (xv - mean) / std;
    std::cout << "the same, channels-last (N, H, W, C):\n" << yv << "\n";

    bool layouts_agree = true;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t h = 0; h < 2; ++h)
                for (std::size_t w = 0; w < 2; ++w)
                    layouts_agree = layouts_agree && yv(n, h, w, c) == out(n, c, h, w);
    std::cout << "NCHW and NHWC results agree: " << (layouts_agree ? "yes" : "NO") << "\n";
    return same && layouts_agree ? 0 : 1;
}
