// Guide, chapter 7: reductions over named axes: nf::sum, nf::mean, nf::var (biased and unbiased),
// nf::moments, and reductions inside expressions. Compared with plain loops in double; returns
// non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

namespace {
int failures = 0;
void expect_near(double got, double want, double tolerance, const char* what) {
    if (!(std::abs(got - want) <= tolerance * (1 + std::abs(want)))) {
        std::cerr << "FAILED: " << what << ": " << got << " instead of " << want << '\n';
        ++failures;
    }
}
} // namespace

int main() {
    const std::size_t N_ = 3, C_ = 4, H_ = 5, W_ = 6;
    nf::tensor<float, nchw> x({N_, C_, H_, W_});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.77f * static_cast<float>(i)) + 2.f;

    // clang-format off
    // [snippet reduce]
    // one value per channel
    nf::tensor<float, nf::shape<C<>>> total = nf::sum<N, H, W>(x);
    // one per (sample, channel)
    nf::tensor<float, nf::shape<N<>, C<>>> per_image = nf::mean<H, W>(x);
    // biased: divides by the count
    nf::tensor<float, nf::shape<C<>>> spread = nf::var<N, H, W>(x);
    // divides by count - 1
    nf::tensor<float, nf::shape<C<>>> sample_var = nf::var<N, H, W>(x, nf::unbiased);
    // axes as tags work too
    nf::tensor<float, nf::shape<>> everything = nf::sum<N<>, C<>, H<>, W<>>(x);
    // [/snippet]
    // clang-format on

    double grand = 0;
    for (std::size_t c = 0; c < C_; ++c) {
        double s = 0, sq = 0;
        for (std::size_t n = 0; n < N_; ++n) {
            double s_nc = 0;
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) s_nc += x(n, c, h, w);
            expect_near(per_image(n, c), s_nc / double(H_ * W_), 1e-6, "mean over H, W");
            s += s_nc;
        }
        const double count = double(N_ * H_ * W_), m = s / count;
        for (std::size_t n = 0; n < N_; ++n)
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) sq += std::pow(x(n, c, h, w) - m, 2);
        expect_near(total(c), s, 1e-6, "sum over N, H, W");
        expect_near(spread(c), sq / count, 1e-6, "biased variance");
        expect_near(sample_var(c), sq / (count - 1), 1e-6, "unbiased variance");
        grand += s;
    }
    expect_near(everything(), grand, 1e-6, "sum over every axis");

    // clang-format off
    // [snippet moments]
    auto [mean, var] = nf::moments<N, H, W>(x); // both from one read of x, as tensors over C
    // [/snippet]
    // clang-format on
    for (std::size_t c = 0; c < C_; ++c) {
        expect_near(mean(c), total(c) / double(N_ * H_ * W_), 1e-6, "moments: mean");
        expect_near(var(c), spread(c), 1e-6, "moments: variance");
    }

    // clang-format off
    // [snippet in_expressions]
    // A reduction is an expression over the remaining axes: it broadcasts back by name.
    nf::tensor<float, nchw> centered = x - nf::mean<H, W>(x); // per (n, c)
    // of an expression
    nf::tensor<float, nf::shape<N<>, C<>>> energy = nf::mean<H, W>(nf::square(x));
    // [/snippet]
    // clang-format on
    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t c = 0; c < C_; ++c) {
            double sq = 0;
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    sq += double(x(n, c, h, w)) * x(n, c, h, w);
                    expect_near(centered(n, c, h, w), x(n, c, h, w) - double(per_image(n, c)), 1e-5,
                                "centered");
                }
            expect_near(energy(n, c), sq / double(H_ * W_), 1e-6, "mean of squares");
        }
    return failures == 0 ? 0 : 1;
}
