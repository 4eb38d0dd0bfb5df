// benchmarks/half/half_layers.cpp: LayerNorm and RMSNorm over the hidden axis of [tokens, hidden] on bf16 / fp16 (input, weight, bias, output), normfuse against the floor and libtorch.
//
//   normfuse_bench_half [--rounds R] [--quick] [--no-peers] [--cache] [--only WORKLOAD]
//
// For each shape (hidden 768, 1024, 4096; tokens so that input and output are far beyond the
// last-level cache) every implementation runs once per round, in an order rotated each round, so
// that slow drifts of the machine (other processes) spread over all of them; the table gives the
// median time of each over R rounds (default 21) and its ratio to the floor's median of the same
// rounds: floor/floor_bf16.hpp, y = bf16(x * w + b) with ordinary or streaming stores, the faster.
// Times are the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that time the thread spends
// descheduled on a loaded machine does not count; the wall-clock median is printed beside it.
// --cache: compute cost without memory: 64 KiB of input per shape (in L2), each implementation
// called 200 times per timing, the table in ns per element. --only: one workload (layer_norm or
// rms_norm).
// Every result is checked after the timing: each output within one bf16 (fp16) unit of a double
// computation from the same inputs (libtorch's composed RMSNorm rounds twice: two units).
// One thread everywhere. The machine and its load are the caller's to state (docs/bench/half_layers.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <time.h>

#include <normfuse/core/half.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "floor_bf16.hpp"
#include "peers.hpp"

using namespace nf::axes;

