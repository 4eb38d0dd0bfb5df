// The ODR layer test's driver (like main.cpp, for the layers of layers.hpp): runs the AVX2 and,
// when the CPU has it, the AVX-512 unit, and checks every layer output of each against a double
// reference, and the units against each other.
#include "check.hpp"
#include "layers.hpp"

#include <functional>

nf_odr_layers::results run_layers_avx2();
#if NF_ODR_HAVE_AVX512
nf_odr_layers::results run_layers_avx512();
#endif

namespace {
struct main_unit {};
using namespace nf_odr_check;
namespace L = nf_odr_layers;

/// A reference output with a bound per element.
struct reference {
    std::vector<double> value, tolerance;
};

/// y = (x - m_s) * r_s * g + b for each element, s = slot(i), with r_s = 1 / sqrt(v_s + eps)
/// from per-slot statistics `m`, `v` (m = 0 for RMSNorm). The float bound, for either way a layer
/// may evaluate it: (x - m) * r, m and v rounded to float once, then x - m, v + eps, sqrt, the
/// reciprocal or division and each product once (about u (|r| |m| + 5.5 |y|)); or folded,
/// x * r + (-m * r), where x * r and m * r round once each before the sum (u |r| (|x| + |m|) on
/// top); or shifted by an element k of the slot, (x - k) * r + (-(m - k) * r), where x - k,
/// (m - k) r and the product round once each (u |r| (2 R) more, R the slot's range, which bounds
/// |x - k| and |m - k|). Below u (|r| (2 |m| + 2 |x| + 8 |x - m| + 4 R) + 2 |y|) in every case (as
/// in tests/dispatch/main.cpp).
reference normalized(const std::vector<double>& x, const std::function<std::size_t(std::size_t)>& slot,
                     const std::vector<double>& m, const std::vector<double>& v, double eps,
                     const std::vector<double>& range) {
    reference r;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t s = slot(i);
        const double scale = 1 / std::sqrt(v[s] + eps);
        const double y = (x[i] - m[s]) * scale;
        r.value.push_back(y);
        r.tolerance.push_back(
            u * (scale * (2 * std::abs(m[s]) + 2 * std::abs(x[i]) + 8 * std::abs(x[i] - m[s]) + 4 * range[s]) +
                 2 * std::abs(y)));
    }
    return r;
}

/// Per-slot mean, variance with divisor count - correction, mean of squares and range.
struct slot_stats {
    std::vector<double> mean, var, mean_square, range;
};
slot_stats stats(const std::vector<double>& x, const std::function<std::size_t(std::size_t)>& slot, std::size_t slots,
                 double correction = 0) {
    slot_stats s{std::vector<double>(slots), std::vector<double>(slots), std::vector<double>(slots),
                 std::vector<double>(slots)};
    std::vector<double> count(slots), lo(slots, 1e300), hi(slots, -1e300);
    for (std::size_t i = 0; i < x.size(); ++i) {
        s.mean[slot(i)] += x[i];
        s.mean_square[slot(i)] += x[i] * x[i];
        count[slot(i)] += 1;
        lo[slot(i)] = std::min(lo[slot(i)], x[i]);
        hi[slot(i)] = std::max(hi[slot(i)], x[i]);
    }
    for (std::size_t k = 0; k < slots; ++k) s.range[k] = hi[k] - lo[k];
    for (std::size_t k = 0; k < slots; ++k) {
        s.mean[k] /= count[k];
        s.mean_square[k] /= count[k];
    }
    for (std::size_t i = 0; i < x.size(); ++i) s.var[slot(i)] += std::pow(x[i] - s.mean[slot(i)], 2);
    for (std::size_t k = 0; k < slots; ++k) s.var[k] /= count[k] - correction;
    return s;
}

void expect(const std::string& what, const std::vector<float>& got, const reference& want) {
    expect_near(what, got, want.value, [&](std::size_t i, double) { return want.tolerance[i]; });
}

std::vector<double> input(std::size_t size, std::size_t inner) {
    std::vector<double> x(size);
    for (std::size_t i = 0; i < size; ++i) x[i] = L::input_value<main_unit>(i, (i / inner) % L::c);
    return x;
}

