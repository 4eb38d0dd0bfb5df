// benchmarks/pipeline/pipeline.cpp: the image preprocessing pipeline, uint8 (N, H, W, 3) ->
// float (N, 3, H, W), (x / 255 - mean) / std, against its memory floor and its peers.
//
//   normfuse            y = (nf::cast<float>(x) / 255 - mean) / std, one fused pass (C<3> in the
//                       type: the plain loop nest along W, reading x at a stride of 3 through
//                       windows of whole batches, eval/bound.hpp; eval/transpose.hpp says when)
//   normfuse regular    the same with streaming stores turned off (nf::set_streaming_threshold)
//   normfuse streaming  the same with streaming stores forced (threshold 0); `normfuse` streams
//                       when the bytes read and written exceed the last-level cache
//                       (eval/settings.hpp), so it is one of these two
//   floor_store/stream  the same bytes without the layout change: read 1 byte, write 4 bytes per
//                       element (uint8 widened to float), ordinary or streaming stores; the floor
//                       is the faster of the two
//   opencv_...          cv::dnn::blobFromImages, then the std division (peer_opencv.cpp)
//   libtorch_...        ToTensor + Normalize (peer_libtorch.cpp)
// Every implementation runs once per round, in an order that rotates every round; the table
// gives the median over the rounds, on one thread. Outputs are checked against normfuse's. Every
// implementation writes its own output buffer, allocated and touched before the rounds (no page
// faults in the timed runs, except libtorch's, which allocates its output each time as users'
// code does). Before every timed run the caches are brought to the same state, whatever ran
// before: a buffer of twice the last-level cache is read (the previous run's dirty lines are
// written back then, outside the timed region), then the input is read once (it comes warm from
// the decoder or the previous layer) and the output is cold. Without that, a run's time depended
// on which implementation ran just before it (its dirty lines, whether it left the input in L3):
// the floor's median moved between 0.56 and 1.3 ms from one run to the next.
// Usage: normfuse_bench_pipeline [n h w rounds]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "peers.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

using namespace nf::axes;

namespace {

/// Widens n uint8 values to float with ordinary stores (the compiler vectorizes it).
void floor_store(const std::uint8_t* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

/// The same with streaming stores, from the first 64-byte aligned element of y.
void floor_stream(const std::uint8_t* x, float* y, std::size_t n) {
    std::size_t i = 0;
    while (i < n && reinterpret_cast<std::uintptr_t>(y + i) % 64 != 0) {
        y[i] = static_cast<float>(x[i]);
        ++i;
    }
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
        _mm512_stream_ps(y + i, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + i));
        _mm256_stream_ps(y + i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
    }
#elif defined(__SSE2__)
    for (; i + 4 <= n; i += 4) {
        std::uint32_t word;
        std::memcpy(&word, x + i, 4);
        const __m128i z = _mm_setzero_si128();
        const __m128i b = _mm_cvtsi32_si128(static_cast<int>(word));
        _mm_stream_ps(y + i, _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, z), z)));
    }
#endif
    for (; i < n; ++i) y[i] = static_cast<float>(x[i]);
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

/// Runs f with streaming stores turned off, then restores the threshold.
template <class F>
void without_streaming(F&& f) {
    const std::size_t before = nf::streaming_threshold();
    nf::set_streaming_threshold(static_cast<std::size_t>(-1));
    f();
    nf::set_streaming_threshold(before);
}

/// Runs f with streaming stores for every assignment, then restores the threshold.
template <class F>
void with_streaming(F&& f) {
    const std::size_t before = nf::streaming_threshold();
    nf::set_streaming_threshold(0);
    f();
    nf::set_streaming_threshold(before);
}

struct entry {
    std::string name;
    std::function<void()> run;
    std::function<const float*()> output;
    std::vector<double> ms, cpu_ms;
};

/// CPU time of the calling thread (ms): what a run costs when the machine is shared and the
/// thread is preempted (wall time then counts the other processes' slices).
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

