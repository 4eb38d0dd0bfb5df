// The computations shared by the translation units of the ODR test (tu_avx2.cpp, tu_avx512.cpp):
// elementwise expressions (with the scalar tails of exp, tanh and sigmoid), tensor construction
// from an expression and from another layout, view assignment, and every reduction (sum, mean,
// var, nf::moments, float and double). Each unit returns its results; main.cpp checks them.
#pragma once

#include <normfuse/normfuse.hpp>

#include <cstddef>
#include <vector>

namespace nf_odr {

using namespace nf::axes;
using ncl = nf::shape<N<>, C<3>, L<>>;
using nlc = nf::shape<N<>, L<>, C<3>>;
using channel = nf::shape<C<3>>;

inline constexpr std::size_t batch = 2;
inline constexpr std::size_t channels = 3;
// Not a multiple of any SIMD width, so the vector loops also run their remainder handling.
inline constexpr std::size_t length = 37;
inline constexpr float channel_mean[channels] = {0.485f, 0.456f, 0.406f};
inline constexpr float channel_sd[channels] = {0.229f, 0.224f, 0.225f};

/// What a unit computes, every tensor flattened in its own row-major order.
struct results {
    std::vector<float> normalized;                     // (x - mean) / sd, NCL
    std::vector<float> exp, tanh, sigmoid;             // tensors constructed from expressions, NCL
    std::vector<float> relayout;                       // nf::tensor<float, nlc>(x)
    std::vector<float> view_copy;                      // view = view of the same type
    std::vector<float> view_expr;                      // view = (x - mean) / sd
    std::vector<float> sum, mean, var, var_unbiased;   // over (N, L), per channel
    std::vector<float> mean_l;                         // nf::mean<L>, per (n, c)
    std::vector<float> moments_mean, moments_var;      // nf::moments<N, L>
    std::vector<double> moments_mean_d, moments_var_d; // nf::moments<N, L> of the double copy
};

// Every function below is a template over `Unit`, a tag type that each translation unit
// declares in an anonymous namespace. Instantiations for such a type have internal linkage, so
// each TU keeps its own copy of these helpers compiled for its own instruction set: the only
// entities the TUs share are normfuse's, which is what the test is about.

/// Input value at (n, c, l): multiples of 1/8 in [-6, 6.5], exact in float.
template <class Unit>
float input_value(std::size_t n, std::size_t c, std::size_t l) {
    return static_cast<float>((n * 131 + c * 31 + l * 7) % 101) / 8.0f - 6.0f;
}

template <class Unit, class X>
std::vector<typename X::value_type> values_of(const X& x) {
    return std::vector<typename X::value_type>(x.data(), x.data() + x.size());
}

/// The computations with normfuse.
template <class Unit>
results compute() {
    using ncl_tensor = nf::tensor<float, ncl>;
    using channel_tensor = nf::tensor<float, channel>;

    ncl_tensor x({batch, length});
    nf::tensor<double, ncl> xd({batch, length});
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t l = 0; l < length; ++l) {
                x(n, c, l) = input_value<Unit>(n, c, l);
                xd(n, c, l) = static_cast<double>(input_value<Unit>(n, c, l)) * 1.5 + 1e3;
            }
    const channel_tensor mean{channel_mean[0], channel_mean[1], channel_mean[2]};
    const channel_tensor sd{channel_sd[0], channel_sd[1], channel_sd[2]};

    results r;
    ncl_tensor y({batch, length});
    y = (x - mean) / sd;
    r.normalized = values_of<Unit>(y);

    const ncl_tensor e = nf::exp(x * 0.25f);
    const ncl_tensor th = nf::tanh(x);
    const ncl_tensor sg = nf::sigmoid(x);
    r.exp = values_of<Unit>(e);
    r.tanh = values_of<Unit>(th);
    r.sigmoid = values_of<Unit>(sg);

    const nf::tensor<float, nlc> t(x);
    r.relayout = values_of<Unit>(t);

    ncl_tensor copy({batch, length});
    const nf::view<float, ncl> dst(copy.data(), {batch, length});
    const nf::view<float, ncl> src(x.data(), {batch, length});
    dst = src;
    r.view_copy = values_of<Unit>(copy);
    dst = (x - mean) / sd;
    r.view_expr = values_of<Unit>(copy);

    channel_tensor s = nf::sum<N, L>(x), m = nf::mean<N, L>(x), v = nf::var<N, L>(x),
                   vu = nf::var<N, L>(x, nf::unbiased);
    r.sum = values_of<Unit>(s);
    r.mean = values_of<Unit>(m);
    r.var = values_of<Unit>(v);
    r.var_unbiased = values_of<Unit>(vu);
    nf::tensor<float, nf::shape<N<>, C<3>>> ml({batch});
    ml = nf::mean<L>(x);
    r.mean_l = values_of<Unit>(ml);

    auto [mm, mv] = nf::moments<N, L>(x);
    r.moments_mean = values_of<Unit>(mm);
    r.moments_var = values_of<Unit>(mv);
    auto [dm, dv] = nf::moments<N, L>(xd);
    r.moments_mean_d = values_of<Unit>(dm);
    r.moments_var_d = values_of<Unit>(dv);
    return r;
}

} // namespace nf_odr