/// BatchNorm of an (N, C, inner) input: training output and, after that step, the eval output
/// with running_mean = 0.1 mean, running_var = 0.9 + 0.1 unbiased variance.
void check_batch_norm(const std::string& what, const std::vector<float>& train, const std::vector<float>& eval,
                      std::size_t inner) {
    const std::vector<double> x = input(L::n * L::c * inner, inner);
    const auto channel = [&](std::size_t i) { return (i / inner) % L::c; };
    const slot_stats s = stats(x, channel, L::c), su = stats(x, channel, L::c, 1);
    expect(what + " training", train, normalized(x, channel, s.mean, s.var, 1e-5, s.range));
    std::vector<double> rm(L::c), rv(L::c);
    for (std::size_t k = 0; k < L::c; ++k) {
        rm[k] = 0.1 * s.mean[k];
        rv[k] = 0.9 + 0.1 * su.var[k];
    }
    expect(what + " eval", eval, normalized(x, channel, rm, rv, 1e-5, s.range));
}

void check_unit(const std::string& unit, const L::results& r) {
    check_batch_norm(unit + " batch_norm1d", r.bn1_train, r.bn1_eval, L::l);
    check_batch_norm(unit + " batch_norm2d", r.bn2_train, r.bn2_eval, L::h * L::w);
    check_batch_norm(unit + " batch_norm3d", r.bn3_train, r.bn3_eval, L::d * L::h * L::w);

    const std::size_t hw = L::h * L::w;
    const std::vector<double> x = input(L::n * L::c * hw, hw);
    const auto plane = [&](std::size_t i) { return i / hw; };       // (n, c)
    const auto group = [&](std::size_t i) { return i / (2 * hw); }; // (n, c / 2)
    const auto row = [&](std::size_t i) { return i / L::w; };       // (n, c, h)
    const auto channel = [&](std::size_t i) { return (i / hw) % L::c; };
    const slot_stats sp = stats(x, plane, L::n * L::c), sg = stats(x, group, L::n * 2),
                     sr = stats(x, row, L::n * L::c * L::h);
    expect(unit + " instance_norm2d", r.instance, normalized(x, plane, sp.mean, sp.var, 1e-5, sp.range));
    expect(unit + " layer_norm (H, W)", r.layer, normalized(x, plane, sp.mean, sp.var, 1e-5, sp.range));
    expect(unit + " group_norm (2 groups)", r.group, normalized(x, group, sg.mean, sg.var, 1e-5, sg.range));
    expect(unit + " rms_norm (W)", r.rms,
           normalized(x, row, std::vector<double>(sr.mean.size(), 0.0), sr.mean_square, L::rms_eps, sr.range));
    const std::vector<double> mean{0.5, -1.0, 2.0, 4.0}, sd{0.25, 2.0, 0.5, 3.0};
    std::vector<double> var(4);
    for (std::size_t k = 0; k < 4; ++k) var[k] = sd[k] * sd[k];
    const slot_stats sc = stats(x, channel, L::c);
    expect(unit + " normalize", r.normalize, normalized(x, channel, mean, var, 0.0, sc.range));
}
} // namespace

int main() {
    if (!cpu_has_avx2()) {
        std::puts("skipped: this CPU has no AVX2/FMA");
        return skip_return_code;
    }
    const L::results avx2 = run_layers_avx2();
    check_unit("AVX2 unit", avx2);
    std::puts("AVX2 unit ran");
#if NF_ODR_HAVE_AVX512
    if (cpu_has_avx512()) {
        const L::results avx512 = run_layers_avx512();
        check_unit("AVX-512 unit", avx512);
        std::puts("AVX-512 unit ran");
        // Both within their bounds of the reference: within the sum of the bounds of each other
        // (checked above through the reference).
    } else {
        std::puts("note: this CPU has no AVX-512; only the AVX2 unit ran");
    }
#else
    std::puts("note: the compiler does not accept the AVX-512 flags; only the AVX2 unit was built");
#endif
    std::puts(failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
