// The dispatch test's driver, compiled with no -m flag (the x86-64 baseline): runs the kernels of
// kernels.cpp through nf::dispatch at every instruction-set level this CPU has (or, with --env,
// once at the level NF_ARCH allows), checks each result against a double-precision reference
// within a bound derived below, checks that the levels agree with each other within the sum of
// their bounds, and prints which architecture ran.
#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace nf_dispatch_test;

namespace {

int failures = 0;

// Unit roundoff of float and double: a correctly rounded operation errs by at most u |result|.
constexpr double u = 0x1p-24;
constexpr double eps_d = 0x1p-53;

/// The xsimd architecture name nf::dispatch must pick at a level.
std::string_view expected_name(nf::isa level) {
    switch (level) {
    case nf::isa::sse2:
        return nf::isa_arch<nf::isa::sse2>::name();
    case nf::isa::avx2:
        return nf::isa_arch<nf::isa::avx2>::name();
    case nf::isa::avx512:
        return nf::isa_arch<nf::isa::avx512>::name();
    }
    return "?";
}

void check(bool ok, const std::string& what) {
    if (!ok) {
        std::printf("FAILED: %s\n", what.c_str());
        ++failures;
    }
}

/// Compares got[i] with want[i] within tol[i]; returns the largest |got - want| / tol.
template <class G>
double compare(const std::string& what, const G* got, const std::vector<double>& want, const std::vector<double>& tol) {
    double worst = 0;
    std::size_t bad = 0, first_bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double err = std::abs(static_cast<double>(got[i]) - want[i]);
        worst = std::max(worst, err / tol[i]);
        if (!(err <= tol[i]) && bad++ == 0) first_bad = i;
    }
    if (bad)
        std::printf("FAILED: %s: %zu values off, first at %zu: got %.9g, want %.9g, tolerance %.3g\n", what.c_str(),
                    bad, first_bad, static_cast<double>(got[first_bad]), want[first_bad], tol[first_bad]);
    failures += bad != 0;
    return worst;
}

/// Reference of y = (x - m) / sqrt(v + eps) * g + b for one element, and its error bound in float:
/// m and v are rounded to float once (u |m|, u v), x - m rounds once, v + eps, sqrt, the division
/// (or rsqrt's 1 / sqrt) and the products round once each (at most 3.5u relative on the scale
/// r = 1 / sqrt(v + eps), u on each product), + b once. A layer may fold the statistics into
/// x * (r g) + (b - m r g), where x r g and m r g round before the sum: u |r g| (|x| + |m|) more;
/// or shift by an element k of the slot, where x - k and (m - k) r round once more each:
/// u |r g| 2 R more, R the slot's range (it bounds |x - k| and |m - k|). Together below
/// u (|r g| (2 |m| + 2 |x| + 8 |x - m| + 4 R) + 2 |y|) in every case (a fused multiply-add only
/// removes roundings).
struct normalized {
    double value, tolerance;
};
normalized normalize_ref(double x, double m, double v, double eps, double g, double b, double range) {
    const double r = 1.0 / std::sqrt(v + eps);
    const double y = (x - m) * r * g + b;
    return {y, u * (std::abs(r * g) * (2 * std::abs(m) + 2 * std::abs(x) + 8 * std::abs(x - m) + 4 * range) +
                    2 * std::abs(y))};
}

