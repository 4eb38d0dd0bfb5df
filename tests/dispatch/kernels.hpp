// The kernels of the dispatch test: class templates on the xsimd architecture, compiled once per
// architecture by normfuse_add_dispatched_sources() (kernels.cpp) and called from main.cpp, which
// is built with no -m flag, through nf::dispatch.
#pragma once

#include <normfuse/dispatch.hpp>
#include <normfuse/normfuse.hpp>

#include <string_view>

namespace nf_dispatch_test {

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using channels = nf::shape<C<>>;

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over (N, H, W): one fused expression with two
/// reductions. Returns the name of the architecture that ran.
template <class Arch>
struct normalize_expression {
    std::string_view operator()(nf::view<const float, nchw> x, nf::view<const float, channels> gamma,
                                nf::view<const float, channels> beta, nf::view<float, nchw> y, float eps) const;
};

/// nf::moments over (N, H, W) of an NHWC tensor (float) and of its double copy.
template <class Arch>
struct channel_moments {
    std::string_view operator()(const nf::tensor<float, nhwc>& x, const nf::tensor<double, nhwc>& xd,
                                nf::tensor<float, channels>& mean, nf::tensor<float, channels>& var,
                                nf::tensor<double, channels>& mean_d, nf::tensor<double, channels>& var_d) const;
};

/// Layers through the convention of dispatched code, `layer.template forward<Arch>(x, y)`: a
/// BatchNorm2d in training mode (batch statistics) and a LayerNorm over C on NHWC data.
template <class Arch>
struct layers {
    std::string_view operator()(const nf::tensor<float, nchw>& x, nf::tensor<float, nchw>& bn_out,
                                const nf::tensor<float, nhwc>& xl, nf::tensor<float, nhwc>& ln_out) const;
};

/// Whether the unit of each level is compiled with OpenMP (1) or not (0): it must be as the
/// program that calls it, which links normfuse::openmp when OpenMP is found (the per-level units
/// take their target's compile options but its -m flags).
template <class Arch>
struct openmp_probe {
    int operator()() const;
};

} // namespace nf_dispatch_test

NF_DISPATCH_DECLARE(nf_dispatch_test::openmp_probe)
NF_DISPATCH_DECLARE(nf_dispatch_test::normalize_expression)
NF_DISPATCH_DECLARE(nf_dispatch_test::channel_moments)
NF_DISPATCH_DECLARE(nf_dispatch_test::layers)
