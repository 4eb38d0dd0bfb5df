// benchmarks/gradient.cpp: the input gradient of RMSNorm and LayerNorm over C of (N, L, C), derived
// by nf::gradient from the DSL's forward expression, against a hand-written fused backward of the
// same math (one read of x and dy per row for the sums, in double, then one pass writing dx while the
// row is in L1). Its own executable (normfuse_bench_gradient), so that both run in one process.
//
//   RMSNorm    y = x * r * w,  r = 1 / sqrt(mean(x^2) + eps)
//              dx = r * (w dy) - x * r^3 * mean(w dy x)
//   LayerNorm  y = (x - m) * a * w + b,  a = 1 / sqrt(var(x) + eps),  xhat = (x - m) * a
//              dx = a * (w dy - mean(w dy) - xhat * mean(w dy xhat))
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "support/kernels.hpp"

namespace {

using namespace nf::axes;
using bench::kernels::dlanes;
using bench::kernels::lanes;
using bench::kernels::load_widen;
using bench::kernels::vd;
using bench::kernels::vf;
using nlc = nf::shape<N<>, L<>, C<>>;

// A transformer activation, as the suite's rms_norm case: 16 sequences of 512 tokens of width 768.
constexpr std::size_t n = 16, l = 512, c = 768;
constexpr float eps = 1e-5f;
static_assert(c % bench::kernels::lanes == 0, "the hand-written loops have no tail");

struct data {
    nf::tensor<float, nlc> x{n, l, c}, dy{n, l, c}, dx{n, l, c};
    nf::tensor<float, nf::shape<C<>>> w = nf::tensor<float, nf::shape<C<>>>(nf::extents<nf::shape<C<>>>({c}));
    nf::tensor<float, nf::shape<C<>>> b = nf::tensor<float, nf::shape<C<>>>(nf::extents<nf::shape<C<>>>({c}));
    data() {
        for (std::size_t i = 0; i < x.size(); ++i) {
            x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 2 + 0.3);
            dy.data()[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
        }
        for (std::size_t i = 0; i < c; ++i) {
            w.data()[i] = 0.5f + static_cast<float>(i % 7) * 0.1f;
            b.data()[i] = 0.01f * static_cast<float>(i % 5);
        }
    }
};

data& shared() {
    static data d;
    return d;
}

/// sum (w dy x) and sum x^2 of a row, in double.
void rms_row_sums(const float* xr, const float* gr, const float* w, double& s_gx, double& s_xx) {
    vd a(0.0), bb(0.0), e(0.0), f(0.0);
    for (std::size_t i = 0; i < c; i += lanes) {
        const vf xv = vf::load_unaligned(xr + i);
        const vf gv = vf::load_unaligned(gr + i) * vf::load_unaligned(w + i);
        alignas(64) float xs[lanes], ps[lanes];
        xv.store_aligned(xs);
        (gv * xv).store_aligned(ps);
        const vd xl = load_widen(xs), xh = load_widen(xs + dlanes);
        a = xsimd::fma(xl, xl, a);
        bb = xsimd::fma(xh, xh, bb);
        e += load_widen(ps);
        f += load_widen(ps + dlanes);
    }
    s_xx = xsimd::hadd(a + bb);
    s_gx = xsimd::hadd(e + f);
}

/// sum (x - k), sum (x - k)^2, sum (w dy), sum (w dy)(x - k) of a row, in double.
void layer_norm_row_sums(const float* xr, const float* gr, const float* w, double k, double& s1, double& s2, double& sg,
                         double& sgx) {
    const vd kk(k);
    vd a1(0.0), a2(0.0), a3(0.0), a4(0.0), b1(0.0), b2(0.0), b3(0.0), b4(0.0);
    for (std::size_t i = 0; i < c; i += lanes) {
        alignas(64) float xs[lanes], gs[lanes];
        vf::load_unaligned(xr + i).store_aligned(xs);
        (vf::load_unaligned(gr + i) * vf::load_unaligned(w + i)).store_aligned(gs);
        const vd ul = load_widen(xs) - kk, uh = load_widen(xs + dlanes) - kk;
        const vd gl = load_widen(gs), gh = load_widen(gs + dlanes);
        a1 += ul;
        b1 += uh;
        a2 = xsimd::fma(ul, ul, a2);
        b2 = xsimd::fma(uh, uh, b2);
        a3 += gl;
        b3 += gh;
        a4 = xsimd::fma(gl, ul, a4);
        b4 = xsimd::fma(gh, uh, b4);
    }
    s1 = xsimd::hadd(a1 + b1);
    s2 = xsimd::hadd(a2 + b2);
    sg = xsimd::hadd(a3 + b3);
    sgx = xsimd::hadd(a4 + b4);
}

void rms_hand(benchmark::State& state) {
    data& d = shared();
    for (auto _ : state) {
        for (std::size_t row = 0; row < n * l; ++row) {
            const float* xr = d.x.data() + row * c;
            const float* gr = d.dy.data() + row * c;
            float* out = d.dx.data() + row * c;
            double s_gx = 0, s_xx = 0;
            rms_row_sums(xr, gr, d.w.data(), s_gx, s_xx);
            const double r = 1.0 / std::sqrt(s_xx / c + eps);
            const vf rv(static_cast<float>(r)), kv(static_cast<float>(r * r * r * s_gx / c));
            for (std::size_t i = 0; i < c; i += lanes) {
                const vf gv = vf::load_unaligned(gr + i) * vf::load_unaligned(d.w.data() + i);
                (rv * gv - vf::load_unaligned(xr + i) * kv).store_unaligned(out + i);
            }
        }
        benchmark::ClobberMemory();
    }
}

void rms_derived(benchmark::State& state) {
    data& d = shared();
    const auto y = d.x * nf::rsqrt(nf::mean<C>(nf::square(d.x)) + eps) * d.w;
    auto [gx] = nf::gradient(y, d.dy, nf::wrt(d.x));
    for (auto _ : state) {
        d.dx = gx;
        benchmark::ClobberMemory();
    }
}

void layer_norm_hand(benchmark::State& state) {
    data& d = shared();
    for (auto _ : state) {
        for (std::size_t row = 0; row < n * l; ++row) {
            const float* xr = d.x.data() + row * c;
            const float* gr = d.dy.data() + row * c;
            float* out = d.dx.data() + row * c;
            // one read: shifted moments of x, sum (w dy), sum (w dy) (x - k), in double
            const double k = xr[0];
            double s1 = 0, s2 = 0, sg = 0, sgx = 0;
            layer_norm_row_sums(xr, gr, d.w.data(), k, s1, s2, sg, sgx);
            const double mk = s1 / c, a = 1.0 / std::sqrt(std::max(0.0, s2 / c - mk * mk) + eps);
            // mean(w dy xhat) = a * (sum g (x - k) - (m - k) sum g) / C
            const double mgx = a * (sgx - mk * sg) / c, mg = sg / c;
            const vf av(static_cast<float>(a)), mgv(static_cast<float>(mg)), mv(static_cast<float>(k + mk)),
                cv(static_cast<float>(a * mgx));
            for (std::size_t i = 0; i < c; i += lanes) {
                const vf gv = vf::load_unaligned(gr + i) * vf::load_unaligned(d.w.data() + i);
                const vf xhat_over_a = vf::load_unaligned(xr + i) - mv;
                (av * (gv - mgv) - xhat_over_a * (av * cv)).store_unaligned(out + i);
            }
        }
        benchmark::ClobberMemory();
    }
}

void layer_norm_derived(benchmark::State& state) {
    data& d = shared();
    const auto y = (d.x - nf::mean<C>(d.x)) * nf::rsqrt(nf::var<C>(d.x) + eps) * d.w + d.b;
    auto [gx] = nf::gradient(y, d.dy, nf::wrt(d.x));
    for (auto _ : state) {
        d.dx = gx;
        benchmark::ClobberMemory();
    }
}

} // namespace

// Interleaved, so that a change of machine load affects both sides of each ratio alike.
BENCHMARK(rms_hand)->Unit(benchmark::kMillisecond);
BENCHMARK(rms_derived)->Unit(benchmark::kMillisecond);
BENCHMARK(layer_norm_hand)->Unit(benchmark::kMillisecond);
BENCHMARK(layer_norm_derived)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
