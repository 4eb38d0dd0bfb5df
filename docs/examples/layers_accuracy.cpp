// Guide, chapter 6: accuracy at a large offset. Data near 1e6 with a spread of about 1: BatchNorm
// and LayerNorm stay close to a float64 computation from the same float inputs, where a naive float
// computation of the statistics does not. Prints the measured errors; returns non-zero if the
// library's error exceeds 1e-4.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <random>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using ncl = nf::shape<N<>, C<>, L<>>;

int main() {
    const std::size_t n = 8, c = 4, l = 1000;
    nf::tensor<float, ncl> x({n, c, l});
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.f, 1.f);
    for (float& v : x) v = 1e6f + noise(rng);

    // clang-format off
    // [snippet offset]
    nf::nn::batch_norm1d<float> bn(4);
    nf::tensor<float, ncl> y = bn(x); // x is 1e6 + N(0, 1), in float
    // [/snippet]
    // clang-format on

    // Float64 reference from the same float inputs, and a naive float computation for contrast.
    double worst = 0, worst_naive = 0;
    for (std::size_t ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        float fsum = 0, fsq = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) {
                sum += x(i, ch, j);
                fsum += x(i, ch, j);
                fsq += x(i, ch, j) * x(i, ch, j);
            }
        const double m = double(n * l);
        const double mean = sum / m;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) sq += std::pow(x(i, ch, j) - mean, 2);
        const double inv = 1 / std::sqrt(sq / m + 1e-5);
        const float fmean = fsum / static_cast<float>(m);
        const float fvar =
            std::max(fsq / static_cast<float>(m) - fmean * fmean, 0.f); // E[x^2] - E[x]^2
        const float finv = 1.f / std::sqrt(fvar + 1e-5f);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) {
                const double want = (x(i, ch, j) - mean) * inv;
                worst = std::max(worst, std::abs(y(i, ch, j) - want));
                worst_naive = std::max(worst_naive, std::abs((x(i, ch, j) - fmean) * finv - want));
            }
    }
    std::cout << "batch_norm1d at offset 1e6: max |error| vs float64 = " << worst << '\n';
    std::cout << "naive float statistics:     max |error| vs float64 = " << worst_naive << '\n';

    // clang-format off
    // [snippet moments]
    auto [mean, var] = nf::moments<N, L>(x); // the statistics alone, per channel, in one read
    // [/snippet]
    // clang-format on
    double mean_error = 0, var_error = 0;
    for (std::size_t ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) sum += x(i, ch, j);
        const double mu = sum / double(n * l);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) sq += std::pow(x(i, ch, j) - mu, 2);
        mean_error = std::max(mean_error, std::abs(mean(ch) - mu));
        var_error =
            std::max(var_error, std::abs(var(ch) - sq / double(n * l)) / (sq / double(n * l)));
    }
    std::cout << "nf::moments: max |mean error| = " << mean_error
              << " (a float ulp at 1e6 is 0.0625)"
              << ", max relative variance error = " << var_error << '\n';
    // clang-format off
    // [snippet by_hand]
    nf::tensor<float, ncl> by_hand = (x - nf::mean<N, L>(x)) * nf::rsqrt(nf::var<N, L>(x) + 1e-5f);
    // [/snippet]
    // clang-format on
    double worst_by_hand = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
        worst_by_hand =
            std::max(worst_by_hand, std::abs(double(by_hand.data()[i]) - double(y.data()[i])));
    std::cout << "the same formula by hand:   max |difference| from batch_norm1d = "
              << worst_by_hand << '\n';

    const bool ok = worst < 1e-4 && mean_error <= 0.0625 && var_error < 1e-6;
    if (!ok) std::cerr << "FAILED: accuracy at a large offset\n";
    return ok ? 0 : 1;
}
