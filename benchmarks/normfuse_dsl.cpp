// benchmarks/normfuse_dsl.cpp: normalizations a user composes from nf:: expressions and reductions, next to the layers.
//
// rms_norm/nlc_16x512x768/
//   normfuse_dsl      y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + eps) * w
//   normfuse_layer    nf::nn::rms_norm<float, shape<C<>>>
// group_norm/nchw_32x256x28x28_g32/ (C seen as (G, K) by a view of the same memory)
//   normfuse_dsl      y = (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + eps) * g + b
//   normfuse_moments  auto [m, v] = nf::moments<K, H, W>(x); y = (x - m) * nf::rsqrt(v + eps) * g + b
//   normfuse_layer    nf::nn::group_norm<float>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>

#include <normfuse/normfuse.hpp>

#include "support/cases.hpp"

namespace bench {
namespace {

using namespace nf::axes;
using nlc = nf::shape<N<>, L<>, C<>>;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;

body rms_dsl(case_data& d) {
    const case_spec& s = *d.spec;
    nf::view<const float, nlc> x(d.x, {s.n, s.h, s.c});
    nf::view<float, nlc> y(d.y, {s.n, s.h, s.c});
    auto w = std::make_shared<nf::tensor<float, nf::shape<C<>>>>(nf::extents<nf::shape<C<>>>({s.c}));
    std::copy(d.weight.begin(), d.weight.end(), w->data());
    const float eps = static_cast<float>(d.eps);
    return [x, y, w, eps] { y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + eps) * *w; };
}

body rms_layer(case_data& d) {
    const case_spec& s = *d.spec;
    nf::view<const float, nlc> x(d.x, {s.n, s.h, s.c});
    nf::view<float, nlc> y(d.y, {s.n, s.h, s.c});
    nf::nn::rms_norm_options options;
    options.eps = d.eps;
    auto layer =
        std::make_shared<nf::nn::rms_norm<float, nf::shape<C<>>>>(std::initializer_list<std::size_t>{s.c}, options);
    std::copy(d.weight.begin(), d.weight.end(), layer->weight().data());
    return [x, y, layer] { layer->forward(x, y); };
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
    add("rms_norm", rms_case(), "normfuse_layer", workload::rms_norm,
        [](case_data& d, run_options&) { return rms_layer(d); });
    add("group_norm", group_case(), "normfuse_dsl", workload::group_norm,
        [](case_data& d, run_options&) { return group_dsl(d); });
    add("group_norm", group_case(), "normfuse_moments", workload::group_norm,
        [](case_data& d, run_options&) { return group_moments(d); });
    add("group_norm", group_case(), "normfuse_layer", workload::group_norm,
        [](case_data& d, run_options&) { return group_layer(d); });
}

} // namespace bench
