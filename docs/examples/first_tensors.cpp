// Guide, chapter 1: shapes with static and dynamic extents, tensors, initializer lists, element
// access and printing. Checked against plain loops; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <sstream>
#include <string>

#include <normfuse/normfuse.hpp>

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
} // namespace

// clang-format off
// [snippet shapes]
using namespace nf::axes; // N, C, D, H, W, L, G, K

// A shape lists named axes in memory order; the last one is contiguous.
// C<3> is known at compile time, N<>, H<> and W<> only at run time.
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
// [/snippet]
// clang-format on

// clang-format off
// [snippet custom_axis]
NF_AXIS(Frame);                                        // a new axis: Frame<> or Frame<16>
using video = nf::shape<N<>, Frame<>, C<3>, H<>, W<>>; // five named axes
// [/snippet]
// clang-format on

int main() {
    {
        // clang-format off
        // [snippet tensor]
        nf::tensor<float, nchw> x({2, 4, 5}); // the dynamic extents N=2, H=4, W=5, zero-filled

        std::size_t n = x.extent<N<>>(); // 2
        std::size_t c = x.extent<C<>>(); // 3: any extent of the tag names the axis
        std::size_t all = x.size();      // 2 * 3 * 4 * 5 = 120

        x(1, 2, 3, 4) = 7.f;            // one index per axis, in axis order
        float last = x.data()[all - 1]; // row-major: (1, 2, 3, 4) is the last element
        // [/snippet]
        // clang-format on
        expect(n == 2 && c == 3 && all == 120, "extents");
        expect(last == 7.f, "row-major element access");
        expect(x.extent<H<>>() == 4 && x.extent(3) == 5, "extent by name and by position");

        // clang-format off
        // [snippet fill]
        nf::tensor<float, nchw> ones({2, 3, 4, 5}, 1.f); // every extent given, and a fill value
        for (float& v : x) v = 0.5f;                     // begin()/end() walk the memory in order
        x = 0.25f;                                       // sets every element
        // [/snippet]
        // clang-format on
        bool fill_ok = true;
        for (float v : ones) fill_ok = fill_ok && v == 1.f;
        for (float v : x) fill_ok = fill_ok && v == 0.25f;
        expect(fill_ok && ones.size() == 120, "fill constructor and scalar assignment");
    }
    {
        // clang-format off
        // [snippet lists]
        // A rank-1 tensor takes its values directly; a static extent must match their number.
        nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f};
        nf::tensor<double, nf::shape<C<>>> weights{1.0, 2.0, 3.0, 4.0}; // C = 4, set by the list

        // A rank-1 tensor with a dynamic extent and no values: give the extents explicitly.
        nf::tensor<float, nf::shape<L<>>> seq(nf::extents<nf::shape<L<>>>({100}));
        // [/snippet]
        // clang-format on
        expect(mean(1) == 0.52f && mean.size() == 3, "rank-1 list with static extent");
        expect(weights.extent<C<>>() == 4 && weights(3) == 4.0, "rank-1 list with dynamic extent");
        expect(seq.size() == 100, "rank-1 tensor from extents");
    }
    {
        // clang-format off
        // [snippet print]
        nf::tensor<float, nf::shape<C<2>, W<>>> t({3});
        for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = 0.5f * static_cast<float>(i) - 1.f;
        std::cout << t << '\n';
        // [/snippet]
        // clang-format on
        std::ostringstream os;
        os << t;
        const std::string expected = "tensor([[-1.0000, -0.5000,  0.0000],\n"
                                     "        [ 0.5000,  1.0000,  1.5000]], axes=(C=2, W=3))";
        expect(os.str() == expected, "printing");
        if (os.str() != expected) std::cerr << os.str() << '\n';
    }
    {
        // clang-format off
        // [snippet first]
        nf::tensor<float, nchw> x({2, 4, 4});
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(static_cast<float>(i));
        nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f}, stdev{0.23f, 0.236f, 0.24f};

        nf::tensor<float, nchw> y = (x - mean) / stdev; // one fused loop; extents taken from x
        // [/snippet]
        // clang-format on
        bool ok = true;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t h = 0; h < 4; ++h)
                    for (std::size_t w = 0; w < 4; ++w) {
                        const double want =
                            (double(x(n, c, h, w)) - double(mean(c))) / double(stdev(c));
                        ok = ok && std::abs(y(n, c, h, w) - want) <= 1e-6 * (1 + std::abs(want));
                    }
        expect(ok, "first expression");
    }
    {
        // clang-format off
        // [snippet custom_axis_use]
        nf::tensor<float, video> clip({1, 8, 4, 4});
        clip = 2.f;
        // averaged over time
        nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> still = nf::mean<Frame>(clip);
        // [/snippet]
        // clang-format on
        bool ok = clip.extent<Frame<>>() == 8;
        for (float v : still) ok = ok && v == 2.f;
        expect(ok, "user-defined axis");
    }
    return failures == 0 ? 0 : 1;
}
