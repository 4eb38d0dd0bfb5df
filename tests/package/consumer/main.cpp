// Uses an installed normfuse through the umbrella header and the dispatch helper: normalizes a
// batch per channel with the kernel of kernel.cpp, prints which architecture ran, and checks
// that it is the widest the CPU has (or NF_ARCH allows) and that the values are right.
#include "kernel.hpp"

#include <cmath>
#include <cstdio>
#include <string>

int main() {
    nf::tensor<float, nchw> x({2, 3, 5, 7}), y({2, 3, 5, 7});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 13) * 0.5f - 2.0f;
    const std::string_view ran = nf::dispatch<standardize>(x, y);
    const nf::isa level = nf::active_isa();
    std::printf("consumer: ran the %s kernel (CPU level %s)\n", std::string(ran).c_str(),
                std::string(nf::active_arch_name()).c_str());
#if defined(CONSUMER_OPENMP)
    std::puts("consumer: linked with normfuse::openmp");
#endif
    const std::string_view want = level == nf::isa::avx512 ? nf::isa_arch<nf::isa::avx512>::name()
                                  : level == nf::isa::avx2 ? nf::isa_arch<nf::isa::avx2>::name()
                                                           : nf::isa_arch<nf::isa::sse2>::name();
    bool ok = ran == want;
    if (!ok) std::printf("FAILED: want the %s kernel\n", std::string(want).c_str());
    // Every channel of y has mean 0 and variance var / (var + eps), within float rounding.
    for (std::size_t c = 0; c < 3; ++c) {
        double sum = 0, sq = 0, xs = 0, xq = 0;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t i = 0; i < 35; ++i) {
                const double v = y.data()[(n * 3 + c) * 35 + i], u = x.data()[(n * 3 + c) * 35 + i];
                sum += v;
                sq += v * v;
                xs += u;
                xq += u * u;
            }
        const double var_x = xq / 70 - (xs / 70) * (xs / 70);
        const double want_var = var_x / (var_x + 1e-5);
        if (std::abs(sum / 70) > 1e-5 || std::abs(sq / 70 - want_var) > 1e-5) {
            std::printf("FAILED: channel %zu: mean %g, variance %g (want 0, %g)\n", c, sum / 70, sq / 70, want_var);
            ok = false;
        }
    }
    return ok ? 0 : 1;
}
