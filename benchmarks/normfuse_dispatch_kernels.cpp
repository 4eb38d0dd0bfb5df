// benchmarks/normfuse_dispatch_kernels.cpp: the layer workloads for one level; compiled by normfuse_add_dispatched_sources once per level.
#include "normfuse_dispatch_kernels.hpp"

#include "normfuse_layer_kernels.hpp"

namespace bench::dispatched {

template <class Arch>
body layer_kernel<Arch>::operator()(layer_job job, case_data& d, layer_settings s, std::string_view& arch_name) const {
    arch_name = Arch::name();
    return layer_kernels::make_layer_body<Arch>(job, d, s);
}

} // namespace bench::dispatched

NF_DISPATCH_INSTANTIATE(bench::dispatched::layer_kernel)
