// benchmarks/normfuse_dispatch_kernels.hpp: the kernel of the dispatched layer workloads, declared for nf::dispatch.
#pragma once

#include <string_view>

#include <normfuse/dispatch.hpp>

#include "normfuse_layer_cases.hpp"
#include "support/cases.hpp"

namespace bench::dispatched {

/// make_layer_body of normfuse_layer_kernels.hpp for one architecture; returns the body and
/// Arch::name(). Defined in normfuse_dispatch_kernels.cpp, which the CMake helper compiles once
/// per level.
template <class Arch>
struct layer_kernel {
    body operator()(layer_job job, case_data& d, layer_settings s, std::string_view& arch_name) const;
};

} // namespace bench::dispatched

NF_DISPATCH_DECLARE(bench::dispatched::layer_kernel)
