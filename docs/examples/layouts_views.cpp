// Guide, chapter 3: views over memory the program owns: mutable and const views, unaligned
// pointers, views as destinations, and tensors seen as views. Returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
} // namespace

int main() {
    const std::size_t n = 2, h = 3, w = 5;
    std::vector<float> pixels(n * h * w * 3);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::sin(static_cast<float>(i));
    std::vector<float> result(pixels.size() + 1, -1.f);
    nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f}, stdev{0.23f, 0.236f, 0.24f};

    // clang-format off
    // [snippet views]
    // Interleaved RGB pixels owned by the program, read-only here.
    nf::view<const float, nhwc> input(pixels.data(), {n, h, w});

    // The output starts one float into its buffer: views accept any alignment.
    nf::view<float, nhwc> output(result.data() + 1, {n, h, w});

    output = (input - mean) / stdev; // evaluates straight into the program's memory
    // [/snippet]
    // clang-format on

    bool ok = result[0] == -1.f; // nothing written before the view
    for (std::size_t i = 0; i < pixels.size(); ++i)
        ok = ok && result[i + 1] == (pixels[i] - mean(i % 3)) / stdev(i % 3);
    expect(ok, "view in, unaligned view out");
    expect(output(1, 2, 4, 2) == result.back(), "element access through a view");

    // clang-format off
    // [snippet convert]
    nf::tensor<float, nchw> planar({n, h, w});
    planar = input; // NHWC memory into an NCHW tensor

    nf::view<float, nchw> planar_view = planar.as_view(); // a tensor seen as a view
    nf::view<const float, nchw> read_only = planar_view;  // a mutable view converts to a const one
    // [/snippet]
    // clang-format on
    ok = true;
    for (std::size_t in = 0; in < n; ++in)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t ih = 0; ih < h; ++ih)
                for (std::size_t iw = 0; iw < w; ++iw)
                    ok = ok && read_only(in, c, ih, iw) == input(in, ih, iw, c);
    expect(ok, "layout conversion from a view");
    expect(planar_view.data() == planar.data(), "as_view shares the memory");

    // clang-format off
    // [snippet static_view]
    float block[3 * 4 * 4] = {};
    // every extent static: the pointer is enough
    nf::view<float, nf::shape<C<3>, H<4>, W<4>>> image(block);
    image = 0.5f; // sets every element
    // [/snippet]
    // clang-format on
    ok = true;
    for (float v : block) ok = ok && v == 0.5f;
    expect(ok, "static view over an array");
    return failures == 0 ? 0 : 1;
}
