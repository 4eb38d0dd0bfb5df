// The layer computations shared by the translation units of the ODR layer test
// (tu_layers_avx2.cpp, tu_layers_avx512.cpp): every normalization layer, BatchNorm in training
// and eval mode. Each unit returns its outputs; main_layers.cpp checks them.
#pragma once

#include <normfuse/normfuse.hpp>

#include <cstddef>
#include <vector>

namespace nf_odr_layers {

using namespace nf::axes;
using ncl = nf::shape<N<>, C<>, L<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using ncdhw = nf::shape<N<>, C<>, D<>, H<>, W<>>;

inline constexpr std::size_t n = 2, c = 4, l = 37, h = 5, w = 7, d = 3;
inline constexpr double rms_eps = 1e-6;

struct results {
    std::vector<float> bn1_train, bn1_eval, bn2_train, bn2_eval, bn3_train, bn3_eval;
    std::vector<float> instance, layer, group, rms, normalize; // all on the NCHW input
};

/// Input value number i of a tensor (row-major): multiples of 1/8 in [-6, 6.5] plus a
/// per-channel offset, exact in float.
template <class Unit>
float input_value(std::size_t i, std::size_t channel) {
    return static_cast<float>((i * 37 + 11) % 101) / 8.0f - 6.0f + 2.0f * static_cast<float>(channel);
}

template <class Unit, class X>
void fill(X& x, std::size_t inner) {
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = input_value<Unit>(i, (i / inner) % c);
}

template <class Unit, class X>
std::vector<float> values_of(const X& x) {
    return std::vector<float>(x.data(), x.data() + x.size());
}

/// One training step, then eval, of a fresh BatchNorm of `Dims` on x.
template <class Unit, std::size_t Dims, class X>
void batch_norm(const X& x, std::vector<float>& train, std::vector<float>& eval) {
    nf::nn::batch_norm<float, Dims> bn(c);
    train = values_of<Unit>(bn(x));
    bn.eval();
    eval = values_of<Unit>(bn(x));
}

template <class Unit>
results compute() {
    nf::tensor<float, ncl> x1({n, c, l});
    nf::tensor<float, nchw> x2({n, c, h, w});
    nf::tensor<float, ncdhw> x3({n, c, d, h, w});
    fill<Unit>(x1, l);
    fill<Unit>(x2, h * w);
    fill<Unit>(x3, d * h * w);

    results r;
    batch_norm<Unit, 1>(x1, r.bn1_train, r.bn1_eval);
    batch_norm<Unit, 2>(x2, r.bn2_train, r.bn2_eval);
    batch_norm<Unit, 3>(x3, r.bn3_train, r.bn3_eval);

    nf::nn::instance_norm2d<float> in(c, {.affine = true});
    r.instance = values_of<Unit>(in(x2));
    nf::nn::layer_norm<float, nf::shape<H<>, W<>>> ln({h, w});
    r.layer = values_of<Unit>(ln(x2));
    nf::nn::group_norm<float> gn(2, c);
    r.group = values_of<Unit>(gn(x2));
    nf::nn::rms_norm<float, nf::shape<W<>>> rms({w}, {.eps = rms_eps});
    r.rms = values_of<Unit>(rms(x2));
    nf::nn::normalize<float> norm({0.5, -1.0, 2.0, 4.0}, {0.25, 2.0, 0.5, 3.0});
    r.normalize = values_of<Unit>(norm(x2));
    return r;
}

} // namespace nf_odr_layers
