// benchmarks/backward/libtorch.cpp: libtorch (ATen) backward kernels on the shared buffers.
//
//   bn_train_bw  at::native_batch_norm_backward(dy, x, weight, -, -, save_mean, save_invstd,
//                train=true, eps, {dx, dweight, dbias}): PyTorch's CPU kernel of BatchNorm's
//                autograd node; channels-last shapes wrap the buffers with NHWC strides
//   ln_bw        at::native_layer_norm_backward(dy, x, {hidden}, mean, rstd, weight, bias, ...)
//                with the mean and rstd of at::native_layer_norm (run once, untimed)
// libtorch allocates its results; the last dx is copied into the shared buffer after the timing.
// One thread (at::set_num_threads(1) before every call).
#include <benchmark/benchmark.h>

#include <memory>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "backward/cases.hpp"

namespace bwbench {
namespace {

at::Tensor wrap(const shape& s, float* p) {
    const auto n = static_cast<int64_t>(s.n), c = static_cast<int64_t>(s.c), h = static_cast<int64_t>(s.h),
               w = static_cast<int64_t>(s.w);
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    if (s.order == layout::rows) return at::from_blob(p, {n, c}, opts);
    if (s.order == layout::nhwc) return at::from_blob(p, {n, c, h, w}, {h * w * c, 1, w * c, c}, opts);
    return at::from_blob(p, {n, c, h, w}, opts);
}

at::Tensor vec(std::vector<float>& v) {
    return at::from_blob(v.data(), {static_cast<int64_t>(v.size())}, at::TensorOptions().dtype(at::kFloat));
}

body bn(data& d, std::string& label) {
    label = "at::native_batch_norm_backward";
    auto out = std::make_shared<at::Tensor>();
    const at::Tensor x = wrap(*d.s, d.x), dy = wrap(*d.s, d.dy), w = vec(d.weight), m = vec(d.mean_f),
                     is = vec(d.invstd_f);
    d.finish = [&d, out] { wrap(*d.s, d.dx).copy_(*out); };
    return [x, dy, w, m, is, out, eps = d.eps] {
        at::set_num_threads(1);
        auto r = at::native_batch_norm_backward(dy, x, w, {}, {}, m, is, true, eps, {true, true, true});
        *out = std::get<0>(r);
        benchmark::DoNotOptimize(out->data_ptr());
    };
}

body ln(data& d, std::string& label) {
    label = "at::native_layer_norm_backward";
    at::set_num_threads(1);
    auto out = std::make_shared<at::Tensor>();
    const at::Tensor x = wrap(*d.s, d.x), dy = wrap(*d.s, d.dy), w = vec(d.weight), b = vec(d.bias);
    const std::vector<int64_t> ns{static_cast<int64_t>(d.s->c)};
    const auto fwd = at::native_layer_norm(x, ns, w, b, d.eps);
    const at::Tensor mean = std::get<1>(fwd), rstd = std::get<2>(fwd);
    d.finish = [&d, out] { wrap(*d.s, d.dx).copy_(*out); };
    return [x, dy, w, b, mean, rstd, ns, out] {
        at::set_num_threads(1);
        auto r = at::native_layer_norm_backward(dy, x, ns, mean, rstd, w, b, {true, true, true});
        *out = std::get<0>(r);
        benchmark::DoNotOptimize(out->data_ptr());
    };
}

body bn_eval(data& d, std::string& label) {
    label = "at::native_batch_norm_backward (train = false)";
    auto out = std::make_shared<at::Tensor>();
    const at::Tensor x = wrap(*d.s, d.x), dy = wrap(*d.s, d.dy), w = vec(d.weight), m = vec(d.mean_f), v = vec(d.var_f);
    d.finish = [&d, out] { wrap(*d.s, d.dx).copy_(*out); };
    return [x, dy, w, m, v, out, eps = d.eps] {
        at::set_num_threads(1);
        auto r = at::native_batch_norm_backward(dy, x, w, m, v, {}, {}, false, eps, {true, true, true});
        *out = std::get<0>(r);
        benchmark::DoNotOptimize(out->data_ptr());
    };
}

/// InstanceNorm as PyTorch computes it: BatchNorm of x seen as (1, N * C, H, W), the weight
/// repeated N times; the statistics from its forward, before the timing. (The timed part leaves out
/// the sum of the repeated weight's gradient over N that autograd adds.)
body instance(data& d, std::string& label) {
    label = "at::native_batch_norm_backward on (1, N*C, H, W)";
    at::set_num_threads(1);
    auto out = std::make_shared<at::Tensor>();
    const shape& s = *d.s;
    const std::vector<int64_t> as_bn{1, static_cast<int64_t>(s.n * s.c), static_cast<int64_t>(s.h),
                                     static_cast<int64_t>(s.w)};
    const at::Tensor x = wrap(s, d.x).reshape(as_bn), dy = wrap(s, d.dy).reshape(as_bn);
    const at::Tensor w = vec(d.weight).repeat({static_cast<int64_t>(s.n)}),
                     b = vec(d.bias).repeat({static_cast<int64_t>(s.n)});
    const auto fwd = at::native_batch_norm(x, w, b, {}, {}, true, 0.1, d.eps);
    const at::Tensor mean = std::get<1>(fwd), invstd = std::get<2>(fwd);
    d.finish = [&d, out] { wrap(*d.s, d.dx).copy_(out->reshape(wrap(*d.s, d.dx).sizes())); };
    return [x, dy, w, mean, invstd, out, eps = d.eps] {
        at::set_num_threads(1);
        auto r = at::native_batch_norm_backward(dy, x, w, {}, {}, mean, invstd, true, eps, {true, true, true});
        *out = std::get<0>(r);
        benchmark::DoNotOptimize(out->data_ptr());
    };
}

body group(data& d, std::string& label) {
    label = "at::native_group_norm_backward";
    at::set_num_threads(1);
    auto out = std::make_shared<at::Tensor>();
    const shape& s = *d.s;
    const auto n = static_cast<int64_t>(s.n), c = static_cast<int64_t>(s.c), hw = static_cast<int64_t>(s.h * s.w),
               g = static_cast<int64_t>(gn_groups);
    const at::Tensor x = wrap(s, d.x), dy = wrap(s, d.dy), w = vec(d.weight), b = vec(d.bias);
    const auto fwd = at::native_group_norm(x, w, b, n, c, hw, g, d.eps);
    const at::Tensor mean = std::get<1>(fwd), rstd = std::get<2>(fwd);
    d.finish = [&d, out] { wrap(*d.s, d.dx).copy_(*out); };
    return [x, dy, w, mean, rstd, out, n, c, hw, g] {
        at::set_num_threads(1);
        auto r = at::native_group_norm_backward(dy, x, mean, rstd, w, n, c, hw, g, {true, true, true});
        *out = std::get<0>(r);
        benchmark::DoNotOptimize(out->data_ptr());
    };
}

} // namespace

void register_libtorch() {
    benchmark::AddCustomContext("nf_libtorch_version", TORCH_VERSION);
    for (const auto& s : bn_shapes()) add("bn_train_bw", s, "libtorch", kind::bn_train, bn);
    add("ln_bw", rows_shape(), "libtorch", kind::ln, ln);
    for (const auto& s : bn_shapes()) add("bn_eval_bw", s, "libtorch", kind::bn_eval, bn_eval);
    add("in_bw", bn_shapes()[0], "libtorch", kind::in, instance);
    add("gn_bw", bn_shapes()[2], "libtorch", kind::gn, group);
}

} // namespace bwbench
