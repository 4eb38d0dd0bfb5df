// benchmarks/normfuse.cpp: normfuse's layers (nn::normalize, nn::batch_norm) on views of the shared buffers.
//
//   normfuse            the library as a user gets it: default settings, one thread
//   normfuse_stream16m  with the streaming-store threshold set to 16 MiB (half of this machine's
//                       32 MiB L3), when the library has that knob: shows what the store type
//                       costs or gains, independently of the library's own cache detection
//   *_2t workloads      nf::set_num_threads(2), when the library has that API
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <normfuse/normfuse.hpp>
#if __has_include(<normfuse/core/cache_info.hpp>)
#include <normfuse/core/cache_info.hpp>
#endif

#include "support/cases.hpp"

namespace bench {
namespace {

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using ncl = nf::shape<N<>, C<>, L<>>;
using nlc = nf::shape<N<>, L<>, C<>>;

/// Calls make(x, y) with const/mutable views of the case's buffers in its layout.
template <class Make>
body with_views(case_data& d, Make make) {
    const case_spec& s = *d.spec;
    switch (s.order) {
    case layout::nchw:
        return make(nf::view<const float, nchw>(d.x, {s.n, s.c, s.h, s.w}),
                    nf::view<float, nchw>(d.y, {s.n, s.c, s.h, s.w}));
    case layout::nhwc:
        return make(nf::view<const float, nhwc>(d.x, {s.n, s.h, s.w, s.c}),
                    nf::view<float, nhwc>(d.y, {s.n, s.h, s.w, s.c}));
    case layout::ncl:
        return make(nf::view<const float, ncl>(d.x, {s.n, s.c, s.h}), nf::view<float, ncl>(d.y, {s.n, s.c, s.h}));
    case layout::nlc:
        return make(nf::view<const float, nlc>(d.x, {s.n, s.h, s.c}), nf::view<float, nlc>(d.y, {s.n, s.h, s.c}));
    }
    return {};
}

/// Settings applied around each timed call (and restored after it, so that other benchmarks of
/// the process see the defaults).
struct settings {
    int threads = 1;
    bool stream16m = false;
};

template <class F>
void with_settings([[maybe_unused]] const settings& s, F&& f) {
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    const std::size_t saved = nf::streaming_threshold();
    if (s.stream16m) nf::set_streaming_threshold(std::size_t{16} << 20);
#endif
#if defined(NF_BENCH_HAVE_NF_THREADS)
    if (s.threads != 1) nf::set_num_threads(s.threads);
#endif
    f();
#if defined(NF_BENCH_HAVE_NF_THREADS)
    if (s.threads != 1) nf::set_num_threads(1);
#endif
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    nf::set_streaming_threshold(saved);
#endif
}

body make_normalize(case_data& d, settings s) {
    std::vector<double> mean(d.mean.begin(), d.mean.end()), stdv(d.stdv.begin(), d.stdv.end());
    auto layer = std::make_shared<nf::nn::normalize<float>>(mean, stdv);
    return with_views(d, [layer, s](auto x, auto y) -> body {
        return [layer, s, x, y] { with_settings(s, [&] { layer->forward(x, y); }); };
    });
}

template <class X>
using batch_norm_for = std::conditional_t<X::rank == 3, nf::nn::batch_norm1d<float>, nf::nn::batch_norm2d<float>>;

body make_batch_norm(case_data& d, settings s, bool training) {
    return with_views(d, [&d, s, training](auto x, auto y) -> body {
        using layer_type = batch_norm_for<decltype(x)>;
        nf::nn::batch_norm_options options;
        options.eps = d.eps;
        options.momentum = d.momentum;
        auto layer = std::make_shared<layer_type>(d.spec->c, options);
        std::copy(d.weight.begin(), d.weight.end(), layer->weight().data());
        std::copy(d.bias.begin(), d.bias.end(), layer->bias().data());
        std::copy(d.running_mean.begin(), d.running_mean.end(), layer->running_mean().data());
        std::copy(d.running_var.begin(), d.running_var.end(), layer->running_var().data());
        layer->train(training);
        return [layer, s, x, y] { with_settings(s, [&] { layer->forward(x, y); }); };
    });
}

/// BatchNorm's statistics alone, with nf::moments: mean and biased variance into y[0, 2C).
body make_stats(case_data& d) {
    return with_views(d, [&d](auto x, auto) -> body {
        return [&d, x] {
            using XL = typename decltype(x)::axes;
            auto write = [&](const auto& r) {
                const std::size_t c = d.spec->c;
                std::copy_n(r.mean.data(), c, d.y);
                std::copy_n(r.variance.data(), c, d.y + c);
            };
            if constexpr (nf::contains<L<>, XL>)
                write(nf::moments<N, L>(x));
            else
                write(nf::moments<N, H, W>(x));
        };
    });
}

void add_channel_workloads(const case_spec& c, const std::string& suffix, const std::string& impl, settings s) {
    add("normalize" + suffix, c, impl, workload::normalize, [s](case_data& d, run_options& o) {
        o.threads = s.threads;
        return make_normalize(d, s);
    });
    add("bn_eval" + suffix, c, impl, workload::bn_eval, [s](case_data& d, run_options& o) {
        o.threads = s.threads;
        return make_batch_norm(d, s, false);
    });
    add("bn_train" + suffix, c, impl, workload::bn_train, [s](case_data& d, run_options& o) {
        o.threads = s.threads;
        return make_batch_norm(d, s, true);
    });
}

} // namespace

void register_normfuse() {
    benchmark::AddCustomContext("nf_normfuse_arch", xsimd::default_arch::name());
#if __has_include(<normfuse/core/cache_info.hpp>)
    {
        const nf::cache_info llc = nf::last_level_cache();
        benchmark::AddCustomContext("nf_last_level_cache", std::to_string(llc.bytes >> 10) + " KiB (L" +
                                                               std::to_string(llc.level) + "; from " +
                                                               std::string(nf::to_string(llc.source)) + ")");
    }
#endif
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
    benchmark::AddCustomContext("nf_streaming_threshold_bytes", std::to_string(nf::streaming_threshold()));
#endif
    for (const auto& c : channel_cases()) {
        add_channel_workloads(c, "", "normfuse", {});
        add("bn_stats", c, "normfuse", workload::stats, [](case_data& d, run_options&) { return make_stats(d); });
#if defined(NF_BENCH_HAVE_NF_STREAMING_THRESHOLD)
        add_channel_workloads(c, "", "normfuse_stream16m", {1, true});
#endif
    }
#if defined(NF_BENCH_HAVE_NF_THREADS) && defined(_OPENMP)
    for (const auto& c : threaded_cases()) add_channel_workloads(c, "_2t", "normfuse", {2, false});
#endif
}

} // namespace bench
