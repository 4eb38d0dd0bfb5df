// The computation shared by the translation units of the ODR test: normalize an N x C x L
// tensor per channel, y = (x - mean) / sd, and reduce y to a checksum.
#pragma once

#include <normfuse/normfuse.hpp>

#include <cstddef>

namespace nf_odr {

inline constexpr std::size_t batch = 2;
inline constexpr std::size_t channels = 3;
// Not a multiple of any SIMD width, so the vector loops also run their remainder handling.
inline constexpr std::size_t length = 37;
inline constexpr float channel_mean[channels] = {0.485f, 0.456f, 0.406f};
inline constexpr float channel_sd[channels] = {0.229f, 0.224f, 0.225f};

// Every function below is a template over `Unit`, a tag type that each translation unit
// declares in an anonymous namespace. Instantiations for such a type have internal linkage, so
// each TU keeps its own copy of these helpers compiled for its own instruction set: the only
// entities the TUs share are normfuse's, which is what the test is about.

/// Input value at (n, c, l): multiples of 1/8 in [-6, 6.5], exact in float.
template <class Unit>
float input_value(std::size_t n, std::size_t c, std::size_t l) {
    return static_cast<float>((n * 131 + c * 31 + l * 7) % 101) / 8.0f - 6.0f;
}

/// The checksum computed with normfuse.
template <class Unit>
float normalized_checksum() {
    using ncl_tensor = nf::tensor<float, nf::shape<nf::axes::N<>, nf::axes::C<3>, nf::axes::L<>>>;
    using channel_tensor = nf::tensor<float, nf::shape<nf::axes::C<3>>>;

    ncl_tensor x({batch, length});
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t l = 0; l < length; ++l) x(n, c, l) = input_value<Unit>(n, c, l);

    const channel_tensor mean{channel_mean[0], channel_mean[1], channel_mean[2]};
    const channel_tensor sd{channel_sd[0], channel_sd[1], channel_sd[2]};

    ncl_tensor y({batch, length});
    y = (x - mean) / sd;

    // A fixed summation order in double: the checksum itself must not depend on the ISA.
    double sum = 0.0;
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t l = 0; l < length; ++l) sum += static_cast<double>(y(n, c, l));
    return static_cast<float>(sum);
}

/// The same checksum from plain scalar loops, as a sanity check of the normfuse results.
template <class Unit>
float reference_checksum() {
    double sum = 0.0;
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t l = 0; l < length; ++l)
                sum += static_cast<double>((input_value<Unit>(n, c, l) - channel_mean[c]) / channel_sd[c]);
    return static_cast<float>(sum);
}

} // namespace nf_odr
