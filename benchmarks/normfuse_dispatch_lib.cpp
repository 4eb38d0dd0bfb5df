// benchmarks/normfuse_dispatch_lib.cpp: the exported entry points of the dispatched build; compiled without -m flags, like a consumer's code.
#include "normfuse_dispatch.hpp"

#include <string_view>

#include <normfuse/normfuse.hpp>

#include "normfuse_dispatch_kernels.hpp"

namespace bench::dispatched {

layer_body make_layer_body(layer_job job, case_data& d, layer_settings s) {
    std::string_view arch_name;
    body step = nf::dispatch<layer_kernel>(job, d, s, arch_name);
    return {std::move(step), std::string(nf::active_arch_name()) + " (xsimd::" + std::string(arch_name) + ")"};
}

std::string active_level() {
    return std::string(nf::active_arch_name());
}

std::string levels_built() {
    std::string out;
    for (nf::isa level : nf::dispatch_kernel_levels<layer_kernel>::levels) {
        if (!out.empty()) out += ' ';
        out += nf::isa_name(level);
    }
    return out.empty() ? "none (compiled once, for the unit's own flags)" : out;
}

layer_api api() {
    layer_api a;
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    a.streaming_threshold = true;
#endif
#if defined(NF_BENCH_HAVE_NF_THREADS) && defined(_OPENMP)
    a.threads = true;
#endif
    return a;
}

} // namespace bench::dispatched