namespace half_bench {
namespace {

struct aligned_free {
    void operator()(void* p) const { std::free(p); }
};
using buffer = std::unique_ptr<std::uint16_t[], aligned_free>;
buffer make_buffer(std::size_t n) {
    const std::size_t bytes = (n * 2 + 63) / 64 * 64;
    return buffer(static_cast<std::uint16_t*>(std::aligned_alloc(64, bytes)));
}

template <class H>
float wide(std::uint16_t bits) {
    return static_cast<float>(H::from_bits(bits));
}

template <class H>
std::vector<impl> normfuse_impls(const buffers& b) {
    using th = nf::shape<N<>, C<>>;
    using hs = nf::shape<C<>>;
    const std::size_t t = b.tokens, h = b.hidden;
    auto x = nf::view<const H, th>(reinterpret_cast<const H*>(b.x), {t, h});
    auto y = nf::view<H, th>(reinterpret_cast<H*>(b.y), {t, h});
    auto w = nf::view<const H, hs>(reinterpret_cast<const H*>(b.w), {h});
    auto bias = nf::view<const H, hs>(reinterpret_cast<const H*>(b.b), {h});
    const double rms_eps = nf::nn::rms_norm<H, hs>({h}).eps();
    std::vector<impl> out;
    out.push_back({"layer_norm",
                   "normfuse functional::layer_norm",
                   [=] { nf::nn::functional::layer_norm(x, y, nf::extents<hs>({h}), w, bias, 1e-5); },
                   {}});
    out.push_back({"rms_norm",
                   "normfuse functional::rms_norm",
                   [=] { nf::nn::functional::rms_norm(x, y, nf::extents<hs>({h}), w, rms_eps); },
                   {}});
    return out;
}

std::vector<impl> floor_impls(const buffers& b) {
    std::vector<impl> out;
    for (const char* wl : {"layer_norm", "rms_norm"}) {
        out.push_back({wl,
                       "floor (store)",
                       [b] { floor::affine_rows<floor::store::regular>(b.x, b.w, b.b, b.y, b.tokens, b.hidden); },
                       {}});
        out.push_back({wl,
                       "floor (stream)",
                       [b] { floor::affine_rows<floor::store::streaming>(b.x, b.w, b.b, b.y, b.tokens, b.hidden); },
                       {}});
    }
    const float eps = b.fp16 ? 0.0009765625f : 0.0078125f;
    if (!b.fp16) {
        out.push_back({"rms_norm",
                       "hand-written loop",
                       [b, eps] { floor::hand_rms_rows<false>(b.x, b.w, b.y, b.tokens, b.hidden, eps); },
                       {}});
        out.push_back({"rms_norm",
                       "hand-written loop + prefetch",
                       [b, eps] { floor::hand_rms_rows<true>(b.x, b.w, b.y, b.tokens, b.hidden, eps); },
                       {}});
    }
    return out;
}

/// Units of the 16-bit type between each output and a double computation of the workload
/// (the floor is checked as x * w + b). Returns the largest.
template <class H>
double check(const impl& m, const buffers& b) {
    const bool is_bf16 = std::is_same_v<H, nf::bf16>;
    double worst = 0;
    const std::size_t h = b.hidden;
    for (std::size_t r = 0; r < b.tokens; r += 97) {
        const std::uint16_t* xr = b.x + r * h;
        double s1 = 0, s2 = 0;
        for (std::size_t j = 0; j < h; ++j) s1 += wide<H>(xr[j]);
        const double mean = s1 / static_cast<double>(h);
        double v = 0;
        for (std::size_t j = 0; j < h; ++j) {
            v += (wide<H>(xr[j]) - mean) * (wide<H>(xr[j]) - mean);
            s2 += static_cast<double>(wide<H>(xr[j])) * wide<H>(xr[j]);
        }
        const double a = 1.0 / std::sqrt(v / static_cast<double>(h) + 1e-5);
        const double rr = 1.0 / std::sqrt(s2 / static_cast<double>(h) + (is_bf16 ? 0.0078125 : 0.0009765625));
        for (std::size_t j = 0; j < h; ++j) {
            const double xv = wide<H>(xr[j]), wv = wide<H>(b.w[j]), bv = wide<H>(b.b[j]);
            double want;
            if (m.name.rfind("floor", 0) == 0)
                want = xv * wv + bv;
            else if (m.workload == "layer_norm")
                want = (xv - mean) * a * wv + bv;
            else
                want = xv * rr * wv;
            // In units of the 16-bit type at max(|want|, 1): LayerNorm's and RMSNorm's outputs are of
            // the order of 1, and an error near 0 is judged against that scale.
            int e;
            (void)std::frexp(std::max(std::fabs(want), 1.0), &e);
            const double unit = std::ldexp(1.0, std::max(e - 1, is_bf16 ? -126 : -14) - (is_bf16 ? 7 : 10));
            worst = std::max(worst, std::fabs(wide<H>(b.y[r * h + j]) - want) / unit);
        }
    }
    return worst;
}

/// The calling thread's CPU time in milliseconds.
double thread_ms() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

bool with_peers = true;
bool in_cache = false;
std::string only;

template <class H>
void run_shape(std::size_t tokens, std::size_t hidden, int rounds) {
    const bool fp16 = std::is_same_v<H, nf::fp16>;
    const std::size_t n = tokens * hidden;
    buffer x = make_buffer(n), y = make_buffer(n), w = make_buffer(hidden), bias = make_buffer(hidden);
    std::uint32_t s = 12345u + static_cast<std::uint32_t>(hidden);
    auto rnd = [&s](float scale, float shift) {
        s = s * 1664525u + 1013904223u;
        return H(shift + scale * (static_cast<float>(s >> 8) / 8388608.0f - 1.0f)).bits;
    };
    for (std::size_t i = 0; i < n; ++i) x[i] = rnd(2.0f, 0.5f);
    for (std::size_t j = 0; j < hidden; ++j) {
        w[j] = rnd(0.5f, 1.0f);
        bias[j] = rnd(0.5f, 0.0f);
    }
    std::memset(y.get(), 0, n * 2);
    const buffers b{x.get(), w.get(), bias.get(), y.get(), tokens, hidden, fp16};
    std::vector<impl> all;
    auto take = [&](std::vector<impl> v) {
        for (auto& m : v)
            if (only.empty() || m.workload == only) all.push_back(std::move(m));
    };
    take(floor_impls(b));
    take(normfuse_impls<H>(b));
    if (with_peers && !in_cache) take(libtorch_impls(b));
    const int calls = in_cache ? 200 : 1;

    std::vector<std::vector<double>> ms(all.size()), wall(all.size());
    for (auto& m : all) m.run(); // warm-up (pages, libtorch's first-call setup)
    for (int r = 0; r < rounds; ++r)
        for (std::size_t k = 0; k < all.size(); ++k) {
            const std::size_t i = (k + static_cast<std::size_t>(r)) % all.size();
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = thread_ms();
            for (int c = 0; c < calls; ++c) all[i].run();
            const double c1 = thread_ms();
            const auto t1 = std::chrono::steady_clock::now();
            ms[i].push_back((c1 - c0) / calls);
            wall[i].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / calls);
        }
    const double bytes = 4.0 * static_cast<double>(n);
    for (const char* wl : {"layer_norm", "rms_norm"}) {
        double floor_ms = 1e300;
        for (std::size_t i = 0; i < all.size(); ++i)
            if (all[i].workload == wl && all[i].name.rfind("floor", 0) == 0)
                floor_ms = std::min(floor_ms, median(ms[i]));
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (all[i].workload != wl) continue;
            std::memset(y.get(), 0xFF, n * 2); // NaN: an implementation that writes nothing fails
            all[i].run();
            if (all[i].finish) all[i].finish();
            // (The floor rounds as bf16: no check of its fp16 output.)
            const bool checked = !(fp16 && all[i].name.rfind("floor", 0) == 0);
            const double err = checked ? check<H>(all[i], b) : 0.0;
            const double med = median(ms[i]);
            char err_text[32] = "-";
            if (checked) std::snprintf(err_text, sizeof err_text, "%.2f", err);
            if (in_cache)
                std::printf("| %s | %s | %zu x %zu | %s | %.4f | %.4f | %.2f | %s |\n", wl, fp16 ? "fp16" : "bf16",
                            tokens, hidden, all[i].name.c_str(), med * 1e6 / static_cast<double>(n),
                            median(wall[i]) * 1e6 / static_cast<double>(n), med / floor_ms, err_text);
            else
                std::printf("| %s | %s | %zu x %zu | %s | %.3f | %.3f | %.1f | %.2f | %s |\n", wl,
                            fp16 ? "fp16" : "bf16", tokens, hidden, all[i].name.c_str(), med, median(wall[i]),
                            bytes / med / 1e6, med / floor_ms, err_text);
        }
    }
    std::fflush(stdout);
}

} // namespace
} // namespace half_bench