/// Brings the caches to the same state before every timed run: reads a buffer of twice the
/// last-level cache (writing back whatever the previous run left dirty), then `input`.
class cache_reset {
public:
    cache_reset() : junk_(2 * nf::last_level_cache().bytes / sizeof(std::uint64_t), 1) {}
    void operator()(const void* input, std::size_t bytes) {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < junk_.size(); i += 8) sum += junk_[i]; // one read per 64-byte line
        const auto* p = static_cast<const unsigned char*>(input);
        for (std::size_t i = 0; i < bytes; i += 64) sum += p[i];
        sink_ = sum;
    }

private:
    std::vector<std::uint64_t> junk_;
    volatile std::uint64_t sink_ = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a + " " + b + " " + c;
}

/// y = a * x over n floats (the floor of a float -> float pass), ordinary or streaming stores.
void scale_store(const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = 0.5f * x[i];
}
void scale_stream(const float* x, float* y, std::size_t n) {
    std::size_t i = 0;
    while (i < n && reinterpret_cast<std::uintptr_t>(y + i) % 64 != 0) {
        y[i] = 0.5f * x[i];
        ++i;
    }
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(y + i, _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_loadu_ps(x + i)));
#elif defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(y + i, _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_loadu_ps(x + i)));
#elif defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_stream_ps(y + i, _mm_mul_ps(_mm_set1_ps(0.5f), _mm_loadu_ps(x + i)));
#endif
    for (; i < n; ++i) y[i] = 0.5f * x[i];
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

