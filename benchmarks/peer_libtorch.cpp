// benchmarks/peer_libtorch.cpp: libtorch (ATen) on the shared buffers, writing into the preallocated output.
//
//   normalize  torchvision's F.normalize: sub then div_ (two passes), as at::sub_out(y, x, mean)
//              followed by y.div_(std), so that no output is allocated
//   bn_eval    at::native_batch_norm_out(y, ..., training=false) where libtorch has a CPU kernel
//              for it (2.x); else (1.13) at::batch_norm, which allocates its output
//   bn_train   the same with training=true: statistics, running-statistics update (in libtorch's
//              own tensors) and output
//   group_norm at::native_group_norm (allocates its output)
// A result that libtorch returns in memory of its own is copied into the shared output after
// the timing (run_options::finish), so the check sees it and the timing does not include it.
// Channels-last cases wrap the buffers with NHWC strides (torch.channels_last). The thread count
// is set with at::set_num_threads before every call.
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "support/cases.hpp"

namespace bench {
namespace {

std::vector<int64_t> sizes_of(const case_spec& s) {
    const auto n = static_cast<int64_t>(s.n), c = static_cast<int64_t>(s.c), h = static_cast<int64_t>(s.h),
               w = static_cast<int64_t>(s.w);
    if (s.order == layout::ncl || s.order == layout::nlc) return {n, c, h};
    return {n, c, h, w};
}

std::vector<int64_t> strides_of(const case_spec& s) {
    const auto c = static_cast<int64_t>(s.c), h = static_cast<int64_t>(s.h), w = static_cast<int64_t>(s.w);
    switch (s.order) {
    case layout::nchw:
        return {c * h * w, h * w, w, 1};
    case layout::nhwc:
        return {h * w * c, 1, w * c, c};
    case layout::ncl:
        return {c * h, h, 1};
    case layout::nlc:
        return {h * c, 1, c};
    }
    return {};
}

at::Tensor wrap(float* p, const case_spec& s) {
    return at::from_blob(p, sizes_of(s), strides_of(s), at::TensorOptions().dtype(at::kFloat));
}

at::Tensor vector_of(const std::vector<float>& v) {
    return at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat).clone();
}

/// A per-channel vector shaped to broadcast against the case: (1, C, 1, 1) or (1, C, 1).
at::Tensor channel_view(const at::Tensor& v, const case_spec& s) {
    const auto c = static_cast<int64_t>(s.c);
    if (s.order == layout::ncl || s.order == layout::nlc) return v.view({1, c, 1});
    return v.view({1, c, 1, 1});
}

struct tensors {
    at::Tensor x, y, mean, stdv, weight, bias, running_mean, running_var, save_mean, save_invstd;
};

std::shared_ptr<tensors> make_tensors(case_data& d) {
    auto t = std::make_shared<tensors>();
    const case_spec& s = *d.spec;
    t->x = wrap(d.x, s);
    t->y = wrap(d.y, s);
    t->mean = channel_view(vector_of(d.mean), s);
    t->stdv = channel_view(vector_of(d.stdv), s);
    t->weight = vector_of(d.weight);
    t->bias = vector_of(d.bias);
    t->running_mean = vector_of(d.running_mean); // the layer's own: updated in training
    t->running_var = vector_of(d.running_var);
    t->save_mean = at::empty({static_cast<int64_t>(s.c)}, at::kFloat);
    t->save_invstd = at::empty({static_cast<int64_t>(s.c)}, at::kFloat);
    return t;
}

/// Runs f once (untimed) and fails the setup if libtorch wrote its output somewhere else.
template <class F>
body checked(const std::shared_ptr<tensors>& t, float* y, F f) {
    f();
    if (t->y.data_ptr<float>() != y)
        throw std::runtime_error("libtorch replaced the preallocated output (it would not write into it)");
    return f;
}

body make(case_data& d, run_options& o, workload w, int threads) {
    o.threads = threads;
    at::set_num_threads(threads);
    auto t = make_tensors(d);
    const double eps = d.eps, momentum = d.momentum;
    float* y = d.y;
    switch (w) {
    case workload::normalize:
        return checked(t, y, [t, threads] {
            at::set_num_threads(threads);
            at::sub_out(t->y, t->x, t->mean);
            t->y.div_(t->stdv);
        });
    case workload::bn_eval:
    case workload::bn_train: {
        const bool training = w == workload::bn_train;
        if (training) o.tolerance = 1e-3;
        try {
            return checked(t, y, [t, threads, training, eps, momentum] {
                at::set_num_threads(threads);
                at::native_batch_norm_out(t->y, t->save_mean, t->save_invstd, t->x, t->weight, t->bias, t->running_mean,
                                          t->running_var, training, momentum, eps);
            });
        } catch (const c10::Error&) {
            // libtorch 1.13 registers no CPU kernel for native_batch_norm.out: the functional form
            // allocates its output, as it does for a torch user. The last result is copied into
            // the shared output after the timing, for the check.
            t->running_mean.copy_(vector_of(d.running_mean));
            t->running_var.copy_(vector_of(d.running_var));
            auto last = std::make_shared<at::Tensor>();
            o.label = "at::batch_norm, allocates its output";
            o.finish = [t, last] { t->y.copy_(*last); };
            return [t, last, threads, training, eps, momentum] {
                at::set_num_threads(threads);
                *last = at::batch_norm(t->x, t->weight, t->bias, t->running_mean, t->running_var, training, momentum,
                                       eps, false);
            };
        }
    }
    case workload::group_norm: {
        const case_spec& s = *d.spec;
        const auto n = static_cast<int64_t>(s.n), c = static_cast<int64_t>(s.c), hw = static_cast<int64_t>(s.spatial()),
                   g = static_cast<int64_t>(s.groups);
        o.label = "at::native_group_norm, allocates its output";
        o.tolerance = 1e-3;
        auto last = std::make_shared<at::Tensor>();
        o.finish = [t, last] { t->y.copy_(*last); };
        return [t, last, threads, n, c, hw, g, eps] {
            at::set_num_threads(threads);
            *last = std::get<0>(at::native_group_norm(t->x, t->weight, t->bias, n, c, hw, g, eps));
        };
    }
    default:
        return {};
    }
}

} // namespace

void register_libtorch() {
    benchmark::AddCustomContext("nf_libtorch_version", TORCH_VERSION);
    for (const auto& c : channel_cases()) {
        add("normalize", c, "libtorch", workload::normalize,
            [](case_data& d, run_options& o) { return make(d, o, workload::normalize, 1); });
        add("bn_eval", c, "libtorch", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_eval, 1); });
        add("bn_train", c, "libtorch", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_train, 1); });
    }
    for (const auto& c : threaded_cases()) {
        add("normalize_2t", c, "libtorch", workload::normalize,
            [](case_data& d, run_options& o) { return make(d, o, workload::normalize, 2); });
        add("bn_eval_2t", c, "libtorch", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_eval, 2); });
        add("bn_train_2t", c, "libtorch", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, workload::bn_train, 2); });
    }
    add("group_norm", group_case(), "libtorch", workload::group_norm,
        [](case_data& d, run_options& o) { return make(d, o, workload::group_norm, 1); });
}

} // namespace bench
