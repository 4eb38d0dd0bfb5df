// benchmarks/normfuse.cpp: normfuse's layers (nn::normalize, nn::batch_norm) on views of the shared buffers.
//
//   normfuse            the library as a user gets it: default settings, one thread
//   normfuse_stream16m  with the streaming-store threshold set to 16 MiB (half of this machine's
//                       32 MiB L3), when the library has that knob: shows what the store type
//                       costs or gains, independently of the library's own cache detection
//   *_2t workloads      nf::set_num_threads(2), when the library has that API
//
// The code of the workloads is normfuse_layer_kernels.hpp, instantiated here for this unit's
// architecture (the suite's flags); normfuse_dispatch.cpp runs the same code built through
// runtime dispatch ("normfuse_dispatch").
#include <benchmark/benchmark.h>

#include <string>

#include <normfuse/normfuse.hpp>
#if __has_include(<normfuse/core/cache_info.hpp>)
#include <normfuse/core/cache_info.hpp>
#endif

#include "normfuse_layer_cases.hpp"
#include "normfuse_layer_kernels.hpp"
#include "support/cases.hpp"

namespace bench {

void register_layer_workloads(const std::string& implementation, const layer_maker& make, layer_api api) {
    auto add_channel_workloads = [&](const case_spec& c, const std::string& suffix, const std::string& impl,
                                     layer_settings s) {
        const std::pair<const char*, std::pair<layer_job, workload>> jobs[] = {
            {"normalize", {layer_job::normalize, workload::normalize}},
            {"bn_eval", {layer_job::bn_eval, workload::bn_eval}},
            {"bn_train", {layer_job::bn_train, workload::bn_train}},
        };
        for (const auto& [name, job] : jobs) {
            add(name + suffix, c, impl, job.second, [make, job = job.first, s](case_data& d, run_options& o) {
                o.threads = s.threads;
                return make(job, d, s, o);
            });
        }
    };
    for (const auto& c : channel_cases()) {
        add_channel_workloads(c, "", implementation, {});
        add("bn_stats", c, implementation, workload::stats,
            [make](case_data& d, run_options& o) { return make(layer_job::stats, d, {}, o); });
        if (api.streaming_threshold) add_channel_workloads(c, "", implementation + "_stream16m", {1, true});
    }
    if (api.threads)
        for (const auto& c : threaded_cases()) add_channel_workloads(c, "_2t", implementation, {2, false});
}

void register_normfuse() {
    benchmark::AddCustomContext("nf_normfuse_arch", xsimd::default_arch::name());
#if __has_include(<normfuse/core/cache_info.hpp>)
    {
        const nf::cache_info llc = nf::last_level_cache();
        benchmark::AddCustomContext("nf_last_level_cache", std::to_string(llc.bytes >> 10) + " KiB (L" +
                                                               std::to_string(llc.level) + "; from " +
                                                               std::string(nf::to_string(llc.source)) + ")");
    }
#endif
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    benchmark::AddCustomContext("nf_streaming_threshold_bytes", std::to_string(nf::streaming_threshold()));
#endif
    layer_api api;
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    api.streaming_threshold = true;
#endif
#if defined(NF_BENCH_HAVE_NF_THREADS) && defined(_OPENMP)
    api.threads = true;
#endif
    register_layer_workloads(
        "normfuse",
        [](layer_job job, case_data& d, layer_settings s, run_options&) {
            return layer_kernels::make_layer_body<xsimd::default_arch>(job, d, s);
        },
        api);
}

} // namespace bench
