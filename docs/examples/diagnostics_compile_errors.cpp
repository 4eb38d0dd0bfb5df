// Guide, chapter 5: compile-time diagnostics. Built normally, this file runs the corrected code
// and checks it. Built with one of the macros below, it contains the misuse the guide shows, and
// the compiler must reject it with normfuse's message (docs/check_snippets.py --compile-errors
// verifies the quoted compiler output):
//   NF_DOCS_SHOW_EXTENT_MISMATCH     C<3> against C<16>
//   NF_DOCS_SHOW_MISSING_AXIS        an expression over (N, C, H, W) into a tensor over (N, C)
//   NF_DOCS_SHOW_ELEMENT_TYPES       float and double in one expression
#include <cstddef>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> x({2, 4, 4}, 2.f), y({2, 4, 4});
    nf::tensor<float, nf::shape<N<>, C<3>>> per_sample({2});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> scaled({2, 4, 4});

#if defined(NF_DOCS_SHOW_EXTENT_MISMATCH)
    // clang-format off
    // [snippet extent_mismatch]
    nf::tensor<float, nf::shape<C<16>>> mean16; // 16 channels, but x has C<3>
    y = x - mean16;
    // [/snippet]
    // clang-format on
#endif
#if defined(NF_DOCS_SHOW_MISSING_AXIS)
    // clang-format off
    // [snippet missing_axis]
    per_sample = x * 2.f; // H and W have nowhere to go
    // [/snippet]
    // clang-format on
#endif
#if defined(NF_DOCS_SHOW_ELEMENT_TYPES)
    // clang-format off
    // [snippet element_types]
    nf::tensor<double, nf::shape<C<3>>> scale{1.0, 2.0, 3.0};
    y = x * scale; // float times double: never converted silently
    // [/snippet]
    // clang-format on
#endif

    // clang-format off
    // [snippet fixed]
    nf::tensor<float, nf::shape<C<3>>> mean{1.f, 2.f, 3.f}; // C<3>, as in x
    y = x - mean;
    per_sample = nf::mean<H, W>(x * 2.f); // reduce over the axes the destination lacks
    nf::tensor<double, nf::shape<C<3>>> weights{1.0, 2.0, 3.0};
    scaled = x * nf::cast<float>(weights); // say which type: the doubles are read as floats
    // [/snippet]
    // clang-format on

    bool ok = true;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c) {
            ok = ok && per_sample(n, c) == 4.f;
            for (std::size_t h = 0; h < 4; ++h)
                for (std::size_t w = 0; w < 4; ++w)
                    ok = ok && y(n, c, h, w) == 2.f - mean(c) &&
                         scaled(n, c, h, w) == 2.f * static_cast<float>(c + 1);
        }
    if (!ok) std::cerr << "FAILED: the corrected code\n";
    return ok ? 0 : 1;
}
