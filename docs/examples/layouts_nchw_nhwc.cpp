// Guide, chapter 3: the layout is the order of the axes in the type; the same expression works on
// NCHW and NHWC, and assignment converts between layouts. Returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    int failures = 0;

    // clang-format off
    // [snippet layouts]
    using nchw = nf::shape<N<>, C<3>, H<>, W<>>; // channels first (PyTorch's default)
    using nhwc = nf::shape<N<>, H<>, W<>, C<3>>; // channels last: C is the contiguous axis

    nf::tensor<float, nchw> x({2, 4, 5});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::cos(static_cast<float>(i));

    nf::tensor<float, nhwc> x_last({2, 4, 5});
    x_last = x; // layout conversion: element (n, c, h, w) goes to (n, h, w, c)
    // [/snippet]
    // clang-format on

    // clang-format off
    // [snippet same_code]
    nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f}, stdev{0.23f, 0.236f, 0.24f};

    nf::tensor<float, nchw> y = (x - mean) / stdev;           // NCHW in, NCHW out
    nf::tensor<float, nhwc> y_last = (x_last - mean) / stdev; // the same code on NHWC
    nf::tensor<float, nchw> mixed({2, 4, 5});
    mixed = (x_last - mean) / stdev; // read NHWC, write NCHW, in the same loop
    // [/snippet]
    // clang-format on

    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t h = 0; h < 4; ++h)
                for (std::size_t w = 0; w < 5; ++w) {
                    const float want =
                        (x(n, c, h, w) - mean(c)) / stdev(c); // the same float operations
                    if (x_last(n, h, w, c) != x(n, c, h, w) || y(n, c, h, w) != want ||
                        y_last(n, h, w, c) != want || mixed(n, c, h, w) != want) {
                        std::cerr << "FAILED at (" << n << ", " << c << ", " << h << ", " << w
                                  << ")\n";
                        ++failures;
                    }
                }
    return failures == 0 ? 0 : 1;
}
