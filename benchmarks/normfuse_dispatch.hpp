// benchmarks/normfuse_dispatch.hpp: the entry points of libnf_bench_normfuse_dispatch, normfuse's layer workloads built through runtime dispatch.
//
// The library is normfuse as a find_package consumer without -m flags builds it: the workloads of
// normfuse_layer_kernels.hpp compiled once per level (sse2, avx2, avx512) by
// normfuse_add_dispatched_sources, with only the helper's flags, and called through
// nf::dispatch. It is a shared library with hidden symbols because normfuse_bench also holds the
// same workloads compiled with -march=native (implementation "normfuse"): both builds instantiate
// the same templates under the same names (nf::nn::normalize<float>::forward<xsimd::avx512bw, ...>,
// ...), and in one statically linked program the linker would keep one copy of each, so that both
// implementations would run the same machine code. Inside the shared library the dispatched
// build's calls are bound to its own copies; only the functions below are exported.
#pragma once

#include <string>

#include "normfuse_layer_cases.hpp"
#include "support/cases.hpp"

#if defined(__GNUC__)
#define NF_BENCH_DISPATCH_API __attribute__((visibility("default")))
#else
#define NF_BENCH_DISPATCH_API
#endif

namespace bench::dispatched {

/// The body of a dispatched layer workload and the level nf::dispatch chose for it.
struct layer_body {
    body step;
    std::string level; ///< e.g. "avx512 (xsimd::avx512bw)": nf::active_arch_name() and the kernel's Arch::name()
};

/// Makes the body of a workload through nf::dispatch: the level is the widest the CPU runs,
/// capped by NF_ARCH or set_max_arch.
NF_BENCH_DISPATCH_API layer_body make_layer_body(layer_job job, case_data& d, layer_settings s);

/// nf::active_arch_name() of the dispatched build (reads NF_ARCH the first time).
NF_BENCH_DISPATCH_API std::string active_level();
/// The levels the kernels were compiled for, narrowest first, e.g. "sse2 avx2 avx512".
NF_BENCH_DISPATCH_API std::string levels_built();
/// What the dispatched build offers (the same API checks as "normfuse"; threads only if its
/// kernel units were compiled with OpenMP).
NF_BENCH_DISPATCH_API layer_api api();

} // namespace bench::dispatched
