// Runtime tests of nf::strided_view (core/strided_view.hpp): a reversed channel axis (BGR images
// read as RGB), an OpenCV-style ROI with a row pitch, a horizontal flip and a stride of 2, as
// operands of the image normalization into planar and interleaved destinations, bit for bit
// against the same float operations on plain loops; 1 and 2 threads bitwise; a strided view of
// the destination's own memory (the assignment goes through a temporary).
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <normfuse/core/strided_view.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference_file.hpp"

using namespace nf::axes;

namespace {

using nhwc3 = nf::shape<N<>, H<>, W<>, C<3>>;
using nchw3 = nf::shape<N<>, C<3>, H<>, W<>>;

std::vector<std::uint8_t> random_pixels(std::size_t count, std::uint32_t seed) {
    std::vector<std::uint8_t> p(count);
    for (auto& v : p) {
        seed = seed * 1664525u + 1013904223u;
        v = static_cast<std::uint8_t>(seed >> 24);
    }
    return p;
}

const float mean_rgb[3] = {0.485f, 0.456f, 0.406f}, std_rgb[3] = {0.229f, 0.224f, 0.225f};

/// The float operations of x.float().div(255) then Normalize, on one pixel value of channel c.
float normalized(std::uint8_t v, std::size_t c) {
    return (static_cast<float>(v) / 255.f - mean_rgb[c]) / std_rgb[c];
}

} // namespace

TEST_CASE("strided view: BGR read as RGB (a reversed channel axis) into NCHW and NHWC", "[strided]") {
    const std::size_t n = 2, h = 3, w = GENERATE(1, 5, 37);
    CAPTURE(w);
    const auto bgr = random_pixels(n * h * w * 3, 17);
    // Channel c of the view is byte 2 - c of the pixel: start at the last channel, step back.
    const nf::strided_view<const std::uint8_t, nhwc3> rgb(
        bgr.data() + 2, nf::extents<nhwc3>({n, h, w}),
        {static_cast<std::ptrdiff_t>(h * w * 3), static_cast<std::ptrdiff_t>(w * 3), 3, -1});
    const nf::tensor<float, nf::shape<C<3>>> m{mean_rgb[0], mean_rgb[1], mean_rgb[2]},
        s{std_rgb[0], std_rgb[1], std_rgb[2]};
    nf::tensor<float, nchw3> planar({n, h, w});
    nf::tensor<float, nhwc3> interleaved({n, h, w});
    planar = (nf::cast<float>(rgb) / 255.f - m) / s;
    interleaved = (nf::cast<float>(rgb) / 255.f - m) / s;
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x)
                for (std::size_t c = 0; c < 3; ++c) {
                    const float expected = normalized(bgr[((a * h + y) * w + x) * 3 + (2 - c)], c);
                    wrong += planar(a, c, y, x) != expected;
                    wrong += interleaved(a, y, x, c) != expected;
                }
    CHECK(wrong == 0);
}

TEST_CASE("strided view: BGR ROI read as RGB into NCHW, as PyTorch 1.13", "[strided][reference]") {
    for (const char* name : {"uint8_bgr_roi_2x6x41_at_1_3_4x35", "uint8_bgr_roi_1x3x20_at_0_0_3x20"}) {
        CAPTURE(name);
        const auto ref = nf_test::load_reference_case(name);
        const auto& in = ref.tensor("input");
        const auto& out = ref.tensor("output");
        const std::size_t n = in.shape[0], H0 = in.shape[1], W0 = in.shape[2];
        const auto y0 = static_cast<std::size_t>(ref.param_double("y0")),
                   x0 = static_cast<std::size_t>(ref.param_double("x0")),
                   h = static_cast<std::size_t>(ref.param_double("h")),
                   w = static_cast<std::size_t>(ref.param_double("w"));
        std::vector<std::uint8_t> bgr(in.numel());
        for (std::size_t i = 0; i < in.numel(); ++i) bgr[i] = static_cast<std::uint8_t>(in.values[i]);
        // The ROI's first pixel, its last channel (R of BGR) first; rows of the whole image apart.
        const nf::strided_view<const std::uint8_t, nhwc3> rgb(
            bgr.data() + (y0 * W0 + x0) * 3 + 2, nf::extents<nhwc3>({n, h, w}),
            {static_cast<std::ptrdiff_t>(H0 * W0 * 3), static_cast<std::ptrdiff_t>(W0 * 3), 3, -1});
        const nf::tensor<float, nf::shape<C<3>>> m{0.485f, 0.456f, 0.406f}, s{0.229f, 0.224f, 0.225f};
        nf::tensor<float, nchw3> y({n, h, w});
        y = (nf::cast<float>(rgb) / 255.f - m) / s;
        REQUIRE(out.numel() == y.size());
        std::size_t differ = 0;
        for (std::size_t i = 0; i < out.numel(); ++i) differ += y.data()[i] != static_cast<float>(out.values[i]);
        CHECK(differ == 0);
    }
}