struct inputs {
    nf::tensor<float, nchw> x{{3, 4, 9, 11}};
    nf::tensor<float, nhwc> xl{{3, 9, 11, 4}};
    nf::tensor<double, nhwc> xd{{3, 9, 11, 4}};
    nf::tensor<float, channels> gamma{0.5f, 1.25f, -2.0f, 3.0f};
    nf::tensor<float, channels> beta{0.1f, -0.2f, 0.3f, 4.0f};
    float eps = 1e-5f;
    inputs() {
        // Per-channel offsets and spreads (channel 3 has |mean| >> std).
        const double offset[4] = {0.0, 3.5, -20.0, 1000.0}, spread[4] = {1.0, 0.25, 4.0, 0.5};
        for (std::size_t n = 0; n < 3; ++n)
            for (std::size_t c = 0; c < 4; ++c)
                for (std::size_t h = 0; h < 9; ++h)
                    for (std::size_t w = 0; w < 11; ++w) {
                        const double t = static_cast<double>(((n * 4 + c) * 9 + h) * 11 + w);
                        const float v = static_cast<float>(offset[c] + spread[c] * std::sin(0.7 * t + 0.3 * c));
                        x(n, c, h, w) = v;
                        xl(n, h, w, c) = v;
                        xd(n, h, w, c) = static_cast<double>(v) + 1e-9 * std::cos(t);
                    }
    }
};

