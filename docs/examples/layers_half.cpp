// Guide, chapter 9: the layers on 16-bit activations. RMSNorm and LayerNorm over the hidden axis of
// bf16 [tokens, hidden] activations with bf16 weights, and BatchNorm on fp16 images: read widened to
// float, statistics in double, one rounding on the store. Checks every output against a double
// computation from the same 16-bit values: within half a unit in the last place of the 16-bit type,
// plus float's rounding (2^-16 of the output's scale).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {
/// Within half a unit of `bits` fraction bits (7: bf16, 10: fp16) of the exact value, plus float's rounding.
bool near(double got, double exact, int bits) {
    int e;
    (void)std::frexp(exact, &e);
    return std::fabs(got - exact) <= std::ldexp(1.0, std::max(e, -13) - 2 - bits) +
                                         std::ldexp(std::max(std::fabs(exact), 1.0), -16);
}
} // namespace

int main() {
    bool ok = true;
    const std::size_t tokens = 4, hidden = 96;
    std::vector<nf::bf16> act(tokens * hidden), result(tokens * hidden);
    for (std::size_t i = 0; i < act.size(); ++i)
        act[i] = nf::bf16(std::sin(0.37f * static_cast<float>(i)) * 3.f + 0.5f);

    // clang-format off
    // [snippet rms]
    using tokens_hidden = nf::shape<N<>, C<>>;
    nf::view<const nf::bf16, tokens_hidden> x(act.data(), {tokens, hidden});
    nf::view<nf::bf16, tokens_hidden> out(result.data(), {tokens, hidden});

    // bf16 weight, bf16 in and out; eps defaults to torch.finfo(torch.bfloat16).eps = 2^-7.
    nf::nn::rms_norm<nf::bf16, nf::shape<C<>>> rms({hidden});
    rms.forward(x, out);    // per row: float block sums of squares, the row rescaled while in L1

    nf::nn::layer_norm<nf::bf16, nf::shape<C<>>> ln({hidden});
    ln(out, nf::nn::in_place); // weight and bias are bf16 tensors: ln.weight(), ln.bias()
    // [/snippet]
    // clang-format on

    // Check the RMSNorm step on its own, then the composition's LayerNorm from the stored bf16.
    std::vector<nf::bf16> rms_only(tokens * hidden);
    rms.forward(x, nf::view<nf::bf16, tokens_hidden>(rms_only.data(), {tokens, hidden}));
    for (std::size_t t = 0; t < tokens; ++t) {
        double ss = 0, m = 0, v = 0;
        for (std::size_t c = 0; c < hidden; ++c)
            ss += std::pow(static_cast<float>(act[t * hidden + c]), 2);
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(hidden) + 0.0078125);
        for (std::size_t c = 0; c < hidden; ++c) {
            ok = ok && near(static_cast<float>(rms_only[t * hidden + c]),
                            static_cast<float>(act[t * hidden + c]) * r, 7);
            m += static_cast<float>(rms_only[t * hidden + c]);
        }
        m /= static_cast<double>(hidden);
        for (std::size_t c = 0; c < hidden; ++c)
            v += std::pow(static_cast<float>(rms_only[t * hidden + c]) - m, 2);
        const double a = 1.0 / std::sqrt(v / static_cast<double>(hidden) + 1e-5);
        for (std::size_t c = 0; c < hidden; ++c)
            ok = ok && near(static_cast<float>(result[t * hidden + c]),
                            (static_cast<float>(rms_only[t * hidden + c]) - m) * a, 7);
    }

    const std::size_t n = 2, channels = 3, h = 4, w = 5;
    std::vector<nf::fp16> img(n * h * w * channels), normalized(img.size());
    for (std::size_t i = 0; i < img.size(); ++i)
        img[i] = nf::fp16(std::cos(0.11f * static_cast<float>(i)) * 20.f + 7.f);

    // clang-format off
    // [snippet batch]
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    nf::view<const nf::fp16, nhwc> images(img.data(), {n, h, w, channels});
    nf::view<nf::fp16, nhwc> y(normalized.data(), {n, h, w, channels});

    nf::nn::batch_norm<nf::fp16, 2> bn(channels); // fp16 weight, bias and running statistics
    bn.forward(images, y);                         // training: the running statistics move, rounded once
    // [/snippet]
    // clang-format on

    for (std::size_t c = 0; c < channels; ++c) {
        double m = 0, v = 0;
        const double count = static_cast<double>(n * h * w);
        for (std::size_t i = c; i < img.size(); i += channels) m += static_cast<float>(img[i]);
        m /= count;
        for (std::size_t i = c; i < img.size(); i += channels)
            v += std::pow(static_cast<float>(img[i]) - m, 2);
        const double a = 1.0 / std::sqrt(v / count + 1e-5);
        for (std::size_t i = c; i < img.size(); i += channels)
            ok = ok &&
                 near(static_cast<float>(normalized[i]), (static_cast<float>(img[i]) - m) * a, 10);
        ok = ok && near(static_cast<float>(bn.running_mean()(c)), 0.1 * m, 10);
    }

    std::cout << (ok ? "16-bit layers: every output within half a unit of the exact value\n"
                     : "16-bit layers: MISMATCH\n");
    return ok ? 0 : 1;
}
