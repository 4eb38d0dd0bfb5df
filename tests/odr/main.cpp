// The ODR test's driver, compiled for the baseline ISA: checks which instruction sets the CPU
// has, runs the AVX2 and AVX-512 translation units (workload.hpp), checks each against a double
// reference and the two against each other.
//
// What it catches: a normfuse function whose mangled name does not carry the instruction set
// (say, one that uses xsimd's default architecture internally) is emitted by both units, each
// copy compiled for its own ISA, and the linker keeps one of them. The static half of the test
// (check_symbols.sh, test odr.symbols) finds every such entity in the objects on any machine;
// this half checks that each unit computes the right values with what the linker kept.
// The AVX2 object is linked before the AVX-512 one (narrowest first, as the dispatch helper
// does): inline code that is not SIMD code but was compiled with AVX-512 encodings (a size_t to
// double conversion, say) then comes from the AVX2 object, so the AVX2 unit runs on a CPU
// without AVX-512; SIMD code that lacked the architecture in its name would, the other way
// round, make the AVX-512 unit run AVX2 kernels, which odr.symbols reports.
#include "check.hpp"
#include "workload.hpp"

nf_odr::results run_avx2();
#if NF_ODR_HAVE_AVX512
nf_odr::results run_avx512();
#endif

namespace {
struct main_unit {};
using namespace nf_odr_check;

/// Checks one unit's results against double references.
void check_unit(const std::string& unit, const nf_odr::results& r) {
    using nf_odr::batch, nf_odr::channels, nf_odr::length;
    std::vector<double> normalized, ex, th, sg, relayout, sum(channels), mean(channels), var(channels), var_u(channels),
        mean_l(batch * channels), mean_d(channels), var_d(channels), x_ncl;
    const double count = batch * length;
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t l = 0; l < length; ++l) {
                const double x = nf_odr::input_value<main_unit>(n, c, l);
                x_ncl.push_back(x);
                normalized.push_back((x - nf_odr::channel_mean[c]) / nf_odr::channel_sd[c]);
                ex.push_back(std::exp(x * 0.25));
                th.push_back(std::tanh(x));
                sg.push_back(1 / (1 + std::exp(-x)));
                sum[c] += x;
                mean_l[n * channels + c] += x / length;
                mean_d[c] += x * 1.5 + 1e3;
            }
    for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t l = 0; l < length; ++l)
            for (std::size_t c = 0; c < channels; ++c) relayout.push_back(nf_odr::input_value<main_unit>(n, c, l));
    for (std::size_t c = 0; c < channels; ++c) {
        mean[c] = sum[c] / count;
        mean_d[c] /= count;
    }
    for (std::size_t i = 0; i < x_ncl.size(); ++i) {
        const std::size_t c = (i / length) % channels;
        var[c] += std::pow(x_ncl[i] - mean[c], 2) / count;
        var_u[c] += std::pow(x_ncl[i] - mean[c], 2) / (count - 1);
        var_d[c] += std::pow(x_ncl[i] * 1.5 + 1e3 - mean_d[c], 2) / count;
    }

    // Exact results (inputs are multiples of 1/8 in [-6, 6.5]: their float sums are exact).
    const auto exact = [](std::size_t, double) { return 0.0; };
    // (x - m) / sd: the subtraction and the division round once each, u |x - m| / sd + u |y| = 2u |y|.
    const auto two_roundings = [](std::size_t, double want) { return 2 * u * std::abs(want) * (1 + u); };
    // Reductions accumulate in double and round to float once: u |ref| (the double error of these
    // 74 terms, below 74 * 2^-53 relative, is far below u; twice u covers it).
    const auto one_rounding = [](std::size_t, double want) { return 2 * u * std::abs(want); };
    // exp, tanh, sigmoid: a gross check (a wrong function, a wrong lane), not of xsimd's accuracy
    // (that is xsimd's to state); the units are compared bit for bit below.
    const auto gross = [](std::size_t, double want) { return 1e-5 * (1 + std::abs(want)); };
    // The double moments: normfuse sums 74 shifted terms (|x - k| <= range = 18), n eps per term:
    // n eps range for the mean, 3 n eps range^2 for the variance; the reference sums plain values
    // (n eps max|x|, max|x| <= 1018) and its two-pass variance errs by 3 n eps var. All of it, twice.
    const auto double_sums = [](std::size_t, double want) {
        return 2 * 74 * 0x1p-53 * (18.0 + 3 * 18.0 * 18.0 + 1018.0 + 3 * std::abs(want));
    };

    expect_near(unit + " (x - mean) / sd", r.normalized, normalized, two_roundings);
    expect_near(unit + " tensor(nf::exp(x / 4))", r.exp, ex, gross);
    expect_near(unit + " tensor(nf::tanh(x))", r.tanh, th, gross);
    expect_near(unit + " tensor(nf::sigmoid(x))", r.sigmoid, sg, gross);
    expect_near(unit + " tensor<nlc>(x)", r.relayout, relayout, exact);
    expect_near(unit + " view = view", r.view_copy, x_ncl, exact);
    expect_near(unit + " view = (x - mean) / sd", r.view_expr, normalized, two_roundings);
    expect_near(unit + " nf::sum<N, L>", r.sum, sum, exact);
    expect_near(unit + " nf::mean<N, L>", r.mean, mean, one_rounding);
    expect_near(unit + " nf::var<N, L>", r.var, var, one_rounding);
    expect_near(unit + " nf::var<N, L>(unbiased)", r.var_unbiased, var_u, one_rounding);
    expect_near(unit + " nf::mean<L>", r.mean_l, mean_l, one_rounding);
    expect_near(unit + " nf::moments<N, L> mean", r.moments_mean, mean, one_rounding);
    expect_near(unit + " nf::moments<N, L> var", r.moments_var, var, one_rounding);
    expect_near(unit + " nf::moments<N, L> mean (double)", r.moments_mean_d, mean_d, double_sums);
    expect_near(unit + " nf::moments<N, L> var (double)", r.moments_var_d, var_d, double_sums);
}
} // namespace

int main() {
    if (!cpu_has_avx2()) {
        std::puts("skipped: this CPU has no AVX2/FMA");
        return skip_return_code;
    }
    const nf_odr::results avx2 = run_avx2();
    check_unit("AVX2 unit", avx2);
    std::puts("AVX2 unit ran");
#if NF_ODR_HAVE_AVX512
    if (cpu_has_avx512()) {
        const nf_odr::results avx512 = run_avx512();
        check_unit("AVX-512 unit", avx512);
        std::puts("AVX-512 unit ran");
        // Elementwise results do not depend on the vector width: the same xsimd algorithms with
        // FMA on both sides, so the units must agree to the last bit.
        expect_equal("normalized", avx2.normalized, avx512.normalized);
        expect_equal("exp", avx2.exp, avx512.exp);
        expect_equal("tanh", avx2.tanh, avx512.tanh);
        expect_equal("sigmoid", avx2.sigmoid, avx512.sigmoid);
        expect_equal("view = expression", avx2.view_expr, avx512.view_expr);
    } else {
        std::puts("note: this CPU has no AVX-512; only the AVX2 unit ran");
    }
#else
    std::puts("note: the compiler does not accept the AVX-512 flags; only the AVX2 unit was built");
#endif
    std::puts(failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
