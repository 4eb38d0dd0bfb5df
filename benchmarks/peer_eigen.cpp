// benchmarks/peer_eigen.cpp: Eigen's Tensor module (unsupported/Eigen/CXX11/Tensor), as a user writes it.
//
// TensorMaps over the shared buffers (row-major, the case's axis order); per-channel vectors are
// reshaped to (1, C, 1, 1) (or wherever C is) and broadcast. BatchNorm folds its parameters into
// per-channel a and b with 1-d tensor expressions first; training takes the mean and the
// variance with Eigen reductions (two reads), then writes x * a + b. Single-threaded
// (DefaultDevice).
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <unsupported/Eigen/CXX11/Tensor>

#include "support/cases.hpp"

namespace bench {
namespace {

using Eigen::Index;
using vector_t = Eigen::Tensor<float, 1, Eigen::RowMajor>;
using vector_map = Eigen::TensorMap<const vector_t>;

template <int R>
struct shapes {
    Eigen::array<Index, R> dims{}, reshape{}, broadcast{};
    Eigen::array<Index, R - 1> reduced{};
};

template <int R>
shapes<R> shapes_of(const case_spec& s) {
    shapes<R> sh;
    const Index n = static_cast<Index>(s.n), c = static_cast<Index>(s.c), h = static_cast<Index>(s.h),
                w = static_cast<Index>(s.w);
    int cpos = 1;
    if constexpr (R == 4) {
        if (s.order == layout::nhwc) {
            sh.dims = {n, h, w, c};
            cpos = 3;
        } else {
            sh.dims = {n, c, h, w};
        }
    } else {
        if (s.order == layout::nlc) {
            sh.dims = {n, h, c};
            cpos = 2;
        } else {
            sh.dims = {n, c, h};
        }
    }
    for (int i = 0, j = 0; i < R; ++i) {
        sh.reshape[i] = i == cpos ? c : 1;
        sh.broadcast[i] = i == cpos ? 1 : sh.dims[i];
        if (i != cpos) sh.reduced[j++] = i;
    }
    return sh;
}

template <int R>
body make_rank(case_data& d, run_options& o, workload wl) {
    using tensor_t = Eigen::Tensor<float, R, Eigen::RowMajor>;
    const shapes<R> sh = shapes_of<R>(*d.spec);
    Eigen::TensorMap<const tensor_t> x(d.x, sh.dims);
    Eigen::TensorMap<tensor_t> y(d.y, sh.dims);
    const Index c = static_cast<Index>(d.spec->c);
    const vector_map mean(d.mean.data(), c), stdv(d.stdv.data(), c), weight(d.weight.data(), c), bias(d.bias.data(), c),
        rm(d.running_mean.data(), c), rv(d.running_var.data(), c);
    const float eps = static_cast<float>(d.eps), momentum = static_cast<float>(d.momentum);
    const float m = static_cast<float>(d.spec->size() / d.spec->c);
    switch (wl) {
    case workload::normalize:
        return [=]() mutable {
            y = (x - mean.reshape(sh.reshape).broadcast(sh.broadcast)) /
                stdv.reshape(sh.reshape).broadcast(sh.broadcast);
        };
    case workload::bn_eval:
        return [=]() mutable {
            vector_t a = weight / (rv + eps).sqrt();
            vector_t b = bias - rm * a;
            y = x * a.reshape(sh.reshape).broadcast(sh.broadcast) + b.reshape(sh.reshape).broadcast(sh.broadcast);
        };
    case workload::bn_train: {
        o.tolerance = 1e-3;
        auto running = std::make_shared<std::pair<vector_t, vector_t>>(vector_t(rm), vector_t(rv));
        return [=]() mutable {
            vector_t batch_mean = x.mean(sh.reduced);
            vector_t batch_var = (x - batch_mean.reshape(sh.reshape).broadcast(sh.broadcast)).square().mean(sh.reduced);
            running->first = running->first * (1 - momentum) + batch_mean * momentum;
            running->second = running->second * (1 - momentum) + batch_var * (momentum * m / (m - 1));
            vector_t a = weight * (batch_var + eps).rsqrt();
            vector_t b = bias - batch_mean * a;
            y = x * a.reshape(sh.reshape).broadcast(sh.broadcast) + b.reshape(sh.reshape).broadcast(sh.broadcast);
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

void register_eigen() {
    benchmark::AddCustomContext("nf_eigen_version", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                                        std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                                        std::to_string(EIGEN_MINOR_VERSION));
    for (const auto& c : channel_cases()) {
        add("normalize", c, "eigen", workload::normalize,
            [](case_data& d, run_options& o) { return make(d, o, workload::normalize); });
        add("bn_eval", c, "eigen", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_eval); });
        add("bn_train", c, "eigen", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_train); });
    }
}

} // namespace bench
