// Guide, chapter 4: how an assignment is evaluated. The same BatchNorm-style formula in the four
// reading modes of a loop nest (invariant, contiguous, periodic, strided), an explicit xsimd
// architecture, and the evaluator's run-time settings. Checked against a plain loop in double.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <type_traits>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using channels = nf::tensor<float, nf::shape<C<>>>;

namespace {
int failures = 0;

/// y(n, c, h, w) == (x - mean) * gamma / sqrt(var + eps) + beta, in double, for arrays of any
/// layout.
template <class Y, class X>
void expect_batch_norm(const Y& y, const X& x, const channels& mean, const channels& var,
                       const channels& gamma, const channels& beta, float eps, const char* what) {
    for (std::size_t n = 0; n < x.template extent<N<>>(); ++n)
        for (std::size_t c = 0; c < x.template extent<C<>>(); ++c)
            for (std::size_t h = 0; h < x.template extent<H<>>(); ++h)
                for (std::size_t w = 0; w < x.template extent<W<>>(); ++w) {
                    auto at = [&](const auto& a) -> double {
                        if constexpr (nf::index_of<
                                          C<>, typename std::remove_cvref_t<decltype(a)>::axes> ==
                                      1)
                            return a(n, c, h, w);
                        else
                            return a(n, h, w, c);
                    };
                    const double want =
                        (at(x) - mean(c)) * gamma(c) / std::sqrt(double(var(c)) + eps) + beta(c);
                    if (!(std::abs(at(y) - want) <= 1e-5 * (1 + std::abs(want)))) {
                        std::cerr << "FAILED: " << what << ": " << at(y) << " instead of " << want
                                  << '\n';
                        ++failures;
                        return;
                    }
                }
}
} // namespace

int main() {
    const std::size_t n = 2, c = 5, h = 7, w = 9;
    nf::tensor<float, nchw> x({n, c, h, w});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = std::sin(0.1f * static_cast<float>(i)) * 3.f + 1.f;
    nf::tensor<float, nhwc> x_last({n, h, w, c});
    x_last = x;
    channels mean{0.5f, 1.f, 1.5f, 0.f, -1.f}, var{1.f, 2.f, 0.5f, 4.f, 9.f};
    channels gamma{1.f, 0.5f, 2.f, -1.f, 1.f}, beta{0.f, 0.1f, 0.2f, 0.3f, 0.4f};

    // clang-format off
    // [snippet hoisting]
    const float eps = 1e-5f;
    nf::tensor<float, nchw> y({n, c, h, w});
    // gamma / sqrt(var + eps) has only the axis C: it is computed once per channel, into scratch
    // memory, before the loop over the n * c * h * w elements.
    y = (x - mean) * (gamma / nf::sqrt(var + eps)) + beta;
    // [/snippet]
    // clang-format on
    expect_batch_norm(y, x, mean, var, gamma, beta, eps,
                      "NCHW: per-channel values invariant along each H*W run");

    // clang-format off
    // [snippet modes]
    nf::tensor<float, nhwc> y_last({n, h, w, c});
    // C innermost: per-channel values are periodic
    y_last = (x_last - mean) * (gamma / nf::sqrt(var + eps)) + beta;
    // NCHW operand, NHWC destination: x is gathered
    y_last = (x - mean) * (gamma / nf::sqrt(var + eps)) + beta;
    // [/snippet]
    // clang-format on
    expect_batch_norm(y_last, x, mean, var, gamma, beta, eps, "NCHW operand into NHWC destination");
    y_last = (x_last - mean) * (gamma / nf::sqrt(var + eps)) + beta;
    expect_batch_norm(y_last, x, mean, var, gamma, beta, eps, "NHWC: periodic per-channel values");

    // clang-format off
    // [snippet arch]
    // what `y = ...` does
    y.assign<xsimd::default_arch>((x - mean) * (gamma / nf::sqrt(var + eps)) + beta);
    #if XSIMD_WITH_SSE2
    // 128-bit batches instead
    y.assign<xsimd::sse2>((x - mean) * (gamma / nf::sqrt(var + eps)) + beta);
    #endif
    // [/snippet]
    // clang-format on
    expect_batch_norm(y, x, mean, var, gamma, beta, eps, "explicit architecture");

    // clang-format off
    // [snippet settings]
    nf::set_num_threads(2); // takes effect when compiled with OpenMP (-fopenmp)
    // destinations of 1 MiB or more bypass the cache
    nf::set_streaming_threshold(std::size_t(1) << 20);
    y = (x - mean) * (gamma / nf::sqrt(var + eps)) + beta;
    nf::set_num_threads(1);
    // [/snippet]
    // clang-format on
    expect_batch_norm(y, x, mean, var, gamma, beta, eps, "with settings");

    return failures == 0 ? 0 : 1;
}
