// benchmarks/peer_onednn.cpp: oneDNN 2.x batch_normalization_forward, inference and training, on the shared buffers.
//
// Inference: use_global_stats | use_scale | use_shift (running statistics given). Training:
// use_scale | use_shift; oneDNN returns the batch mean and biased variance and does not keep
// running statistics, so the update (per channel, as PyTorch) is done after it and timed with it.
// The primitive is created outside the timing; the kernel oneDNN chose is the benchmark's label.
// Statistics and output are in f32, the running-statistics update in double.
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "support/cases.hpp"

namespace bench {
namespace {

struct bn_primitive {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    dnnl::batch_normalization_forward primitive;
    std::vector<float> mean, variance, scale, shift;
    std::vector<float> running_mean, running_var; // training: the layer's own
    dnnl::memory src, dst, mean_m, variance_m, scale_m, shift_m;
};

dnnl::memory::format_tag tag_of(layout l) {
    switch (l) {
    case layout::nchw:
        return dnnl::memory::format_tag::nchw;
    case layout::nhwc:
        return dnnl::memory::format_tag::nhwc;
    case layout::ncl:
        return dnnl::memory::format_tag::nchw; // as (N, C, L, 1), see make()
    case layout::nlc:
        return dnnl::memory::format_tag::nhwc;
    }
    return dnnl::memory::format_tag::any;
}

body make(case_data& d, run_options& o, bool training, int threads) {
    const case_spec& s = *d.spec;
    o.threads = threads;
    if (!training)
        o.tolerance = 2e-4;
    else
        o.tolerance = 1e-3;
    using dim = dnnl::memory::dim;
    const dim n = static_cast<dim>(s.n), c = static_cast<dim>(s.c), h = static_cast<dim>(s.h),
              w = static_cast<dim>(s.w);
    // A 1-d case is given as (N, C, L, 1), the same memory: oneDNN 2.6 has optimized batch
    // normalization kernels for 4-d and 5-d tensors only and falls back to its reference
    // implementation for (N, C, L) (what PyTorch's oneDNN integration does too).
    const dnnl::memory::dims dims{n, c, h, w};
    const dnnl::memory::desc md(dims, dnnl::memory::data_type::f32, tag_of(s.order));
    const dnnl::memory::desc vec({c}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x);

    set_openmp_threads(threads); // oneDNN may balance its work for the thread count at creation
    auto p = std::make_shared<bn_primitive>();
    auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    if (!training) flags = flags | dnnl::normalization_flags::use_global_stats;
    const auto kind = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    const dnnl::batch_normalization_forward::desc desc(kind, md, static_cast<float>(d.eps), flags);
    const dnnl::batch_normalization_forward::primitive_desc pd(desc, p->engine);
    o.label = pd.impl_info_str();
    p->primitive = dnnl::batch_normalization_forward(pd);
    set_openmp_threads(1);

    p->mean = training ? std::vector<float>(s.c) : d.running_mean;
    p->variance = training ? std::vector<float>(s.c) : d.running_var;
    p->scale = d.weight;
    p->shift = d.bias;
    p->running_mean = d.running_mean;
    p->running_var = d.running_var;
    p->src = dnnl::memory(md, p->engine, d.x);
    p->dst = dnnl::memory(md, p->engine, d.y);
    p->mean_m = dnnl::memory(vec, p->engine, p->mean.data());
    p->variance_m = dnnl::memory(vec, p->engine, p->variance.data());
    p->scale_m = dnnl::memory(vec, p->engine, p->scale.data());
    p->shift_m = dnnl::memory(vec, p->engine, p->shift.data());

    const double m = static_cast<double>(s.size() / s.c), momentum = d.momentum;
    return [p, training, threads, m, momentum] {
        set_openmp_threads(threads);
        p->primitive.execute(p->stream, {{DNNL_ARG_SRC, p->src},
                                         {DNNL_ARG_DST, p->dst},
                                         {DNNL_ARG_MEAN, p->mean_m},
                                         {DNNL_ARG_VARIANCE, p->variance_m},
                                         {DNNL_ARG_SCALE, p->scale_m},
                                         {DNNL_ARG_SHIFT, p->shift_m}});
        p->stream.wait();
        if (training) {
            for (std::size_t j = 0; j < p->mean.size(); ++j) {
                p->running_mean[j] = static_cast<float>((1 - momentum) * p->running_mean[j] + momentum * p->mean[j]);
                p->running_var[j] =
                    static_cast<float>((1 - momentum) * p->running_var[j] + momentum * p->variance[j] * m / (m - 1));
            }
        }
        set_openmp_threads(1);
    };
}

} // namespace

void register_onednn() {
    const dnnl_version_t* v = dnnl_version();
    benchmark::AddCustomContext("nf_onednn_version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                                         std::to_string(v->patch));
    for (const auto& c : channel_cases()) {
        add("bn_eval", c, "onednn", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, false, 1); });
        add("bn_train", c, "onednn", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, true, 1); });
    }
    for (const auto& c : threaded_cases()) {
        add("bn_eval_2t", c, "onednn", workload::bn_eval,
            [](case_data& d, run_options& o) { return make(d, o, false, 2); });
        add("bn_train_2t", c, "onednn", workload::bn_train,
            [](case_data& d, run_options& o) { return make(d, o, true, 2); });
    }
}

} // namespace bench