TEST_CASE("strided view: an ROI with a row pitch, a horizontal flip, every other column", "[strided]") {
    const std::size_t n = 2, H0 = 9, W0 = 41, y0 = 2, x0 = 3, h = 5, w = GENERATE(1, 17, 35);
    CAPTURE(w);
    const auto image = random_pixels(n * H0 * W0 * 3, 5);
    const std::ptrdiff_t sn = static_cast<std::ptrdiff_t>(H0 * W0 * 3), sh = static_cast<std::ptrdiff_t>(W0 * 3);
    const std::uint8_t* corner = image.data() + (y0 * W0 + x0) * 3;
    const nf::strided_view<const std::uint8_t, nhwc3> roi(corner, nf::extents<nhwc3>({n, h, w}), {sn, sh, 3, 1});
    const nf::strided_view<const std::uint8_t, nhwc3> flipped(corner + (w - 1) * 3, nf::extents<nhwc3>({n, h, w}),
                                                              {sn, sh, -3, 1});
    const std::size_t half = (w + 1) / 2;
    const nf::strided_view<const std::uint8_t, nhwc3> odd(corner, nf::extents<nhwc3>({n, h, half}), {sn, sh, 6, 1});
    // Pixels of 4 bytes (RGBA, and BGRA read as RGB) and of 2 (overlapping pixels, any bytes):
    // read along W at strides 4 and 2 through windows of whole batches (eval/bound.hpp).
    const auto rgba = random_pixels(n * H0 * W0 * 4, 9);
    const std::ptrdiff_t sn4 = static_cast<std::ptrdiff_t>(H0 * W0 * 4), sh4 = static_cast<std::ptrdiff_t>(W0 * 4);
    const std::uint8_t* corner4 = rgba.data() + (y0 * W0 + x0) * 4;
    const nf::strided_view<const std::uint8_t, nhwc3> rgb4(corner4, nf::extents<nhwc3>({n, h, w}), {sn4, sh4, 4, 1});
    const nf::strided_view<const std::uint8_t, nhwc3> bgr4(corner4 + 2, nf::extents<nhwc3>({n, h, w}),
                                                           {sn4, sh4, 4, -1});
    const nf::strided_view<const std::uint8_t, nhwc3> pairs(corner, nf::extents<nhwc3>({n, h, w}), {sn, sh, 2, 1});
    const nf::tensor<float, nf::shape<C<3>>> m{mean_rgb[0], mean_rgb[1], mean_rgb[2]},
        s{std_rgb[0], std_rgb[1], std_rgb[2]};
    nf::tensor<float, nchw3> a({n, h, w}), b({n, h, w}), c2({n, h, half});
    nf::tensor<float, nhwc3> d({n, h, w});
    nf::tensor<float, nchw3> e4({n, h, w}), f4({n, h, w}), g2({n, h, w});
    e4 = (nf::cast<float>(rgb4) / 255.f - m) / s;
    f4 = (nf::cast<float>(bgr4) / 255.f - m) / s;
    g2 = (nf::cast<float>(pairs) / 255.f - m) / s;
    a = (nf::cast<float>(roi) / 255.f - m) / s;
    b = (nf::cast<float>(flipped) / 255.f - m) / s;
    c2 = (nf::cast<float>(odd) / 255.f - m) / s;
    d = (nf::cast<float>(roi) / 255.f - m) / s;
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x)
                for (std::size_t c = 0; c < 3; ++c) {
                    auto at = [&](std::size_t col) { return image[((i * H0 + y0 + y) * W0 + x0 + col) * 3 + c]; };
                    const std::size_t p4 = ((i * H0 + y0 + y) * W0 + x0 + x) * 4;
                    wrong += e4(i, c, y, x) != normalized(rgba[p4 + c], c);
                    wrong += f4(i, c, y, x) != normalized(rgba[p4 + 2 - c], c);
                    wrong += g2(i, c, y, x) != normalized(image[((i * H0 + y0 + y) * W0 + x0) * 3 + 2 * x + c], c);
                    wrong += a(i, c, y, x) != normalized(at(x), c);
                    wrong += d(i, y, x, c) != normalized(at(x), c);
                    wrong += b(i, c, y, x) != normalized(at(w - 1 - x), c);
                    if (x < half) wrong += c2(i, c, y, x) != normalized(at(2 * x), c);
                }
    CHECK(wrong == 0);
}