/// Per-channel mean, biased variance and value range over (N, H, W) of x, in double.
struct channel_stats {
    double mean[4], var[4], range[4];
    std::size_t count;
};
template <class X>
channel_stats stats_of(const X& at, std::size_t nn, std::size_t hh, std::size_t ww) {
    channel_stats s{};
    s.count = nn * hh * ww;
    for (std::size_t c = 0; c < 4; ++c) {
        double sum = 0, lo = 1e300, hi = -1e300;
        for (std::size_t n = 0; n < nn; ++n)
            for (std::size_t h = 0; h < hh; ++h)
                for (std::size_t w = 0; w < ww; ++w) {
                    const double v = at(n, c, h, w);
                    sum += v;
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
        s.mean[c] = sum / static_cast<double>(s.count);
        double sq = 0;
        for (std::size_t n = 0; n < nn; ++n)
            for (std::size_t h = 0; h < hh; ++h)
                for (std::size_t w = 0; w < ww; ++w) sq += std::pow(at(n, c, h, w) - s.mean[c], 2);
        s.var[c] = sq / static_cast<double>(s.count);
        s.range[c] = hi - lo;
    }
    return s;
}

struct outputs {
    nf::tensor<float, nchw> y{{3, 4, 9, 11}}, bn{{3, 4, 9, 11}};
    nf::tensor<float, nhwc> ln{{3, 9, 11, 4}};
    nf::tensor<float, channels> mean, var;
    nf::tensor<double, channels> mean_d, var_d;
};

/// References and bounds of every output, computed once.
struct references {
    std::vector<double> y, y_tol, bn, bn_tol, ln, ln_tol, mean, mean_tol, var, var_tol, mean_d, mean_d_tol, var_d,
        var_d_tol;
};

references make_references(const inputs& in) {
    references r;
    const auto at = [&](std::size_t n, std::size_t c, std::size_t h, std::size_t w) {
        return static_cast<double>(in.x(n, c, h, w));
    };
    const auto at_d = [&](std::size_t n, std::size_t c, std::size_t h, std::size_t w) { return in.xd(n, h, w, c); };
    const channel_stats s = stats_of(at, 3, 9, 11), sd = stats_of(at_d, 3, 9, 11);
    for (std::size_t i = 0; i < in.x.size(); ++i) {
        const std::size_t c = (i / 99) % 4;
        const double x = in.x.data()[i];
        const normalized a = normalize_ref(x, s.mean[c], s.var[c], in.eps, in.gamma(c), in.beta(c), s.range[c]);
        r.y.push_back(a.value);
        r.y_tol.push_back(a.tolerance);
        const normalized b = normalize_ref(x, s.mean[c], s.var[c], 1e-5, 1.0, 0.0, s.range[c]);
        r.bn.push_back(b.value);
        r.bn_tol.push_back(b.tolerance);
    }
    // LayerNorm over C: statistics per (n, h, w) row of 4 values.
    for (std::size_t row = 0; row < in.xl.size() / 4; ++row) {
        const float* p = in.xl.data() + 4 * row;
        double m = 0, v = 0, lo = p[0], hi = p[0];
        for (int c = 0; c < 4; ++c) {
            m += p[c];
            lo = std::min<double>(lo, p[c]);
            hi = std::max<double>(hi, p[c]);
        }
        m /= 4;
        for (int c = 0; c < 4; ++c) v += std::pow(p[c] - m, 2);
        v /= 4;
        for (int c = 0; c < 4; ++c) {
            const normalized a = normalize_ref(p[c], m, v, 1e-5, 1.0, 0.0, hi - lo);
            r.ln.push_back(a.value);
            r.ln_tol.push_back(a.tolerance);
        }
    }
    // nf::moments: float results are double sums rounded once (u |ref|; the double error is far
    // below). Double results: sums of n = count shifted values (x - k, k an element of the channel,
    // so |x - k| <= range): recursive summation errs by at most n eps per term, so
    // |mean error| <= n eps range + eps |mean| and |var error| <= 3 n eps range^2 + eps var.
    // The reference's own error adds to that: its plain sums of x err by at most
    // n eps max|x| <= n eps (|mean| + range) for the mean, and its two-pass variance by 3 n eps var.
    const double n = static_cast<double>(s.count);
    for (std::size_t c = 0; c < 4; ++c) {
        r.mean.push_back(s.mean[c]);
        r.mean_tol.push_back(2 * u * std::abs(s.mean[c]));
        r.var.push_back(s.var[c]);
        r.var_tol.push_back(2 * u * s.var[c]);
        r.mean_d.push_back(sd.mean[c]);
        r.mean_d_tol.push_back(n * eps_d * sd.range[c] + eps_d * std::abs(sd.mean[c]) +
                               n * eps_d * (std::abs(sd.mean[c]) + sd.range[c]));
        r.var_d.push_back(sd.var[c]);
        r.var_d_tol.push_back(3 * n * eps_d * sd.range[c] * sd.range[c] + eps_d * sd.var[c] +
                              3 * n * eps_d * sd.var[c]);
    }
    return r;
}

/// Runs every kernel once at the current level and checks it; returns the outputs.
outputs run_level(const inputs& in, const references& ref, nf::isa level) {
    outputs out;
    const std::string_view want = expected_name(level);
    const std::string tag = std::string(nf::isa_name(level));
    const std::string_view ran_expr = nf::dispatch<normalize_expression>(in.x, in.gamma, in.beta, out.y, in.eps);
    const std::string_view ran_moments =
        nf::dispatch<channel_moments>(in.xl, in.xd, out.mean, out.var, out.mean_d, out.var_d);
    const std::string_view ran_layers = nf::dispatch<layers>(in.x, out.bn, in.xl, out.ln);
    std::printf("level %-6s: ran %s (expression), %s (moments), %s (layers)\n", tag.c_str(),
                std::string(ran_expr).c_str(), std::string(ran_moments).c_str(), std::string(ran_layers).c_str());
    check(ran_expr == want && ran_moments == want && ran_layers == want,
          tag + ": nf::dispatch did not run the " + std::string(want) + " kernels");
#if defined(_OPENMP)
    constexpr int caller_openmp = 1;
#else
    constexpr int caller_openmp = 0;
#endif
    check(nf::dispatch<openmp_probe>() == caller_openmp,
          tag + ": the kernels' unit and the calling program disagree on OpenMP (the per-level units must take "
                "the target's compile options)");

    double worst = 0;
    worst = std::max(worst, compare(tag + " expression", out.y.data(), ref.y, ref.y_tol));
    worst = std::max(worst, compare(tag + " batch_norm2d", out.bn.data(), ref.bn, ref.bn_tol));
    // layer_norm output is NHWC, the reference was built row by row in NHWC order too.
    worst = std::max(worst, compare(tag + " layer_norm", out.ln.data(), ref.ln, ref.ln_tol));
    worst = std::max(worst, compare(tag + " moments mean", out.mean.data(), ref.mean, ref.mean_tol));
    worst = std::max(worst, compare(tag + " moments var", out.var.data(), ref.var, ref.var_tol));
    worst = std::max(worst, compare(tag + " moments mean (double)", out.mean_d.data(), ref.mean_d, ref.mean_d_tol));
    worst = std::max(worst, compare(tag + " moments var (double)", out.var_d.data(), ref.var_d, ref.var_d_tol));
    std::printf("level %-6s: largest error %.3f of its bound\n", tag.c_str(), worst);
    return out;
}

/// Two levels agree when each pair of values is within the sum of their bounds.
template <class T>
void agree(const std::string& what, const T* a, const T* b, const std::vector<double>& tol) {
    std::vector<double> twice(tol.size()), want(tol.size());
    for (std::size_t i = 0; i < tol.size(); ++i) {
        twice[i] = 2 * tol[i];
        want[i] = static_cast<double>(b[i]);
    }
    compare(what, a, want, twice);
}

} // namespace

