// Guide, chapter 8: a per-channel RMSNorm over the spatial axes, written in the DSL:
// y = x * rsqrt(mean(x^2 over H, W) + eps) * gamma[C], one scale per (sample, channel).
// Checked against a plain loop in double; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

int main() {
    const std::size_t N_ = 2, C_ = 5, H_ = 8, W_ = 9;
    nf::tensor<float, nchw> x({N_, C_, H_, W_});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::cos(0.13f * static_cast<float>(i)) * 3.f;
    nf::tensor<float, nf::shape<C<>>> gamma{1.f, 0.5f, 2.f, 1.5f, 0.25f};

    // clang-format off
    // [snippet channel_rms]
    const float eps = 1e-6f;
    // mean<H, W>(square(x)) and the rsqrt around it have the axes (N, C): they are computed
    // once per (sample, channel), before the loop over all elements.
    nf::tensor<float, nchw> y = x * nf::rsqrt(nf::mean<H, W>(nf::square(x)) + eps) * gamma;
    // [/snippet]
    // clang-format on

    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t c = 0; c < C_; ++c) {
            double sq = 0;
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) sq += double(x(n, c, h, w)) * x(n, c, h, w);
            const double r = 1 / std::sqrt(sq / double(H_ * W_) + double(eps));
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    const double want = x(n, c, h, w) * r * gamma(c);
                    if (std::abs(y(n, c, h, w) - want) > 1e-5 * (1 + std::abs(want))) {
                        std::cerr << "FAILED: per-channel RMSNorm at (" << n << ", " << c << ", "
                                  << h << ", " << w << "): " << y(n, c, h, w) << " instead of "
                                  << want << '\n';
                        return 1;
                    }
                }
        }
    return 0;
}
