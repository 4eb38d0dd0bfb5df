// benchmarks/normfuse_layer_kernels.hpp: the code of the normfuse layer workloads, a template on the xsimd architecture.
//
// Included by normfuse.cpp, which instantiates it for its unit's architecture (the suite's flags,
// -march=native by default), and by normfuse_dispatch_kernels.cpp, which the CMake helper
// normfuse_add_dispatched_sources compiles once per level (sse2, avx2, avx512) without the suite's
// flags. Both builds therefore time the same source: only the way it is compiled and called differs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "normfuse_layer_cases.hpp"

namespace bench::layer_kernels {

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

/// Runs f with the settings of the benchmark, then restores the defaults, so that the other
/// benchmarks of the process see them. (The library's settings live in the build that runs f: the
/// dispatched build, in its own shared library, has its own.)
template <class F>
void with_settings([[maybe_unused]] const layer_settings& s, F&& f) {
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

template <class Arch>
body make_normalize(case_data& d, layer_settings s) {
    std::vector<double> mean(d.mean.begin(), d.mean.end()), stdv(d.stdv.begin(), d.stdv.end());
    auto layer = std::make_shared<nf::nn::normalize<float>>(mean, stdv);
    return with_views(d, [layer, s](auto x, auto y) -> body {
        return [layer, s, x, y] { with_settings(s, [&] { layer->template forward<Arch>(x, y); }); };
    });
}

template <class X>
using batch_norm_for = std::conditional_t<X::rank == 3, nf::nn::batch_norm1d<float>, nf::nn::batch_norm2d<float>>;

template <class Arch>
body make_batch_norm(case_data& d, layer_settings s, bool training) {
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
        return [layer, s, x, y] { with_settings(s, [&] { layer->template forward<Arch>(x, y); }); };
    });
}

/// BatchNorm's statistics alone, with nf::moments: mean and biased variance into y[0, 2C).
template <class Arch>
body make_stats(case_data& d) {
    return with_views(d, [&d](auto x, auto) -> body {
        return [&d, x] {
            using XL = typename decltype(x)::axes;
            auto write = [&](const auto& r) {
                const std::size_t c = d.spec->c;
                std::copy_n(r.mean.data(), c, d.y);
                std::copy_n(r.variance.data(), c, d.y + c);
            };
            // nf::moments runs xsimd::default_arch, which make_layer_body checks is Arch.
            if constexpr (nf::contains<L<>, XL>)
                write(nf::moments<N, L>(x));
            else
                write(nf::moments<N, H, W>(x));
        };
    });
}

/// The body of a layer workload, its SIMD code compiled for Arch, which must be the architecture
/// of the including unit (calls without an explicit architecture, and the layers' construction,
/// use xsimd::default_arch).
template <class Arch>
body make_layer_body(layer_job job, case_data& d, layer_settings s) {
    static_assert(std::is_same_v<Arch, xsimd::default_arch>,
                  "bench: make_layer_body<Arch> must be instantiated for its unit's own architecture");
    switch (job) {
    case layer_job::normalize:
        return make_normalize<Arch>(d, s);
    case layer_job::bn_eval:
        return make_batch_norm<Arch>(d, s, false);
    case layer_job::bn_train:
        return make_batch_norm<Arch>(d, s, true);
    case layer_job::stats:
        return make_stats<Arch>(d);
    }
    return {};
}

} // namespace bench::layer_kernels
