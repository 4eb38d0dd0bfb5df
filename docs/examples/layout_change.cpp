// Guide, chapter 9: layout changes. An expression over channels-last activations (N, H, W, C)
// assigned into a planar (N, C, H, W) tensor, and back, in one pass each (a blocked transpose:
// the expression is evaluated in the source's order tile by tile and written transposed). Checks
// every value against a plain loop in the same float operations, bit for bit.
#include <cstddef>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    bool ok = true;
    const std::size_t n = 2, h = 5, w = 7, c = 20;
    std::vector<float> activations(n * h * w * c), shift(c), scale(c);
    for (std::size_t i = 0; i < activations.size(); ++i)
        activations[i] = static_cast<float>(i % 97) * 0.25f - 9.f;
    for (std::size_t k = 0; k < c; ++k) {
        shift[k] = 0.5f * static_cast<float>(k);
        scale[k] = 1.f + 0.125f * static_cast<float>(k);
    }

    // clang-format off
    // [snippet nhwc_to_nchw]
    nf::view<const float, nf::shape<N<>, H<>, W<>, C<>>> x(activations.data(), {n, h, w, c});
    nf::view<const float, nf::shape<C<>>> b(shift.data(), {c}), g(scale.data(), {c});

    // Into another axis order: one pass, read and written a tile at a time, both contiguous.
    nf::tensor<float, nf::shape<N<>, C<>, H<>, W<>>> planar({n, c, h, w});
    planar = (x - b) * g;

    // Any permutation works the same way, back to channels-last included.
    nf::tensor<float, nf::shape<N<>, H<>, W<>, C<>>> back({n, h, w, c});
    back = planar / g + b;
    // [/snippet]
    // clang-format on

    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t z = 0; z < w; ++z)
                for (std::size_t k = 0; k < c; ++k) {
                    const float v = activations[((a * h + y) * w + z) * c + k];
                    const float p = (v - shift[k]) * scale[k];
                    ok = ok && planar(a, k, y, z) == p &&
                         back(a, y, z, k) == p / scale[k] + shift[k];
                }
    std::cout << (ok ? "layout change: every value as computed by plain loops\n"
                     : "layout change: WRONG\n");
    return ok ? 0 : 1;
}
