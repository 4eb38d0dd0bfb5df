// benchmarks/backward/normfuse.cpp: the backward floor and normfuse's backward passes, and the benchmark's main.
//
//   floor/<shape>/store|stream   the least a backward through batch statistics can do: one pass
//                                reading x and dy (two sums), then one pass reading x and dy and
//                                writing dx (a multiply-add of both), with ordinary or streaming
//                                stores; the floor of a shape is the faster of the two.
//   bn_train_bw/<shape>/normfuse nn::functional::batch_norm_backward (training: dx through the batch
//                                statistics, dweight and dbias), from saved statistics
//   ln_bw, rms_bw/<rows>/normfuse nn::functional::layer_norm_backward / rms_norm_backward
//   bn_eval_bw/<shape>/normfuse  batch_norm_backward in eval mode (dx through the running statistics)
//   in_bw, gn_bw/<nchw>/normfuse instance_norm_backward / group_norm_backward (32 groups), from the
//                                statistics their forward saved (computed before the timing)
#include <benchmark/benchmark.h>

#include <cstddef>
#include <optional>
#include <span>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "backward/cases.hpp"
#include "support/kernels.hpp"

namespace bwbench {
namespace {

namespace k = bench::kernels;
using k::store;

/// Pass one: sums of dy and dy * x over the whole array (float vectors, four of each in flight).
void read_pass(const float* x, const float* dy, std::size_t n, float* out) {
    k::vf a[4] = {k::vf(0.0f), k::vf(0.0f), k::vf(0.0f), k::vf(0.0f)}, b[4] = {a[0], a[1], a[2], a[3]};
    std::size_t i = 0;
    for (; i + 4 * k::lanes <= n; i += 4 * k::lanes)
        for (std::size_t u = 0; u < 4; ++u) {
            const k::vf g = k::vf::load_aligned(dy + i + u * k::lanes);
            a[u] += g;
            b[u] = xsimd::fma(g, k::vf::load_aligned(x + i + u * k::lanes), b[u]);
        }
    float s = xsimd::hadd(a[0] + a[1] + a[2] + a[3]), t = xsimd::hadd(b[0] + b[1] + b[2] + b[3]);
    for (; i < n; ++i) {
        s += dy[i];
        t += dy[i] * x[i];
    }
    out[0] = s;
    out[1] = t;
}

/// Pass two: dx = a dy + b x + c.
template <store S>
void write_pass(const float* x, const float* dy, float* dx, std::size_t n) {
    const k::vf a(0.9f), b(-0.01f), c(0.001f);
    std::size_t i = 0;
    for (; i + k::lanes <= n; i += k::lanes)
        k::put<S>(dx + i, xsimd::fma(a, k::vf::load_aligned(dy + i), xsimd::fma(b, k::vf::load_aligned(x + i), c)));
    for (; i < n; ++i) dx[i] = 0.9f * dy[i] - 0.01f * x[i] + 0.001f;
    k::fence<S>();
}

template <store S>
body floor_body(data& d) {
    return [&d] {
        float sums[2];
        read_pass(d.x, d.dy, d.s->size(), sums);
        benchmark::DoNotOptimize(sums);
        write_pass<S>(d.x, d.dy, d.dx, d.s->size());
    };
}

template <class Shape>
body bn_body(data& d, std::string& label) {
    label = "nn::functional::batch_norm_backward";
    using V = nf::view<const float, Shape>;
    const shape& s = *d.s;
    const auto e = s.order == layout::nchw ? typename V::extents_type({s.n, s.c, s.h, s.w})
                                           : typename V::extents_type({s.n, s.h, s.w, s.c});
    auto saved = std::make_shared<nf::nn::saved_statistics>();
    saved->prepare("benchmark", s.c);
    std::copy(d.mean_d.begin(), d.mean_d.end(), saved->mean_data());
    std::copy(d.invstd_d.begin(), d.invstd_d.end(), saved->invstd_data());
    using CV = nf::view<float, nf::shape<nf::axes::C<>>>;
    return [&d, e, saved] {
        nf::nn::functional::batch_norm_backward(
            V(d.x, e), V(d.dy, e), nf::view<float, Shape>(d.dx, e), CV(d.weight.data(), {d.s->c}), std::nullopt,
            std::nullopt, *saved, true, d.eps, CV(d.dweight.data(), {d.s->c}), CV(d.dbias.data(), {d.s->c}),
            nf::nn::backward_options{nf::nn::grad_write::overwrite, nf::nn::grad_write::overwrite});
    };
}

template <class Shape>
body bn_eval_body(data& d, std::string& label) {
    label = "nn::functional::batch_norm_backward (eval)";
    using V = nf::view<const float, Shape>;
    const shape& s = *d.s;
    const auto e = s.order == layout::nchw ? typename V::extents_type({s.n, s.c, s.h, s.w})
                                           : typename V::extents_type({s.n, s.h, s.w, s.c});
    auto saved = std::make_shared<nf::nn::saved_statistics>(); // not read in eval mode
    using CV = nf::view<float, nf::shape<nf::axes::C<>>>;
    return [&d, e, saved] {
        const std::size_t c = d.s->c;
        nf::nn::functional::batch_norm_backward(
            V(d.x, e), V(d.dy, e), nf::view<float, Shape>(d.dx, e), CV(d.weight.data(), {c}), CV(d.mean_f.data(), {c}),
            CV(d.var_f.data(), {c}), *saved, false, d.eps, CV(d.dweight.data(), {c}), CV(d.dbias.data(), {c}),
            nf::nn::backward_options{nf::nn::grad_write::overwrite, nf::nn::grad_write::overwrite});
    };
}

/// InstanceNorm (GroupNorm: Groups > 0) backward of NCHW data, from the statistics of a forward run
/// here, before the timing.
template <std::size_t Groups>
body grouped_body(data& d, std::string& label) {
    label = Groups ? "nn::functional::group_norm_backward" : "nn::functional::instance_norm_backward";
    using S = nf::shape<nf::axes::N<>, nf::axes::C<>, nf::axes::H<>, nf::axes::W<>>;
    using V = nf::view<const float, S>;
    using CV = nf::view<float, nf::shape<nf::axes::C<>>>;
    const shape& s = *d.s;
    const typename V::extents_type e({s.n, s.c, s.h, s.w});
    auto saved = std::make_shared<nf::nn::saved_statistics>();
    const CV w(d.weight.data(), {s.c}), b(d.bias.data(), {s.c});
    if constexpr (Groups > 0)
        nf::nn::functional::group_norm(V(d.x, e), nf::view<float, S>(d.dx, e), Groups, w, b, d.eps, *saved);
    else
        nf::nn::functional::instance_norm(V(d.x, e), nf::view<float, S>(d.dx, e), std::nullopt, std::nullopt, w, b,
                                          true, 0.1, d.eps, *saved);
    return [&d, e, saved, w] {
        const std::size_t c = d.s->c;
        const nf::nn::backward_options o{nf::nn::grad_write::overwrite, nf::nn::grad_write::overwrite};
        if constexpr (Groups > 0)
            nf::nn::functional::group_norm_backward(V(d.x, e), V(d.dy, e), nf::view<float, S>(d.dx, e), Groups, *saved,
                                                    w, CV(d.dweight.data(), {c}), CV(d.dbias.data(), {c}), o);
        else
            nf::nn::functional::instance_norm_backward(V(d.x, e), V(d.dy, e), nf::view<float, S>(d.dx, e), w,
                                                       std::nullopt, std::nullopt, *saved, true, d.eps,
                                                       CV(d.dweight.data(), {c}), CV(d.dbias.data(), {c}), o);
    };
}

template <bool Centered>
body row_body(data& d, std::string& label) {
    using S = nf::shape<nf::axes::N<>, nf::axes::C<>>;
    using NS = nf::shape<nf::axes::C<>>;
    using CV = nf::view<float, NS>;
    const shape& s = *d.s;
    const nf::extents<S> e({s.n, s.c});
    const nf::extents<NS> ns({s.c});
    const nf::nn::backward_options o{nf::nn::grad_write::overwrite, nf::nn::grad_write::overwrite};
    label = Centered ? "nn::functional::layer_norm_backward" : "nn::functional::rms_norm_backward";
    return [&d, e, ns, o] {
        const nf::view<const float, S> xv(d.x, e), gv(d.dy, e);
        const nf::view<float, S> dxv(d.dx, e);
        const CV w(d.weight.data(), ns), dw(d.dweight.data(), ns), db(d.dbias.data(), ns);
        if constexpr (Centered)
            nf::nn::functional::layer_norm_backward(xv, gv, dxv, ns, w, d.eps, dw, db, o);
        else
            nf::nn::functional::rms_norm_backward(xv, gv, dxv, ns, w, d.eps, dw, o);
    };
}

} // namespace

void register_floor_and_normfuse() {
    std::vector<const shape*> all;
    for (const auto& s : bn_shapes()) all.push_back(&s);
    all.push_back(&rows_shape());
    for (const shape* s : all) {
        add("floor_bw", *s, "store", kind::floor, [](data& d, std::string&) { return floor_body<store::regular>(d); });
        add("floor_bw", *s, "stream", kind::floor,
            [](data& d, std::string&) { return floor_body<store::streaming>(d); });
    }
    for (const auto& s : bn_shapes()) {
        if (s.order == layout::nchw)
            add("bn_train_bw", s, "normfuse", kind::bn_train, [](data& d, std::string& l) {
                return bn_body<nf::shape<nf::axes::N<>, nf::axes::C<>, nf::axes::H<>, nf::axes::W<>>>(d, l);
            });
        else
            add("bn_train_bw", s, "normfuse", kind::bn_train, [](data& d, std::string& l) {
                return bn_body<nf::shape<nf::axes::N<>, nf::axes::H<>, nf::axes::W<>, nf::axes::C<>>>(d, l);
            });
    }
    add("ln_bw", rows_shape(), "normfuse", kind::ln, [](data& d, std::string& l) { return row_body<true>(d, l); });
    for (const auto& s : bn_shapes()) {
        if (s.order == layout::nchw)
            add("bn_eval_bw", s, "normfuse", kind::bn_eval, [](data& d, std::string& l) {
                return bn_eval_body<nf::shape<nf::axes::N<>, nf::axes::C<>, nf::axes::H<>, nf::axes::W<>>>(d, l);
            });
        else
            add("bn_eval_bw", s, "normfuse", kind::bn_eval, [](data& d, std::string& l) {
                return bn_eval_body<nf::shape<nf::axes::N<>, nf::axes::H<>, nf::axes::W<>, nf::axes::C<>>>(d, l);
            });
    }
    add("in_bw", bn_shapes()[0], "normfuse", kind::in, [](data& d, std::string& l) { return grouped_body<0>(d, l); });
    add("gn_bw", bn_shapes()[2], "normfuse", kind::gn,
        [](data& d, std::string& l) { return grouped_body<gn_groups>(d, l); });
    add("rms_bw", rows_shape(), "normfuse", kind::rms, [](data& d, std::string& l) { return row_body<false>(d, l); });
}

} // namespace bwbench

int main(int argc, char** argv) {
    benchmark::AddCustomContext("nf_isa", bench::kernels::isa_name());
    bwbench::register_floor_and_normfuse();
#if defined(NF_BENCH_HAVE_ONEDNN)
    bwbench::register_onednn();
#endif
#if defined(NF_BENCH_HAVE_LIBTORCH)
    bwbench::register_libtorch();
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
