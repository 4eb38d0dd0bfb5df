// Guide, chapter 6: InstanceNorm with PyTorch 1.13 semantics: statistics per sample and channel
// over the spatial axes. Compared with a plain loop in double; returns non-zero on a wrong value.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

namespace {
/// True when y(n, c, h, w) == (x - mean[n, c]) / sqrt(var[n, c] + eps) * w[c] + b[c], in double.
template <class Y>
bool instance_normalized(const Y& y, const nf::tensor<float, nchw>& x, const float* weight,
                         const float* bias) {
    const std::size_t N_ = x.extent<N<>>(), C_ = x.extent<C<>>(), H_ = x.extent<H<>>(),
                      W_ = x.extent<W<>>();
    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t c = 0; c < C_; ++c) {
            double sum = 0, sq = 0;
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) sum += x(n, c, h, w);
            const double mean = sum / double(H_ * W_);
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) sq += std::pow(x(n, c, h, w) - mean, 2);
            const double inv = 1 / std::sqrt(sq / double(H_ * W_) + 1e-5);
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    const double want = (x(n, c, h, w) - mean) * inv * weight[c] + bias[c];
                    const double got = y(n, h, w, c);
                    if (std::abs(got - want) > 1e-5 * (1 + std::abs(want))) return false;
                }
        }
    return true;
}
} // namespace

int main() {
    int failures = 0;
    nf::tensor<float, nchw> x({2, 3, 6, 5});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::cos(0.7f * static_cast<float>(i)) * 4.f - 1.f;
    nf::tensor<float, nhwc> x_last({2, 6, 5, 3});
    x_last = x;

    // clang-format off
    // [snippet instance]
    nf::nn::instance_norm2d<float> inorm(3);   // nn.InstanceNorm2d(3): no affine, no tracking
    nf::tensor<float, nhwc> y = inorm(x_last); // mean and variance per (n, c) over H, W

    nf::nn::instance_norm2d<float> with_affine(3, {.affine = true});
    with_affine.weight() = 2.f; // per-channel weight and bias
    nf::tensor<float, nhwc> y2 = with_affine(x_last);
    // [/snippet]
    // clang-format on
    const float ones[3] = {1.f, 1.f, 1.f}, twos[3] = {2.f, 2.f, 2.f}, zeros[3] = {0.f, 0.f, 0.f};
    if (!instance_normalized(y, x, ones, zeros) || !instance_normalized(y2, x, twos, zeros)) {
        std::cerr << "FAILED: instance_norm2d\n";
        ++failures;
    }

    // clang-format off
    // [snippet unbatched]
    // unbatched input (C, H, W): N = 1
    nf::tensor<float, nf::shape<C<>, H<>, W<>>> image({3, 6, 5});
    std::copy_n(x.data(), image.size(), image.data()); // the first sample of x
    nf::tensor<float, nf::shape<C<>, H<>, W<>>> image_out = inorm(image);
    // [/snippet]
    // clang-format on
    nf::tensor<float, nchw> first({1, 3, 6, 5});
    for (std::size_t i = 0; i < first.size(); ++i) first.data()[i] = x.data()[i];
    nf::tensor<float, nhwc> image_out_last({1, 6, 5, 3});
    for (std::size_t c = 0; c < 3; ++c)
        for (std::size_t h = 0; h < 6; ++h)
            for (std::size_t w = 0; w < 5; ++w) image_out_last(0, h, w, c) = image_out(c, h, w);
    if (!instance_normalized(image_out_last, first, ones, zeros)) {
        std::cerr << "FAILED: unbatched instance_norm2d\n";
        ++failures;
    }
    return failures == 0 ? 0 : 1;
}