/// The layout change alone, on float: (x - m) / s from (N, H, W, C) into (N, C, H, W) against the
/// same expression into (N, H, W, C) and the floor of the same bytes (read 4, write 4 per element),
/// for C = 3 (the images above) and C = 64 (activations, 56 x 56). Interleaved as above.
bool layout_change(std::size_t n, std::size_t h, std::size_t w, int rounds, cache_reset& reset) {
    bool ok = true;
    for (const std::size_t c : {std::size_t{3}, std::size_t{64}}) {
        const std::size_t hh = c == 3 ? h : 56, ww = c == 3 ? w : 56, count = n * hh * ww * c;
        using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
        using nchw = nf::shape<N<>, C<>, H<>, W<>>;
        nf::tensor<float, nhwc> x({n, hh, ww, c}), same({n, hh, ww, c});
        nf::tensor<float, nchw> y({n, c, hh, ww});
        std::vector<float> mean(c), stdv(c), floor_out(count);
        for (std::size_t k = 0; k < c; ++k) {
            mean[k] = 0.4f + 0.001f * static_cast<float>(k);
            stdv[k] = 0.25f + 0.001f * static_cast<float>(k);
        }
        for (std::size_t i = 0; i < count; ++i) x.data()[i] = static_cast<float>(i % 251) / 251.f;
        const nf::view<const float, nf::shape<C<>>> m(mean.data(), {c}), s(stdv.data(), {c});
        std::vector<entry> entries;
        entries.push_back({"normfuse NHWC -> NCHW", [&] { y = (x - m) / s; }, nullptr, {}, {}});
        entries.push_back({"normfuse NHWC -> NHWC", [&] { same = (x - m) / s; }, nullptr, {}, {}});
        entries.push_back({"floor_store", [&] { scale_store(x.data(), floor_out.data(), count); }, nullptr, {}, {}});
        entries.push_back({"floor_stream", [&] { scale_stream(x.data(), floor_out.data(), count); }, nullptr, {}, {}});
        entries.push_back(
            {"normfuse NHWC -> NCHW regular", [&] { without_streaming([&] { y = (x - m) / s; }); }, nullptr, {}, {}});
        entries.push_back({"normfuse NHWC -> NHWC regular",
                           [&] { without_streaming([&] { same = (x - m) / s; }); },
                           nullptr,
                           {},
                           {}});
        for (auto& e : entries) e.run();
        for (int r = 0; r < rounds; ++r)
            for (std::size_t k = 0; k < entries.size(); ++k) {
                entry& e = entries[(k + static_cast<std::size_t>(r)) % entries.size()];
                reset(x.data(), count * sizeof(float));
                const double c0 = thread_cpu_ms();
                const auto t0 = std::chrono::steady_clock::now();
                e.run();
                const auto t1 = std::chrono::steady_clock::now();
                e.cpu_ms.push_back(thread_cpu_ms() - c0);
                e.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            }
        std::size_t wrong = 0; // the transposed values are the same-layout values, permuted
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t k = 0; k < c; ++k)
                for (std::size_t p = 0; p < hh * ww; ++p)
                    wrong += y.data()[(i * c + k) * hh * ww + p] != same.data()[(i * hh * ww + p) * c + k];
        ok = ok && wrong == 0;
        const double floor_ms = std::min(median(entries[2].ms), median(entries[3].ms));
        const double floor_cpu = std::min(median(entries[2].cpu_ms), median(entries[3].cpu_ms));
        std::printf("\nlayout change, float %zu x %zu x %zu x %zu, (x - m) / s; %zu values differ from the same "
                    "layout's; load average %s\n\n",
                    n, hh, ww, c, wrong, load_average().c_str());
        std::printf("| implementation | median ms | / floor | median thread CPU ms | / floor (CPU) |\n"
                    "|---|---:|---:|---:|---:|\n");
        for (const auto& e : entries) {
            const double ms = median(e.ms), cpu = median(e.cpu_ms);
            std::printf("| %s | %.3f | %.2f | %.3f | %.2f |\n", e.name.c_str(), ms, ms / floor_ms, cpu,
                        cpu / floor_cpu);
        }
    }
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 32;
    const std::size_t h = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 224;
    const std::size_t w = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 224;
    const int rounds = argc > 4 ? std::atoi(argv[4]) : 51;
    const std::size_t count = n * h * w * 3;
    nf::set_num_threads(1);

    std::vector<std::uint8_t> pixels(count);
    std::uint32_t seed = 2024;
    for (auto& p : pixels) {
        seed = seed * 1664525u + 1013904223u;
        p = static_cast<std::uint8_t>(seed >> 24);
    }
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    [[maybe_unused]] const pipeline_bench::batch_spec spec{pixels.data(), n, h, w, mean, stdv};

    const nf::view<const std::uint8_t, nf::shape<N<>, H<>, W<>, C<3>>> x(pixels.data(), {n, h, w});
    const nf::tensor<float, nf::shape<C<3>>> m{mean[0], mean[1], mean[2]}, s{stdv[0], stdv[1], stdv[2]};
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> y({n, h, w});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> floor_out({n, h, w});

    std::vector<entry> entries;
    entries.push_back(
        {"normfuse", [&] { y = (nf::cast<float>(x) / 255.f - m) / s; }, [&] { return y.data(); }, {}, {}});
    entries.push_back({"floor_store", [&] { floor_store(pixels.data(), floor_out.data(), count); }, nullptr, {}, {}});
    entries.push_back({"floor_stream", [&] { floor_stream(pixels.data(), floor_out.data(), count); }, nullptr, {}, {}});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> y_regular({n, h, w});
    entries.push_back({"normfuse regular",
                       [&] { without_streaming([&] { y_regular = (nf::cast<float>(x) / 255.f - m) / s; }); },
                       [&] { return y_regular.data(); },
                       {},
                       {}});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> y_streaming({n, h, w});
    entries.push_back({"normfuse streaming",
                       [&] { with_streaming([&] { y_streaming = (nf::cast<float>(x) / 255.f - m) / s; }); },
                       [&] { return y_streaming.data(); },
                       {},
                       {}});
    // The same pixels taken as BGR and read as RGB through a strided view (reversed channel axis).
    const nf::strided_view<const std::uint8_t, nf::shape<N<>, H<>, W<>, C<3>>> bgr_as_rgb(
        pixels.data() + 2, nf::extents<nf::shape<N<>, H<>, W<>, C<3>>>({n, h, w}),
        {static_cast<std::ptrdiff_t>(h * w * 3), static_cast<std::ptrdiff_t>(w * 3), 3, -1});
    nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> y_bgr({n, h, w});
    entries.push_back({"normfuse BGR (strided view)",
                       [&] { y_bgr = (nf::cast<float>(bgr_as_rgb) / 255.f - m) / s; },
                       [&] { return y_bgr.data(); },
                       {},
                       {}});
    std::vector<std::unique_ptr<pipeline_bench::peer>> peers;
#if defined(NF_PIPELINE_HAVE_OPENCV)
    peers.push_back(pipeline_bench::make_opencv(spec));
    pipeline_bench::batch_spec bgr_spec = spec;
    bgr_spec.bgr = true;
    peers.push_back(pipeline_bench::make_opencv(bgr_spec));
