// The dispatch test's kernels, compiled once per architecture (see kernels.hpp).
#include "kernels.hpp"

namespace nf_dispatch_test {

template <class Arch>
std::string_view
normalize_expression<Arch>::operator()(nf::view<const float, nchw> x, nf::view<const float, channels> gamma,
                                       nf::view<const float, channels> beta, nf::view<float, nchw> y, float eps) const {
    nf::assign<Arch>(y, (x - nf::mean<N, H, W>(x)) * nf::rsqrt(nf::var<N, H, W>(x) + eps) * gamma + beta);
    return Arch::name();
}

template <class Arch>
std::string_view channel_moments<Arch>::operator()(const nf::tensor<float, nhwc>& x, const nf::tensor<double, nhwc>& xd,
                                                   nf::tensor<float, channels>& mean, nf::tensor<float, channels>& var,
                                                   nf::tensor<double, channels>& mean_d,
                                                   nf::tensor<double, channels>& var_d) const {
    // Calls without an explicit Arch use xsimd::default_arch, which in a per-architecture unit is
    // that unit's Arch (dispatch.hpp checks it at compile time).
    auto [m, v] = nf::moments<N, H, W>(x);
    auto [md, vd] = nf::moments<N, H, W>(xd);
    mean = std::move(m);
    var = std::move(v);
    mean_d = std::move(md);
    var_d = std::move(vd);
    return Arch::name();
}

template <class Arch>
std::string_view layers<Arch>::operator()(const nf::tensor<float, nchw>& x, nf::tensor<float, nchw>& bn_out,
                                          const nf::tensor<float, nhwc>& xl, nf::tensor<float, nhwc>& ln_out) const {
    nf::nn::batch_norm2d<float> bn(x.extent<C<>>());
    bn.template forward<Arch>(x, bn_out);
    nf::nn::layer_norm<float, channels> ln({xl.extent<C<>>()});
    ln.template forward<Arch>(xl, ln_out);
    return Arch::name();
}

} // namespace nf_dispatch_test

template <class Arch>
int nf_dispatch_test::openmp_probe<Arch>::operator()() const {
#if defined(_OPENMP)
    return 1;
#else
    return 0;
#endif
}

NF_DISPATCH_INSTANTIATE(nf_dispatch_test::openmp_probe)
NF_DISPATCH_INSTANTIATE(nf_dispatch_test::normalize_expression)
NF_DISPATCH_INSTANTIATE(nf_dispatch_test::channel_moments)
NF_DISPATCH_INSTANTIATE(nf_dispatch_test::layers)
