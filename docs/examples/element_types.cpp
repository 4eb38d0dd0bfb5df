// Guide, chapter 9: real input. Decoded uint8 images (N, H, W, C) normalized into float (N, C, H, W)
// in one pass, bf16 activations computed in float and stored rounded once, and nf::cast. Checks
// every value against plain loops (the image bit for bit against the same float operations, the
// bf16 output within half a bf16 unit in the last place of the double result).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    bool ok = true;
    const std::size_t n = 2, h = 4, w = 5;
    std::vector<std::uint8_t> decoded(n * h * w * 3);
    for (std::size_t i = 0; i < decoded.size(); ++i)
        decoded[i] = static_cast<std::uint8_t>(i * 37 % 256);

    // clang-format off
    // [snippet image]
    // Pixels as a decoder gives them: uint8, interleaved (N, H, W, C).
    nf::view<const std::uint8_t, nf::shape<N<>, H<>, W<>, C<3>>> pixels(decoded.data(), {n, h, w});
    nf::tensor<float, nf::shape<C<3>>> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};

    // What the network wants: float, planar (N, C, H, W). One loop, no intermediate buffer.
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> input({n, h, w});
    input = (nf::cast<float>(pixels) / 255.f - mean) / std;
    // [/snippet]
    // clang-format on

    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x) {
                    const float v = decoded[((a * h + y) * w + x) * 3 + c];
                    ok = ok && input(a, c, y, x) ==
                                   (v / 255.f - mean(c)) / std(c); // as x.float().div(255)
                }

    const std::size_t tokens = 3, hidden = 8;
    std::vector<nf::bf16> act(tokens * hidden), scale(hidden);
    for (std::size_t i = 0; i < act.size(); ++i)
        act[i] = nf::bf16(0.3f * static_cast<float>(i) - 2.f);
    for (std::size_t i = 0; i < hidden; ++i)
        scale[i] = nf::bf16(1.f + 0.125f * static_cast<float>(i));
    std::vector<nf::bf16> result(tokens * hidden);

    // clang-format off
    // [snippet bf16]
    using tokens_hidden = nf::shape<N<>, C<>>;
    nf::view<const nf::bf16, tokens_hidden> x(act.data(), {tokens, hidden});
    nf::view<const nf::bf16, nf::shape<C<>>> gamma(scale.data(), {hidden});
    nf::view<nf::bf16, tokens_hidden> out(result.data(), {tokens, hidden});

    out = x * gamma + nf::cast<nf::bf16>(0.5f * nf::cast<float>(x)); // float inside, one rounding on the store
    // [/snippet]
    // clang-format on

    for (std::size_t t = 0; t < tokens; ++t)
        for (std::size_t c = 0; c < hidden; ++c) {
            const double xv = static_cast<float>(act[t * hidden + c]);
            const double half =
                static_cast<float>(nf::bf16(0.5f * static_cast<float>(xv))); // the inner cast
            const double exact = xv * static_cast<float>(scale[c]) + half;
            const double got = static_cast<float>(result[t * hidden + c]);
            int e;
            (void)std::frexp(exact, &e);
            // Half a bf16 ulp of the float result, plus the float rounding of the sum.
            ok = ok && std::fabs(got - exact) <=
                           std::ldexp(1.0, e - 1 - 8) + std::ldexp(std::fabs(exact), -24);
        }

    // clang-format off
    // [snippet widen]
    nf::tensor<float, tokens_hidden> wide = nf::cast<float>(x); // exact: every bf16 is a float
    nf::tensor<nf::bf16, tokens_hidden> back({tokens, hidden});
    back = wide; // float into bf16: rounded to nearest even (exact here)
    // [/snippet]
    // clang-format on
    for (std::size_t i = 0; i < act.size(); ++i) ok = ok && back.data()[i] == act[i];
    (void)wide;

    if (!ok) std::cerr << "FAILED: element types\n";
    return ok ? 0 : 1;
}