TEST_CASE("strided view: float rows with a pitch, SIMD along the contiguous axis, 1 and 2 threads", "[strided]") {
    const std::size_t rows = 97, cols = 403, pitch = 416;
    std::vector<float> buffer(rows * pitch);
    for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<float>(i % 1009) * 0.5f;
    using rc = nf::shape<H<>, W<>>;
    const nf::strided_view<const float, rc> x(buffer.data(), nf::extents<rc>({rows, cols}),
                                              {static_cast<std::ptrdiff_t>(pitch), 1});
    const nf::strided_view<const float, nf::shape<W<>, H<>>> xt(
        buffer.data(), nf::extents<nf::shape<W<>, H<>>>({cols, rows}), {1, static_cast<std::ptrdiff_t>(pitch)});
    nf::tensor<float, rc> one({rows, cols}), two({rows, cols}), tr({rows, cols});
    const int before = nf::num_threads();
    nf::set_num_threads(1);
    one = x * 2.f + 1.f;
    nf::set_num_threads(2);
    two = x * 2.f + 1.f;
    nf::set_num_threads(before);
    tr = xt * 2.f + 1.f; // the view's axes in the other order: read by a stride along the run
    std::size_t wrong = 0;
    for (std::ptrdiff_t step : {2, 3, 4, -3}) { // every step-th value of a row: windows (2 to 4), lanes (-3)
        const std::size_t cols_s = 101;         // 6 batches of 16 and 5 more; 25 of 4 and 1
        const float* first = buffer.data() + (step < 0 ? (cols_s - 1) * 3 : 0);
        const nf::strided_view<const float, rc> xs(first, nf::extents<rc>({rows, cols_s}),
                                                   {static_cast<std::ptrdiff_t>(pitch), step});
        nf::tensor<float, rc> ys({rows, cols_s});
        ys = xs * 2.f + 1.f;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols_s; ++c)
                wrong +=
                    ys(r, c) !=
                    first[static_cast<std::ptrdiff_t>(r * pitch) + static_cast<std::ptrdiff_t>(c) * step] * 2.f + 1.f;
    }
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            const float e = buffer[r * pitch + c] * 2.f + 1.f; // exact: halves of integers below 2^10
            wrong += one(r, c) != e;
            wrong += tr(r, c) != e;
        }
    CHECK(wrong == 0);
    CHECK(std::memcmp(one.data(), two.data(), rows * cols * sizeof(float)) == 0);
}

TEST_CASE("strided view: a reversed view of the destination's own memory", "[strided]") {
    const std::size_t l = 75;
    using line = nf::shape<W<>>;
    std::vector<double> memory(l);
    for (std::size_t i = 0; i < l; ++i) memory[i] = static_cast<double>(i);
    const nf::view<double, line> y(memory.data(), {l});
    const nf::strided_view<const double, line> reversed(memory.data() + (l - 1), nf::extents<line>({l}), {-1});
    y = reversed * 1.0; // as if read from a copy
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < l; ++i) wrong += y(i) != static_cast<double>(l - 1 - i);
    // Doubles at strides 2 to 4 (windows; lanes for stride 4 on 2-lane batches), from another
    // buffer whose last element is the last one read.
    for (std::ptrdiff_t step : {2, 3, 4}) {
        const std::size_t m = 23; // 2 batches of 8 and 7 more; 5 of 4 and 3; 11 of 2 and 1
        std::vector<double> source(static_cast<std::size_t>(step) * (m - 1) + 1), out(m);
        for (std::size_t i = 0; i < source.size(); ++i) source[i] = static_cast<double>(i) * 0.25;
        const nf::strided_view<const double, line> every(source.data(), nf::extents<line>({m}), {step});
        const nf::view<double, line> z(out.data(), {m});
        z = every * 1.0;
        for (std::size_t i = 0; i < m; ++i) wrong += out[i] != source[i * static_cast<std::size_t>(step)];
    }
    CHECK(wrong == 0);
}
