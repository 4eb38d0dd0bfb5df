// Guide, chapter 8: a normalization normfuse does not ship, written in the DSL: mean-only batch
// normalization (Salimans & Kingma, 2016): y = x - mean over (N, H, W) + beta[C], no variance.
// Checked against a plain loop in double, in NCHW and NHWC; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

// clang-format off
// [snippet mean_only]
/// Mean-only batch normalization: subtracts the per-channel batch mean, adds a per-channel bias.
template <class X, class Beta>
auto mean_only_batch_norm(const X& x, const Beta& beta) {
    return x - nf::mean<N, H, W>(x) + beta; // an expression: evaluated where it is assigned
}
// [/snippet]
// clang-format on

namespace {
/// The same computation as plain loops in double, compared with `y` (indexed as y(n, c, h, w)).
template <class Y, class X, class Beta>
bool matches(const Y& y, const X& x, const Beta& beta) {
    const std::size_t N_ = x.template extent<N<>>(), C_ = x.template extent<C<>>(),
                      H_ = x.template extent<H<>>(), W_ = x.template extent<W<>>();
    for (std::size_t c = 0; c < C_; ++c) {
        double sum = 0;
        for (std::size_t n = 0; n < N_; ++n)
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) sum += x(n, c, h, w);
        const double mean = sum / double(N_ * H_ * W_);
        for (std::size_t n = 0; n < N_; ++n)
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    const double want = x(n, c, h, w) - mean + beta(c);
                    if (std::abs(y(n, c, h, w) - want) > 1e-5 * (1 + std::abs(want))) return false;
                }
    }
    return true;
}
} // namespace

int main() {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    nf::tensor<float, nchw> x({4, 3, 6, 7});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.31f * static_cast<float>(i)) * 2.f + 5.f;

    // clang-format off
    // [snippet use]
    nf::tensor<float, nf::shape<C<>>> beta{0.1f, 0.2f, 0.3f};
    nf::tensor<float, nchw> y = mean_only_batch_norm(x, beta);

    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    nf::tensor<float, nhwc> x_last({4, 6, 7, 3});
    x_last = x;
    // the same function, channels last
    nf::tensor<float, nhwc> y_last = mean_only_batch_norm(x_last, beta);
    // [/snippet]
    // clang-format on

    // Index the NHWC result as (n, c, h, w) for the comparison.
    struct as_nchw {
        const nf::tensor<float, nhwc>& t;
        float operator()(std::size_t n, std::size_t c, std::size_t h, std::size_t w) const {
            return t(n, h, w, c);
        }
    };
    const bool ok = matches(y, x, beta) && matches(as_nchw{y_last}, x, beta);
    if (!ok) std::cerr << "FAILED: mean-only batch norm\n";
    return ok ? 0 : 1;
}