int main(int argc, char** argv) {
    const bool from_env = argc > 1 && std::strcmp(argv[1], "--env") == 0;
    const nf::isa cpu = nf::detail::cpu_isa();
    std::printf("CPU level: %s; NF_ARCH: %s\n", std::string(nf::isa_name(cpu)).c_str(),
                std::getenv("NF_ARCH") ? std::getenv("NF_ARCH") : "(unset)");
    const inputs in;
    const references ref = make_references(in);

    if (from_env) {
        // Only the cap of the environment: the level must be min(CPU, NF_ARCH).
        const char* env = std::getenv("NF_ARCH");
        nf::isa want = cpu;
        if (env != nullptr && *env != '\0') {
            const nf::isa cap = nf::detail::parse_isa(env, "NF_ARCH");
            want = std::min(cap, cpu);
        }
        check(nf::active_isa() == want, "active level is not min(CPU, NF_ARCH)");
        std::printf("active level: %s\n", std::string(nf::active_arch_name()).c_str());
        run_level(in, ref, want);
    } else {
        std::vector<std::pair<nf::isa, outputs>> runs;
        for (nf::isa level : {nf::isa::sse2, nf::isa::avx2, nf::isa::avx512}) {
            if (level > cpu) {
                std::printf("level %-6s: not run, this CPU does not have it\n",
                            std::string(nf::isa_name(level)).c_str());
                continue;
            }
            nf::set_max_arch(level);
            check(nf::active_isa() == level, "set_max_arch did not set the level");
            runs.emplace_back(level, run_level(in, ref, level));
        }
        for (std::size_t a = 0; a < runs.size(); ++a)
            for (std::size_t b = a + 1; b < runs.size(); ++b) {
                const std::string pair =
                    std::string(nf::isa_name(runs[a].first)) + " vs " + std::string(nf::isa_name(runs[b].first));
                const outputs &x = runs[a].second, &y = runs[b].second;
                agree(pair + " expression", x.y.data(), y.y.data(), ref.y_tol);
                agree(pair + " batch_norm2d", x.bn.data(), y.bn.data(), ref.bn_tol);
                agree(pair + " layer_norm", x.ln.data(), y.ln.data(), ref.ln_tol);
                agree(pair + " moments mean", x.mean.data(), y.mean.data(), ref.mean_tol);
                agree(pair + " moments var", x.var.data(), y.var.data(), ref.var_tol);
                agree(pair + " moments mean (double)", x.mean_d.data(), y.mean_d.data(), ref.mean_d_tol);
                agree(pair + " moments var (double)", x.var_d.data(), y.var_d.data(), ref.var_d_tol);
            }
        // An unknown name is refused.
        bool threw = false;
        try {
            nf::set_max_arch("avx3");
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        check(threw, "set_max_arch(\"avx3\") did not throw");
    }
    std::puts(failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