#endif
#if defined(NF_PIPELINE_HAVE_TORCH)
    peers.push_back(pipeline_bench::make_libtorch(spec));
#endif
    for (auto& p : peers) {
        auto* q = p.get();
        entries.push_back({q->name(), [q] { q->run(); }, [q] { return q->output(); }, {}, {}});
    }

    const std::string load_before = load_average();
    for (auto& e : entries) e.run(); // warm-up: pages touched, buffers allocated
    cache_reset reset;
    for (int r = 0; r < rounds; ++r)
        for (std::size_t k = 0; k < entries.size(); ++k) {
            entry& e = entries[(k + static_cast<std::size_t>(r)) % entries.size()];
            reset(pixels.data(), count);
            const double c0 = thread_cpu_ms();
            const auto t0 = std::chrono::steady_clock::now();
            e.run();
            const auto t1 = std::chrono::steady_clock::now();
            e.cpu_ms.push_back(thread_cpu_ms() - c0);
            e.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
    const std::string load_after = load_average();

    // Checks: normfuse bit-exact against x.float().div(255) then Normalize in float; the peers
    // within a few float units of it (their order of operations differs).
    std::size_t differ = 0;
    double peer_err = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t p = 0; p < h * w; ++p) {
                const float v = static_cast<float>(pixels[(i * h * w + p) * 3 + c]);
                differ += y.data()[(i * 3 + c) * h * w + p] != (v / 255.f - mean[c]) / stdv[c];
            }
    std::size_t differ_bgr = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t p = 0; p < h * w; ++p) {
                const float v = static_cast<float>(pixels[(i * h * w + p) * 3 + 2 - c]);
                differ_bgr += y_bgr.data()[(i * 3 + c) * h * w + p] != (v / 255.f - mean[c]) / stdv[c];
            }
    differ += differ_bgr;
    std::printf("normfuse against the float reference: %zu of %zu elements differ (RGB), %zu (BGR)\n",
                differ - differ_bgr, count, differ_bgr);
    const bool regular_same = std::memcmp(y_regular.data(), y.data(), count * sizeof(float)) == 0;
    std::printf("normfuse regular: %s normfuse's bits\n", regular_same ? "the same as" : "NOT the same as");
    differ += !regular_same;
    const bool streaming_same = std::memcmp(y_streaming.data(), y.data(), count * sizeof(float)) == 0;
    std::printf("normfuse streaming: %s normfuse's bits\n", streaming_same ? "the same as" : "NOT the same as");
    differ += !streaming_same;
    for (const auto& e : entries) {
        if (!e.output || e.name.rfind("normfuse", 0) == 0) continue;
        const float* o = e.output();
        const float* own = e.name.find("BGR") != std::string::npos ? y_bgr.data() : y.data();
        double worst = 0;
        for (std::size_t i = 0; i < count; ++i) worst = std::max(worst, static_cast<double>(std::fabs(o[i] - own[i])));
        std::printf("%s: largest difference from normfuse %.3g\n", e.name.c_str(), worst);
        peer_err = std::max(peer_err, worst);
    }

    const double floor_ms = std::min(median(entries[1].ms), median(entries[2].ms));
    const double floor_cpu = std::min(median(entries[1].cpu_ms), median(entries[2].cpu_ms));
    std::printf("\nbatch %zu x %zu x %zu x 3 uint8 -> float NCHW, %d rounds, 1 thread; load average before %s, "
                "after %s\n\n",
                n, h, w, rounds, load_before.c_str(), load_after.c_str());
    std::printf("| implementation | median ms | GB/s (5 bytes per element) | / floor | median thread CPU ms | / floor "
                "(CPU) |\n|---|---:|---:|---:|---:|---:|\n");
    for (const auto& e : entries) {
        const double ms = median(e.ms), cpu = median(e.cpu_ms);
        std::printf("| %s | %.3f | %.1f | %.2f | %.3f | %.2f |\n", e.name.c_str(), ms,
                    5.0 * static_cast<double>(count) / ms / 1e6, ms / floor_ms, cpu, cpu / floor_cpu);
    }
    const bool layout_ok = layout_change(n, h, w, rounds, reset);
    return differ == 0 && peer_err < 1e-4 && layout_ok ? 0 : 1;
}
