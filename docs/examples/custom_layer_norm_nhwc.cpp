// Guide, chapter 8: LayerNorm over C of channels-last data, written by hand in the DSL, and
// PixelNorm (ProGAN): x / sqrt(mean(x^2 over C) + 1e-8). Checked against plain loops in double and
// against nf::nn::layer_norm; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

int main() {
    const std::size_t N_ = 2, H_ = 5, W_ = 6, C_ = 24;
    nf::tensor<float, nhwc> x({N_, H_, W_, C_});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.59f * static_cast<float>(i)) * 2.f + 1.f;
    nf::tensor<float, nf::shape<C<>>> gamma(nf::extents<nf::shape<C<>>>({C_}), 1.f), beta(gamma);
    for (std::size_t c = 0; c < C_; ++c) {
        gamma(c) = 1.f + 0.05f * static_cast<float>(c);
        beta(c) = -0.5f + 0.02f * static_cast<float>(c);
    }

    // clang-format off
    // [snippet layer_norm]
    const float eps = 1e-5f;
    nf::tensor<float, nhwc> y = (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + eps) * gamma
                                + beta;
    // [/snippet]
    // clang-format on

    // clang-format off
    // [snippet pixel_norm]
    nf::tensor<float, nhwc> p = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + 1e-8f);
    // [/snippet]
    // clang-format on

    int failures = 0;
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({C_});
    ln.weight() = gamma * 1.f; // an expression: assigned through the checked path
    ln.bias() = beta * 1.f;
    const nf::tensor<float, nhwc> library = ln(x);
    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t h = 0; h < H_; ++h)
            for (std::size_t w = 0; w < W_; ++w) {
                double sum = 0, sq = 0, sq0 = 0;
                for (std::size_t c = 0; c < C_; ++c) {
                    sum += x(n, h, w, c);
                    sq0 += double(x(n, h, w, c)) * x(n, h, w, c);
                }
                const double mean = sum / double(C_);
                for (std::size_t c = 0; c < C_; ++c) sq += std::pow(x(n, h, w, c) - mean, 2);
                const double inv = 1 / std::sqrt(sq / double(C_) + double(eps));
                const double pixel = 1 / std::sqrt(sq0 / double(C_) + double(1e-8f));
                for (std::size_t c = 0; c < C_; ++c) {
                    const double want = (x(n, h, w, c) - mean) * inv * gamma(c) + beta(c);
                    const double want_p = x(n, h, w, c) * pixel;
                    if (std::abs(y(n, h, w, c) - want) > 1e-5 * (1 + std::abs(want)) ||
                        std::abs(library(n, h, w, c) - want) > 1e-5 * (1 + std::abs(want)) ||
                        std::abs(p(n, h, w, c) - want_p) > 1e-5 * (1 + std::abs(want_p))) {
                        std::cerr << "FAILED at (" << n << ", " << h << ", " << w << ", " << c
                                  << ")\n";
                        ++failures;
                    }
                }
            }
    return failures == 0 ? 0 : 1;
}
