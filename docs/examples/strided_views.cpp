// Guide, chapter 9: strided views. A BGR image batch as a decoder or OpenCV gives it, with a
// region of interest inside wider rows, read as RGB through an nf::strided_view (a row pitch and a
// reversed channel axis) and normalized into planar float in one pass, without a copy. Checks
// every value bit for bit against the same float operations on plain loops.
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    bool ok = true;
    const std::size_t n = 2, rows = 6, cols = 10;      // the whole images
    const std::size_t top = 1, left = 2, h = 4, w = 5; // the region of interest
    std::vector<std::uint8_t> bgr(n * rows * cols * 3);
    for (std::size_t i = 0; i < bgr.size(); ++i) bgr[i] = static_cast<std::uint8_t>(i * 53 % 256);

    // clang-format off
    // [snippet bgr_roi]
    using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
    // Strides in elements, per axis: images, rows of the whole image (the pitch), pixels, and
    // channels backwards from the last byte of the pixel: B, G, R read as R, G, B.
    const std::ptrdiff_t image = rows * cols * 3, pitch = cols * 3;
    nf::strided_view<const std::uint8_t, nhwc> rgb(bgr.data() + (top * cols + left) * 3 + 2,
                                                   nf::extents<nhwc>({n, h, w}), {image, pitch, 3, -1});
    nf::tensor<float, nf::shape<C<3>>> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};

    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> input({n, h, w});
    input = (nf::cast<float>(rgb) / 255.f - mean) / std;
    // [/snippet]
    // clang-format on

    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x) {
                    const float v = bgr[((a * rows + top + y) * cols + left + x) * 3 + (2 - c)];
                    ok = ok && input(a, c, y, x) == (v / 255.f - mean(c)) / std(c);
                }
    std::cout << (ok ? "strided views: every value as computed by plain loops\n"
                     : "strided views: WRONG\n");
    return ok ? 0 : 1;
}
