// Guide, chapter 6: RMSNorm over named axes. Compared with a plain loop in double; returns non-zero
// on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    int failures = 0;
    // clang-format off
    // [snippet rms]
    using tokens = nf::shape<N<>, L<>, C<>>; // (batch, sequence, features)
    nf::tensor<float, tokens> x({2, 7, 32});
    // [/snippet]
    // clang-format on
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.21f * static_cast<float>(i)) * 3.f;

    // clang-format off
    // [snippet rms_layer]
    // eps defaults to the machine epsilon of float
    nf::nn::rms_norm<float, nf::shape<C<>>> rms({32});
    for (std::size_t c = 0; c < 32; ++c) rms.weight()(c) = 0.5f + 0.01f * static_cast<float>(c);

    nf::tensor<float, tokens> y = rms(x); // y = x * rsqrt(mean(x^2 over C) + eps) * weight
    // [/snippet]
    // clang-format on
    const double eps = std::numeric_limits<float>::epsilon();
    if (rms.eps() != eps) {
        std::cerr << "FAILED: default eps\n";
        ++failures;
    }
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t l = 0; l < 7; ++l) {
            double sq = 0;
            for (std::size_t c = 0; c < 32; ++c) sq += double(x(n, l, c)) * x(n, l, c);
            const double r = 1 / std::sqrt(sq / 32 + eps);
            for (std::size_t c = 0; c < 32; ++c) {
                const double want = x(n, l, c) * r * double(0.5f + 0.01f * static_cast<float>(c));
                if (std::abs(y(n, l, c) - want) > 1e-5 * (1 + std::abs(want))) {
                    std::cerr << "FAILED: rms_norm at (" << n << ", " << l << ", " << c << ")\n";
                    return 1;
                }
            }
        }
    return failures == 0 ? 0 : 1;
}
