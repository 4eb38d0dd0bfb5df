// benchmarks/normfuse_dsl.cpp: normalizations a user composes from nf:: expressions and reductions, next to the layers.
//
// rms_norm/nlc_16x512x768/
//   normfuse_dsl      y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + eps) * w
//   normfuse_layer    nf::nn::rms_norm<float, shape<C<>>>
// layer_norm/nlc_16x512x768/
//   normfuse_dsl      y = (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + eps) * w + b
//   normfuse_layer    nf::nn::layer_norm<float, shape<C<>>>
// group_norm/nchw_32x256x28x28_g32/ (C seen as (G, K) by a view of the same memory)
//   normfuse_dsl      y = (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + eps) * g + b
//   normfuse_moments  auto [m, v] = nf::moments<K, H, W>(x); y = (x - m) * nf::rsqrt(v + eps) * g + b
//   normfuse_layer    nf::nn::group_norm<float>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "support/cases.hpp"

namespace bench {
namespace {

using namespace nf::axes;
using nlc = nf::shape<N<>, L<>, C<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;

/// x and y of an (N, L, C) case as views.
struct nlc_io {
    nf::view<const float, nlc> x;
    nf::view<float, nlc> y;
};
nlc_io nlc_views(const case_data& d) {
    const case_spec& s = *d.spec;
    return {nf::view<const float, nlc>(d.x, {s.n, s.h, s.c}), nf::view<float, nlc>(d.y, {s.n, s.h, s.c})};
}

/// A per-channel parameter as a tensor over C.
std::shared_ptr<nf::tensor<float, nf::shape<C<>>>> over_c(const std::vector<float>& v) {
    auto t = std::make_shared<nf::tensor<float, nf::shape<C<>>>>(nf::extents<nf::shape<C<>>>({v.size()}));
    std::copy(v.begin(), v.end(), t->data());
    return t;
}

/// A layer over C (nn::rms_norm, nn::layer_norm) with the case's epsilon, weight and bias (if any).
template <class Layer, class Options>
body layer_over_c(case_data& d) {
    const nlc_io io = nlc_views(d);
    const auto x = io.x;
    const auto y = io.y; // not a structured binding: clang 14 cannot capture those
    Options options;
    options.eps = d.eps;
    auto layer = std::make_shared<Layer>(std::initializer_list<std::size_t>{d.spec->c}, options);
    std::copy(d.weight.begin(), d.weight.end(), layer->weight().data());
    if constexpr (requires { layer->bias(); }) std::copy(d.bias.begin(), d.bias.end(), layer->bias().data());
    return [x, y, layer] { layer->forward(x, y); };
}

body rms_dsl(case_data& d) {
    const nlc_io io = nlc_views(d);
    const auto x = io.x;
    const auto y = io.y; // not a structured binding: clang 14 cannot capture those
    const auto w = over_c(d.weight);
    const float eps = static_cast<float>(d.eps);
    return [x, y, w, eps] { y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + eps) * *w; };
}

body layer_dsl(case_data& d) {
    const nlc_io io = nlc_views(d);
    const auto x = io.x;
    const auto y = io.y; // not a structured binding: clang 14 cannot capture those
    const auto w = over_c(d.weight), b = over_c(d.bias);
    const float eps = static_cast<float>(d.eps);
    return [x, y, w, b, eps] { y = (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + eps) * *w + *b; };
}

struct grouped {
    nf::view<const float, ngkhw> x;
    nf::view<float, ngkhw> y;
    std::shared_ptr<nf::tensor<float, nf::shape<G<>, K<>>>> gamma, beta;
    float eps;
};

grouped make_grouped(case_data& d) {
    const case_spec& s = *d.spec;
    const std::size_t k = s.c / s.groups;
    nf::extents<nf::shape<G<>, K<>>> pe({s.groups, k});
    grouped g{nf::view<const float, ngkhw>(d.x, {s.n, s.groups, k, s.h, s.w}),
              nf::view<float, ngkhw>(d.y, {s.n, s.groups, k, s.h, s.w}),
              std::make_shared<nf::tensor<float, nf::shape<G<>, K<>>>>(pe),
              std::make_shared<nf::tensor<float, nf::shape<G<>, K<>>>>(pe), static_cast<float>(d.eps)};
    std::copy(d.weight.begin(), d.weight.end(), g.gamma->data());
    std::copy(d.bias.begin(), d.bias.end(), g.beta->data());
    return g;
}

body group_dsl(case_data& d) {
    return [g = make_grouped(d)] {
        g.y = (g.x - nf::mean<K, H, W>(g.x)) * nf::rsqrt(nf::var<K, H, W>(g.x) + g.eps) * *g.gamma + *g.beta;
    };
}

body group_moments(case_data& d) {
    return [g = make_grouped(d)] {
        auto [m, v] = nf::moments<K, H, W>(g.x);
        g.y = (g.x - m) * nf::rsqrt(v + g.eps) * *g.gamma + *g.beta;
    };
}

body group_layer(case_data& d) {
    const case_spec& s = *d.spec;
    nf::view<const float, nchw> x(d.x, {s.n, s.c, s.h, s.w});
    nf::view<float, nchw> y(d.y, {s.n, s.c, s.h, s.w});
    nf::nn::group_norm_options options;
    options.eps = d.eps;
    auto layer = std::make_shared<nf::nn::group_norm<float>>(s.groups, s.c, options);
    std::copy(d.weight.begin(), d.weight.end(), layer->weight().data());
    std::copy(d.bias.begin(), d.bias.end(), layer->bias().data());
    return [x, y, layer] { layer->forward(x, y); };
}

} // namespace

void register_normfuse_dsl() {
    add("rms_norm", rms_case(), "normfuse_dsl", workload::rms_norm,
        [](case_data& d, run_options&) { return rms_dsl(d); });
    add("rms_norm", rms_case(), "normfuse_layer", workload::rms_norm, [](case_data& d, run_options&) {
        return layer_over_c<nf::nn::rms_norm<float, nf::shape<C<>>>, nf::nn::rms_norm_options>(d);
    });
    add("layer_norm", rms_case(), "normfuse_dsl", workload::layer_norm,
        [](case_data& d, run_options&) { return layer_dsl(d); });
    add("layer_norm", rms_case(), "normfuse_layer", workload::layer_norm, [](case_data& d, run_options&) {
        return layer_over_c<nf::nn::layer_norm<float, nf::shape<C<>>>, nf::nn::layer_norm_options>(d);
    });
    add("group_norm", group_case(), "normfuse_dsl", workload::group_norm,
        [](case_data& d, run_options&) { return group_dsl(d); });
    add("group_norm", group_case(), "normfuse_moments", workload::group_norm,
        [](case_data& d, run_options&) { return group_moments(d); });
    add("group_norm", group_case(), "normfuse_layer", workload::group_norm,
        [](case_data& d, run_options&) { return group_layer(d); });
}

} // namespace bench
