// Guide, chapter 12: the gradient of a custom normalization derived by nf::gradient (the
// per-channel RMSNorm of chapter 8), checked against the gradient derived by hand, in double; and a
// small training loop that fits the gain and bias of a LayerNorm over C (channels last) by gradient
// descent. Returns non-zero on a wrong value or a loss that does not fall.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

namespace {

// [snippet layer_norm]
/// LayerNorm over C of channels-last data, written in the DSL (chapter 8).
template <class X, class P>
auto layer_norm_c(const X& x, const P& gamma, const P& beta) {
    return (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + 1e-5f) * gamma + beta;
}
// [/snippet]

int check_rms_gradient() {
    const std::size_t N_ = 2, C_ = 3, H_ = 4, W_ = 5;
    nf::tensor<float, nchw> x({N_, C_, H_, W_}), dy({N_, C_, H_, W_});
    for (std::size_t i = 0; i < x.size(); ++i) {
        x.data()[i] = std::cos(0.13f * static_cast<float>(i)) * 3.f;
        dy.data()[i] = std::sin(0.7f * static_cast<float>(i));
    }
    nf::tensor<float, nf::shape<C<>>> gamma{1.f, 0.5f, 2.f};

    // clang-format off
    // [snippet derive]
    const float eps = 1e-6f;
    auto y = x * nf::rsqrt(nf::mean<H, W>(nf::square(x)) + eps) * gamma; // not evaluated
    // dy: the gradient of the loss with respect to y, from the layer above
    auto [dx, dgamma] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(gamma));
    nf::tensor<float, nchw> grad_x = dx;                 // one fused evaluation
    nf::tensor<float, nf::shape<C<>>> grad_gamma = dgamma; // a sum over N, H and W
    // [/snippet]
    // clang-format on

    // By hand: r = 1 / sqrt(mean(x^2) + eps) per (n, c); dgamma[c] = sum dy x r;
    // dx = r g dy - x r^3 mean(g dy x).
    const double m = double(H_ * W_);
    double want_gamma[C_] = {0, 0, 0};
    for (std::size_t n = 0; n < N_; ++n)
        for (std::size_t c = 0; c < C_; ++c) {
            double sq = 0, gdx = 0;
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    sq += double(x(n, c, h, w)) * x(n, c, h, w);
                    gdx += double(gamma(c)) * dy(n, c, h, w) * x(n, c, h, w);
                }
            const double r = 1 / std::sqrt(sq / m + double(eps));
            for (std::size_t h = 0; h < H_; ++h)
                for (std::size_t w = 0; w < W_; ++w) {
                    want_gamma[c] += double(dy(n, c, h, w)) * x(n, c, h, w) * r;
                    const double want =
                        r * gamma(c) * dy(n, c, h, w) - double(x(n, c, h, w)) * r * r * r * gdx / m;
                    if (std::abs(grad_x(n, c, h, w) - want) > 1e-5 * (1 + std::abs(want))) {
                        std::cerr << "FAILED: dx at (" << n << ", " << c << ", " << h << ", " << w
                                  << "): " << grad_x(n, c, h, w) << " instead of " << want << '\n';
                        return 1;
                    }
                }
        }
    for (std::size_t c = 0; c < C_; ++c)
        if (std::abs(grad_gamma(c) - want_gamma[c]) > 1e-4 * (1 + std::abs(want_gamma[c]))) {
            std::cerr << "FAILED: dgamma[" << c << "]: " << grad_gamma(c) << " instead of "
                      << want_gamma[c] << '\n';
            return 1;
        }
    return 0;
}

int train() {
    const std::size_t N_ = 4, H_ = 3, W_ = 5, C_ = 8;
    nf::tensor<float, nhwc> x({N_, H_, W_, C_}), target({N_, H_, W_, C_}), y({N_, H_, W_, C_}),
        dy({N_, H_, W_, C_});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::cos(0.37f * static_cast<float>(i)) * 2.f + 0.5f;
    // the target: the same normalization with a gain and bias to be found
    nf::tensor<float, nf::shape<C<>>> true_gamma{1.5f, 0.5f, -1.f, 2.f, 0.75f, 1.f, 0.25f, -0.5f};
    nf::tensor<float, nf::shape<C<>>> true_beta{0.1f, -0.2f, 0.3f, 0.f, 0.5f, -0.4f, 0.2f, 1.f};
    target = layer_norm_c(x, true_gamma, true_beta);

    // clang-format off
    // [snippet train]
    nf::tensor<float, nf::shape<C<>>> gamma(nf::extents<nf::shape<C<>>>({C_}), 1.f), beta(gamma.extents(), 0.f);
    nf::tensor<float, nf::shape<C<>>> grad_gamma(gamma.extents()), grad_beta(gamma.extents());
    const float count = static_cast<float>(x.size()), lr = 2.f;
    float first_loss = 0, loss = 0;
    for (int step = 0; step < 60; ++step) {
        y = layer_norm_c(x, gamma, beta);                            // forward
        loss = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
            const float e = y.data()[i] - target.data()[i];
            loss += e * e / count;                                     // mean squared error
        }
        if (step == 0) first_loss = loss;
        dy = (y - target) * (2.f / count);                            // d loss / d y
        auto [dgamma, dbeta] = nf::gradient(layer_norm_c(x, gamma, beta), dy,
                                            nf::wrt(gamma), nf::wrt(beta));
        grad_gamma = dgamma;                                           // backward
        grad_beta = dbeta;
        gamma = gamma - lr * grad_gamma;                               // SGD step
        beta = beta - lr * grad_beta;
    }
    std::cout << "loss " << first_loss << " -> " << loss << '\n';
    // [/snippet]
    // clang-format on

    if (!(loss < 1e-6f * first_loss)) {
        std::cerr << "FAILED: the loss did not fall: " << first_loss << " -> " << loss << '\n';
        return 1;
    }
    for (std::size_t c = 0; c < C_; ++c)
        if (std::abs(gamma(c) - true_gamma(c)) > 1e-3f ||
            std::abs(beta(c) - true_beta(c)) > 1e-3f) {
            std::cerr << "FAILED: channel " << c << ": gamma " << gamma(c) << " (want "
                      << true_gamma(c) << "), beta " << beta(c) << " (want " << true_beta(c)
                      << ")\n";
            return 1;
        }
    return 0;
}

} // namespace

#if defined(NF_DOCS_SHOW_NO_DERIVATIVE_RULE)
// The guide's compile error: nf::cast<nf::bf16> rounds to another element type, and has no
// derivative rule.
void no_derivative(const nf::tensor<float, nchw>& x, const nf::tensor<nf::bf16, nchw>& dy) {
    auto [dx] = nf::gradient(nf::cast<nf::bf16>(x) * 2.f, dy, nf::wrt(x));
    (void)dx;
}
#endif

int main() {
    return check_rms_gradient() + train();
}
