// Guide, chapter 6: GroupNorm with PyTorch 1.13 semantics: statistics per sample and group of
// contiguous channels, weight and bias per channel; NCHW and NHWC. Compared with a plain loop in
// double; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <stdexcept>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

namespace {
/// True when y(n, h, w, c) is x(n, c, h, w) normalized over its (sample, group), times w[c] + b[c].
template <class Y>
bool group_normalized(const Y& y, const nf::tensor<float, nchw>& x, std::size_t groups,
                      const float* weight, const float* bias) {
    const std::size_t N_ = x.extent<N<>>(), C_ = x.extent<C<>>(), H_ = x.extent<H<>>(),
                      W_ = x.extent<W<>>();
    const std::size_t per_group = C_ / groups;
    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t g = 0; g < groups; ++g) {
            double sum = 0, sq = 0;
            const double count = double(per_group * H_ * W_);
            for (std::size_t c = g * per_group; c < (g + 1) * per_group; ++c)
                for (std::size_t h = 0; h < H_; ++h)
                    for (std::size_t w = 0; w < W_; ++w) sum += x(n, c, h, w);
            const double mean = sum / count;
            for (std::size_t c = g * per_group; c < (g + 1) * per_group; ++c)
                for (std::size_t h = 0; h < H_; ++h)
                    for (std::size_t w = 0; w < W_; ++w) sq += std::pow(x(n, c, h, w) - mean, 2);
            const double inv = 1 / std::sqrt(sq / count + 1e-5);
            for (std::size_t c = g * per_group; c < (g + 1) * per_group; ++c)
                for (std::size_t h = 0; h < H_; ++h)
                    for (std::size_t w = 0; w < W_; ++w) {
                        const double want = (x(n, c, h, w) - mean) * inv * weight[c] + bias[c];
                        if (std::abs(y(n, h, w, c) - want) > 1e-5 * (1 + std::abs(want)))
                            return false;
                    }
        }
    return true;
}
} // namespace

int main() {
    int failures = 0;
    nf::tensor<float, nchw> x({2, 6, 3, 4});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.45f * static_cast<float>(i)) + 0.01f * static_cast<float>(i);
    nf::tensor<float, nhwc> x_last({2, 3, 4, 6});
    x_last = x;

    // clang-format off
    // [snippet group]
    nf::nn::group_norm<float> gn(2, 6); // nn.GroupNorm(2, 6): channels 0-2 and 3-5 form the groups
    for (std::size_t c = 0; c < 6; ++c) gn.weight()(c) = 1.f + 0.5f * static_cast<float>(c);

    nf::tensor<float, nhwc> y = gn(x_last); // any layout: the groups follow the axis C
    // [/snippet]
    // clang-format on
    const float weight[6] = {1.f, 1.5f, 2.f, 2.5f, 3.f, 3.5f}, zeros[6] = {};
    if (!group_normalized(y, x, 2, weight, zeros)) {
        std::cerr << "FAILED: group_norm over NHWC\n";
        ++failures;
    }

    // clang-format off
    // [snippet static_groups]
    nf::nn::group_norm<float, 3, 6> fixed; // 3 groups of 2 channels, checked at compile time
    nf::tensor<float, nchw> out = fixed(x);
    // [/snippet]
    // clang-format on
    const float ones[6] = {1.f, 1.f, 1.f, 1.f, 1.f, 1.f};
    nf::tensor<float, nhwc> out_last({2, 3, 4, 6});
    out_last = out;
    if (!group_normalized(out_last, x, 3, ones, zeros)) {
        std::cerr << "FAILED: group_norm with static groups\n";
        ++failures;
    }

    bool rejected = false;
    try {
        nf::nn::group_norm<float> bad(4, 6);
    } catch (const std::invalid_argument&) {
        rejected = true;
    }
    if (!rejected) {
        std::cerr << "FAILED: 6 channels in 4 groups must be rejected\n";
        ++failures;
    }
    return failures == 0 ? 0 : 1;
}
