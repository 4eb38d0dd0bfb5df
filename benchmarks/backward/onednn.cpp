// benchmarks/backward/onednn.cpp: oneDNN 2.x batch_normalization_backward (prop_kind::backward: dx, dscale, dshift) on the shared buffers, training and eval (use_global_stats).
//
// From the saved batch mean and variance (oneDNN takes the variance: 1 / invstd^2 - eps), x, dy
// and the scale, into the shared dx. The primitive is created outside the timing; the kernel
// oneDNN chose is the benchmark's label. One thread (OpenMP set to 1 when the suite has it).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backward/cases.hpp"

namespace bwbench {
namespace {

struct bn_bwd {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    dnnl::batch_normalization_backward primitive;
    std::vector<float> variance, diff_shift;
    dnnl::memory src, diff_dst, diff_src, mean, var, scale, shift, diff_scale, diff_shift_m;
};

/// Global: the eval backward (use_global_stats: dx through the given mean and variance, here the
/// batch's, as running statistics).
template <bool Global>
body make(data& d, std::string& label) {
    const shape& s = *d.s;
    using dim = dnnl::memory::dim;
    const dnnl::memory::dims dims{static_cast<dim>(s.n), static_cast<dim>(s.c), static_cast<dim>(s.h),
                                  static_cast<dim>(s.w)};
    const auto tag = s.order == layout::nhwc ? dnnl::memory::format_tag::nhwc : dnnl::memory::format_tag::nchw;
    const dnnl::memory::desc md(dims, dnnl::memory::data_type::f32, tag);
    const dnnl::memory::desc vec({static_cast<dim>(s.c)}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x);
    auto p = std::make_shared<bn_bwd>();
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift |
                       (Global ? dnnl::normalization_flags::use_global_stats : dnnl::normalization_flags::none);
    const dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, md, static_cast<float>(d.eps),
                                                     flags);
    const dnnl::batch_normalization_forward::primitive_desc fpd(fd, p->engine);
    const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, md, md, static_cast<float>(d.eps),
                                                      flags);
    const dnnl::batch_normalization_backward::primitive_desc bpd(bd, p->engine, fpd);
    label = bpd.impl_info_str();
    p->primitive = dnnl::batch_normalization_backward(bpd);
    for (std::size_t j = 0; j < s.c; ++j)
        p->variance.push_back(static_cast<float>(1.0 / (d.invstd_d[j] * d.invstd_d[j]) - d.eps));
    p->diff_shift.resize(s.c);
    p->src = dnnl::memory(md, p->engine, d.x);
    p->diff_dst = dnnl::memory(md, p->engine, d.dy);
    p->diff_src = dnnl::memory(md, p->engine, d.dx);
    p->mean = dnnl::memory(vec, p->engine, d.mean_f.data());
    p->var = dnnl::memory(vec, p->engine, p->variance.data());
    p->scale = dnnl::memory(vec, p->engine, d.weight.data());
    p->shift = dnnl::memory(vec, p->engine, d.bias.data());
    p->diff_scale = dnnl::memory(vec, p->engine, d.dweight.data());
    p->diff_shift_m = dnnl::memory(vec, p->engine, d.dbias.data());
    return [p] {
        p->primitive.execute(p->stream, {{DNNL_ARG_SRC, p->src},
                                         {DNNL_ARG_DIFF_DST, p->diff_dst},
                                         {DNNL_ARG_MEAN, p->mean},
                                         {DNNL_ARG_VARIANCE, p->var},
                                         {DNNL_ARG_SCALE, p->scale},
                                         {DNNL_ARG_SHIFT, p->shift},
                                         {DNNL_ARG_DIFF_SRC, p->diff_src},
                                         {DNNL_ARG_DIFF_SCALE, p->diff_scale},
                                         {DNNL_ARG_DIFF_SHIFT, p->diff_shift_m}});
        p->stream.wait();
    };
}

} // namespace

void register_onednn() {
    const dnnl_version_t* v = dnnl_version();
    benchmark::AddCustomContext("nf_onednn_version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                                         std::to_string(v->patch));
    for (const auto& s : bn_shapes()) add("bn_train_bw", s, "onednn", kind::bn_train, make<false>);
    for (const auto& s : bn_shapes()) add("bn_eval_bw", s, "onednn", kind::bn_eval, make<true>);
}

} // namespace bwbench
