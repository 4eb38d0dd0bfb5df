// Guide, chapter 3: broadcasting by axis name. Returns non-zero on a wrong value.
#include <cstddef>
#include <iostream>
#include <string>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

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
    {
        // clang-format off
        // [snippet by_name]
        nf::tensor<float, nf::shape<N<>, C<>>> a({2, 3}); // one value per (sample, channel)
        nf::tensor<float, nf::shape<H<>, W<>>> b({4, 5}); // one value per pixel
        for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<float>(i);
        for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = 100.f * static_cast<float>(i);

        // The result has the axes of the left operand, then those only the right one has:
        // N, C, H, W.
        // y(n, c, h, w) = a(n, c) + b(h, w)
        nf::tensor<float, nf::shape<N<>, C<>, H<>, W<>>> y = a + b;
        // [/snippet]
        // clang-format on
        bool ok = y.extent<N<>>() == 2 && y.extent<C<>>() == 3 && y.extent<H<>>() == 4 &&
                  y.extent<W<>>() == 5;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t h = 0; h < 4; ++h)
                    for (std::size_t w = 0; w < 5; ++w)
                        ok = ok && y(n, c, h, w) == a(n, c) + b(h, w);
        expect(ok, "a(n, c) + b(h, w)");

        // clang-format off
        // [snippet any_destination]
        // any order of the same axes
        nf::tensor<float, nf::shape<W<>, H<>, C<>, N<>>> t({5, 4, 3, 2});
        // t(w, h, c, n) = a(n, c) + b(h, w)
        t = a + b;
        // [/snippet]
        // clang-format on
        ok = true;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t h = 0; h < 4; ++h)
                    for (std::size_t w = 0; w < 5; ++w)
                        ok = ok && t(w, h, c, n) == a(n, c) + b(h, w);
        expect(ok, "destination in another axis order");
    }
    {
        // clang-format off
        // [snippet per_channel]
        using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
        nf::tensor<float, nhwc> x({2, 3, 3, 4}, 1.f);
        nf::tensor<float, nf::shape<C<>>> gamma{0.5f, 1.f, 2.f, 4.f}, beta{0.f, 1.f, 2.f, 3.f};

        nf::tensor<float, nhwc> y = x * gamma + beta; // gamma and beta follow C wherever it is
        // [/snippet]
        // clang-format on
        bool ok = true;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t h = 0; h < 3; ++h)
                for (std::size_t w = 0; w < 3; ++w)
                    for (std::size_t c = 0; c < 4; ++c)
                        ok = ok && y(n, h, w, c) == gamma(c) + beta(c);
        expect(ok, "per-channel operands over NHWC");
    }
    {
        // clang-format off
        // [snippet no_stretch]
        nf::tensor<float, nf::shape<N<>, C<>, H<>, W<>>> x({1, 3, 2, 2});
        nf::tensor<float, nf::shape<C<>>> one{2.f}; // C = 1: not stretched to 3, unlike NumPy
        std::string message;
        try {
            auto e = x * one; // the extents of shared axes must agree
            (void)e;
        } catch (const nf::extent_error& error) {
            message = error.what();
        }
        // message: "normfuse: operator*: axis C has extent 3 on the left and 1 on the right"
        // [/snippet]
        // clang-format on
        expect(message == "normfuse: operator*: axis C has extent 3 on the left and 1 on the right",
               "an extent of 1 is not stretched");
    }
    return failures == 0 ? 0 : 1;
}
