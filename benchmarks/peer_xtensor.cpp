// benchmarks/peer_xtensor.cpp: xtensor (with xsimd when XTENSOR_USE_XSIMD is set), as a user writes it.
//
// xt::adapt over the shared buffers; per-channel vectors are xtensors of shape (1, C, 1, 1) (or
// wherever C is) and broadcast numpy-style; `xt::noalias(y) = ...` evaluates straight into the
// output. Training takes the mean and the variance with xt::mean (immediate evaluation), two
// reads, then writes x * a + b.
#include <benchmark/benchmark.h>

#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xtensor.hpp>

#include "support/cases.hpp"

namespace bench {
namespace {

template <std::size_t R>
struct shapes {
    std::array<std::size_t, R> dims{}, reshape{};
    std::array<std::size_t, R - 1> reduced{};
    std::size_t cpos = 1;
};

template <std::size_t R>
shapes<R> shapes_of(const case_spec& s) {
    shapes<R> sh;
    if constexpr (R == 4) {
        if (s.order == layout::nhwc) {
            sh.dims = {s.n, s.h, s.w, s.c};
            sh.cpos = 3;
        } else {
            sh.dims = {s.n, s.c, s.h, s.w};
        }
    } else {
        if (s.order == layout::nlc) {
            sh.dims = {s.n, s.h, s.c};
            sh.cpos = 2;
        } else {
            sh.dims = {s.n, s.c, s.h};
        }
    }
    for (std::size_t i = 0, j = 0; i < R; ++i) {
        sh.reshape[i] = i == sh.cpos ? s.c : 1;
        if (i != sh.cpos) sh.reduced[j++] = i;
    }
    return sh;
}

/// A per-channel vector as an R-dimensional xtensor shaped to broadcast against the case.
template <std::size_t R, class V>
xt::xtensor<float, R> channel_tensor(const V& v, const shapes<R>& sh) {
    xt::xtensor<float, R> t(sh.reshape);
    std::copy(v.begin(), v.end(), t.begin());
    return t;
}

template <std::size_t R>
body make_rank(case_data& d, run_options& o, workload wl) {
    const shapes<R> sh = shapes_of<R>(*d.spec);
    const std::size_t size = d.spec->size();
    auto x = xt::adapt(static_cast<const float*>(d.x), size, xt::no_ownership(), sh.dims);
    auto y = xt::adapt(d.y, size, xt::no_ownership(), sh.dims);
    const float eps = static_cast<float>(d.eps), momentum = static_cast<float>(d.momentum);
    const float m = static_cast<float>(size / d.spec->c);
    const auto weight = xt::adapt(d.weight), bias = xt::adapt(d.bias);
    switch (wl) {
    case workload::normalize: {
        const auto mean = channel_tensor<R>(d.mean, sh), stdv = channel_tensor<R>(d.stdv, sh);
        return [=]() mutable { xt::noalias(y) = (x - mean) / stdv; };
    }
    case workload::bn_eval: {
        const xt::xtensor<float, 1> rm = xt::adapt(d.running_mean), rv = xt::adapt(d.running_var);
        return [=]() mutable {
            const xt::xtensor<float, 1> a = weight / xt::sqrt(rv + eps);
            const xt::xtensor<float, 1> b = bias - rm * a;
            xt::noalias(y) = x * channel_tensor<R>(a, sh) + channel_tensor<R>(b, sh);
        };
    }
    case workload::bn_train: {
        o.tolerance = 1e-3;
        auto running = std::make_shared<std::pair<xt::xtensor<float, 1>, xt::xtensor<float, 1>>>(
            xt::adapt(d.running_mean), xt::adapt(d.running_var));
        return [=]() mutable {
            const xt::xtensor<float, 1> mean = xt::mean(x, sh.reduced, xt::evaluation_strategy::immediate);
            const auto mean_b = channel_tensor<R>(mean, sh);
            const xt::xtensor<float, 1> var =
                xt::mean(xt::square(x - mean_b), sh.reduced, xt::evaluation_strategy::immediate);
            running->first = running->first * (1 - momentum) + mean * momentum;
            running->second = running->second * (1 - momentum) + var * (momentum * m / (m - 1));
            const xt::xtensor<float, 1> a = weight / xt::sqrt(var + eps);
            const xt::xtensor<float, 1> b = bias - mean * a;
            xt::noalias(y) = x * channel_tensor<R>(a, sh) + channel_tensor<R>(b, sh);
        };
    }
    default:
        return {};
    }
}

body make(case_data& d, run_options& o, workload wl) {
    const bool one_d = d.spec->order == layout::ncl || d.spec->order == layout::nlc;
    return one_d ? make_rank<3>(d, o, wl) : make_rank<4>(d, o, wl);
}

} // namespace

void register_xtensor() {
#if defined(XTENSOR_USE_XSIMD)
    const char* simd = " (XTENSOR_USE_XSIMD)";
#else
    const char* simd = " (no xsimd)";
#endif
    benchmark::AddCustomContext("nf_xtensor_version", std::to_string(XTENSOR_VERSION_MAJOR) + "." +
                                                          std::to_string(XTENSOR_VERSION_MINOR) + "." +
                                                          std::to_string(XTENSOR_VERSION_PATCH) + simd);
    for (const auto& c : channel_cases()) {
        add("normalize", c, "xtensor", workload::normalize,
            [](case_data& d, run_options& o) { return make(d, o, workload::normalize); });
        add("bn_eval", c, "xtensor", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_eval); });
        add("bn_train", c, "xtensor", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_train); });
    }
}

} // namespace bench
