// benchmarks/normfuse_dispatch.cpp: registers "normfuse_dispatch", normfuse's layer workloads built through runtime dispatch.
//
//   normfuse_dispatch            the cases of "normfuse" (normfuse.cpp), same shapes and threads,
//   normfuse_dispatch_stream16m  and of "normfuse_stream16m", run by libnf_bench_normfuse_dispatch
//                                (normfuse_dispatch.hpp): no -m flag, kernels built per level
//                                by normfuse_add_dispatched_sources, called through nf::dispatch.
//
// The level is the widest the CPU has; the environment variable NF_ARCH=sse2|avx2|avx512 caps it
// (nf::dispatch reads it; scripts/bench.sh --nf-arch LEVEL sets it). The benchmark's label and
// the context entry nf_dispatch_level say which level ran.
#include <benchmark/benchmark.h>

#include <string>

#include "normfuse_dispatch.hpp"
#include "normfuse_layer_cases.hpp"
#include "support/cases.hpp"

namespace bench {

void register_normfuse_dispatch() {
    benchmark::AddCustomContext("nf_dispatch_levels_built", dispatched::levels_built());
    benchmark::AddCustomContext("nf_dispatch_level", dispatched::active_level());
    register_layer_workloads(
        "normfuse_dispatch",
        [](layer_job job, case_data& d, layer_settings s, run_options& o) {
            dispatched::layer_body b = dispatched::make_layer_body(job, d, s);
            o.label = b.level;
            return b.step;
        },
        dispatched::api());
}

} // namespace bench
