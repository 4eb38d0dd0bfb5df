// benchmarks/main.cpp: the suite's entry point: registers every implementation that was built, then runs Google Benchmark.
//
// Run it through scripts/bench.sh, which passes the options of the method in docs/performance.md:
// repetitions with random interleaving, median aggregates, JSON output.
#include <benchmark/benchmark.h>

#include <string>

#include "support/cases.hpp"
#include "support/kernels.hpp"

int main(int argc, char** argv) {
    // Peers that use OpenMP default to every core; the suite is single-threaded unless a
    // benchmark says otherwise (the *_2t workloads).
    bench::set_openmp_threads(1);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    std::string peers;
    [[maybe_unused]] auto peer = [&peers](const char* name) {
        peers += peers.empty() ? name : std::string(",") + name;
    };
#if defined(__clang__)
    benchmark::AddCustomContext("nf_compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
    benchmark::AddCustomContext("nf_compiler", std::string("g++ ") + __VERSION__);
#endif
    // The instruction set the floors and hand-written loops were compiled for (normfuse's own
    // is reported by register_normfuse, with the cache size it detected).
    benchmark::AddCustomContext("nf_kernels_isa", bench::kernels::isa_name());
    bench::register_floors();
    bench::register_hand();
    bench::register_normfuse();
    bench::register_normfuse_dispatch();
    bench::register_normfuse_dsl();
#if defined(NF_BENCH_HAVE_DNNL)
    bench::register_onednn();
    peer("onednn");
#endif
#if defined(NF_BENCH_HAVE_TORCH)
    bench::register_libtorch();
    peer("libtorch");
#endif
#if defined(NF_BENCH_HAVE_EIGEN)
    bench::register_eigen();
    peer("eigen");
#endif
#if defined(NF_BENCH_HAVE_XTENSOR)
    bench::register_xtensor();
    peer("xtensor");
#endif
    benchmark::AddCustomContext("nf_peers", peers.empty() ? "none" : peers);
#if defined(NF_BENCH_HAVE_NF_THREADS) && defined(_OPENMP)
    benchmark::AddCustomContext("nf_threads_api", "nf::set_num_threads (OpenMP)");
#else
    benchmark::AddCustomContext("nf_threads_api", "none");
#endif
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