int main(int argc, char** argv) {
    int rounds = 21;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        if (!std::strcmp(argv[i], "--no-peers")) half_bench::with_peers = false;
        if (!std::strcmp(argv[i], "--cache")) half_bench::in_cache = true;
        if (!std::strcmp(argv[i], "--only") && i + 1 < argc) half_bench::only = argv[++i];
    }
    nf::set_num_threads(1);
    if (half_bench::in_cache)
        std::printf(
            "| workload | type | tokens x hidden | implementation | CPU ns/element (median) | wall ns/element | "
            "/ floor | max error (units) |\n|---|---|---|---|---|---|---|---|\n");
    else
        std::printf(
            "| workload | type | tokens x hidden | implementation | CPU ms (median) | wall ms (median) | GB/s (4 "
            "B/elem, CPU) | / floor | max error (units) |\n|---|---|---|---|---|---|---|---|---|\n");
    // In cache: 32768 elements (64 KiB) of input per shape.
    const std::size_t scale = quick ? 8 : 1;
    const std::size_t t768 = half_bench::in_cache ? 32768 / 768 : 32768 / scale;
    const std::size_t t1024 = half_bench::in_cache ? 32 : 32768 / scale;
    const std::size_t t4096 = half_bench::in_cache ? 8 : 8192 / scale;
    half_bench::run_shape<nf::bf16>(t768, 768, rounds);
    half_bench::run_shape<nf::bf16>(t1024, 1024, rounds);
    half_bench::run_shape<nf::bf16>(t4096, 4096, rounds);
    half_bench::run_shape<nf::fp16>(t4096, 4096, rounds);
    return 0;
}
