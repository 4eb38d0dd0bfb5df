// benchmarks/hand.cpp: hand-written fused loops for the same math as normfuse, in two store variants.
//
//   hand     ordinary stores        hand_nt  streaming stores
// Same formulas as the library, so the comparison is about the loop, not the arithmetic:
//   Normalize      (x - mean[c]) / std[c]                    true division, as torchvision
//   BatchNorm      (x - k[c]) * a[c] + b[c]                  k = running mean (eval) or an element
//                                                            of the channel (training), a and b
//                                                            folded per channel in double
//   training       shifted sums in double in one read, running statistics updated, then output
//   RMSNorm        x * (1 / sqrt(mean(x^2) + eps)) * w[c]    row by row: the second read of a row
//                                                            hits L1
//   GroupNorm      per (sample, group) block: statistics, then output while the block is cached
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "support/cases.hpp"
#include "support/kernels.hpp"

namespace bench {
namespace {

using kernels::store;
using kernels::vf;

/// (x - p) / q
struct divide_op {
    vf operator()(const vf& v, const vf& p, const vf& q, const vf&) const { return (v - p) / q; }
};
/// (x - p) * q + r (one fused multiply-add where the ISA has it, as in the library)
struct shifted_affine_op {
    vf operator()(const vf& v, const vf& p, const vf& q, const vf& r) const { return xsimd::fma(v - p, q, r); }
};

bool channels_last(const case_spec& s) {
    return s.order == layout::nhwc || s.order == layout::nlc;
}

/// y = op(x, p[c], q[c], r[c]) over a whole case, split over `threads`.
template <store S, class Op>
void apply(const case_spec& s, const float* x, float* y, const float* p, const float* q, const float* r, int threads,
           Op op) {
    const std::size_t c = s.c;
    if (!channels_last(s)) {
        const std::size_t len = s.spatial();
        kernels::parallel(threads, s.n * c, [&](std::size_t b, std::size_t e, std::size_t) {
            for (std::size_t plane = b; plane < e; ++plane) {
                const std::size_t ch = plane % c;
                const vf pp(p[ch]), qq(q[ch]), rr(r[ch]);
                kernels::map<S>(x + plane * len, y + plane * len, len, [&](const vf& v) { return op(v, pp, qq, rr); });
            }
            kernels::fence<S>();
        });
        return;
    }
    const std::size_t pixels = s.n * s.spatial();
    kernels::parallel(threads, pixels, [&](std::size_t b, std::size_t e, std::size_t) {
        const float* xb = x + b * c;
        float* yb = y + b * c;
        switch (c) {
        case 16:
            kernels::map_channels_last<16, S>(xb, yb, e - b, p, q, r, op);
            break;
        case 32:
            kernels::map_channels_last<32, S>(xb, yb, e - b, p, q, r, op);
            break;
        case 64:
            kernels::map_channels_last<64, S>(xb, yb, e - b, p, q, r, op);
            break;
        case 128:
            kernels::map_channels_last<128, S>(xb, yb, e - b, p, q, r, op);
            break;
        default: // another channel count: one element at a time, in lane 0 (no case of the suite uses it)
            for (std::size_t i = 0; i < (e - b) * c; ++i) {
                const std::size_t ch = i % c;
                alignas(64) float lane[kernels::lanes] = {xb[i]};
                op(vf::load_aligned(lane), vf(p[ch]), vf(q[ch]), vf(r[ch])).store_aligned(lane);
                yb[i] = lane[0];
            }
        }
        kernels::fence<S>();
    });
}

/// Per-channel shifted sums of a whole case in one read (shift = the channel's first element),
/// accumulated in double, or (F32) in float over short blocks folded into double.
template <bool F32 = false>
void channel_moments(const case_spec& s, const float* x, int threads, std::vector<double>& k, std::vector<double>& s1,
                     std::vector<double>& s2, std::vector<double>& scratch) {
    const std::size_t c = s.c;
    const bool last = channels_last(s);
    for (std::size_t j = 0; j < c; ++j) k[j] = x[last ? j : j * s.spatial()];
    scratch.assign(2 * c * static_cast<std::size_t>(threads), 0.0);
    const std::size_t units = last ? s.n * s.spatial() : s.n * c;
    kernels::parallel(threads, units, [&](std::size_t b, std::size_t e, std::size_t t) {
        double* p1 = scratch.data() + 2 * c * t;
        double* p2 = p1 + c;
        if (!last) {
            const std::size_t len = s.spatial();
            for (std::size_t plane = b; plane < e; ++plane) {
                const std::size_t ch = plane % c;
                if constexpr (F32)
                    kernels::moments_f32_blocks(x + plane * len, len, static_cast<float>(k[ch]), p1[ch], p2[ch]);
                else
                    kernels::moments(x + plane * len, len, k[ch], p1[ch], p2[ch]);
            }
            return;
        }
        const float* xb = x + b * c;
        if constexpr (F32) {
            if (c == 64) return kernels::moments_channels_last_f32_blocks<64>(xb, e - b, k.data(), p1, p2);
        }
        switch (c) {
        case 16:
            kernels::moments_channels_last<16>(xb, e - b, k.data(), p1, p2);
            break;
        case 32:
            kernels::moments_channels_last<32>(xb, e - b, k.data(), p1, p2);
            break;
        case 64:
            kernels::moments_channels_last<64>(xb, e - b, k.data(), p1, p2);
            break;
        default:
            kernels::moments_channels_last_any(xb, e - b, c, k.data(), p1, p2);
        }
    });
    for (std::size_t j = 0; j < c; ++j) {
        s1[j] = s2[j] = 0;
        for (int t = 0; t < threads; ++t) {
            s1[j] += scratch[2 * c * static_cast<std::size_t>(t) + j];
            s2[j] += scratch[2 * c * static_cast<std::size_t>(t) + c + j];
        }
    }
}

template <store S>
body make_normalize(case_data& d, int threads) {
    return [&d, threads] {
        apply<S>(*d.spec, d.x, d.y, d.mean.data(), d.stdv.data(), d.stdv.data(), threads, divide_op{});
    };
}

template <store S>
body make_bn_eval(case_data& d, int threads) {
    struct state {
        std::vector<float> a;
    };
    auto st = std::make_shared<state>();
    st->a.resize(d.spec->c);
    return [&d, threads, st] {
        const std::size_t c = d.spec->c;
        for (std::size_t j = 0; j < c; ++j)
            st->a[j] = static_cast<float>(d.weight[j] / std::sqrt(static_cast<double>(d.running_var[j]) + d.eps));
        apply<S>(*d.spec, d.x, d.y, d.running_mean.data(), st->a.data(), d.bias.data(), threads, shifted_affine_op{});
    };
}

template <store S>
body make_bn_train(case_data& d, int threads) {
    struct state {
        std::vector<float> running_mean, running_var, k, a, b;
        std::vector<double> kd, s1, s2, scratch;
        long long batches = 0;
    };
    auto st = std::make_shared<state>();
    const std::size_t c = d.spec->c;
    st->running_mean = d.running_mean; // a layer of its own: the shared statistics stay untouched
    st->running_var = d.running_var;
    st->k.resize(c);
    st->a.resize(c);
    st->b.resize(c);
    st->kd.resize(c);
    st->s1.resize(c);
    st->s2.resize(c);
    return [&d, threads, st] {
        const case_spec& s = *d.spec;
        const std::size_t c = s.c;
        channel_moments(s, d.x, threads, st->kd, st->s1, st->s2, st->scratch);
        const double m = static_cast<double>(s.size() / c);
        ++st->batches;
        for (std::size_t j = 0; j < c; ++j) {
            const double centered = st->s1[j] / m;
            const double var = std::max(0.0, st->s2[j] / m - centered * centered);
            const double mean = st->kd[j] + centered;
            st->running_mean[j] = static_cast<float>((1 - d.momentum) * st->running_mean[j] + d.momentum * mean);
            st->running_var[j] =
                static_cast<float>((1 - d.momentum) * st->running_var[j] + d.momentum * var * m / (m - 1));
            const double a = d.weight[j] / std::sqrt(var + d.eps);
            st->k[j] = static_cast<float>(st->kd[j]);
            st->a[j] = static_cast<float>(a);
            st->b[j] = static_cast<float>(d.bias[j] - centered * a);
        }
        apply<S>(s, d.x, d.y, st->k.data(), st->a.data(), st->b.data(), threads, shifted_affine_op{});
    };
}

/// BatchNorm's statistics alone: per-channel mean and biased variance into y[0, 2C).
template <bool F32>
body make_stats(case_data& d) {
    struct state {
        std::vector<double> k, s1, s2, scratch;
    };
    auto st = std::make_shared<state>();
    const std::size_t c = d.spec->c;
    st->k.resize(c);
    st->s1.resize(c);
    st->s2.resize(c);
    return [&d, st] {
        const case_spec& s = *d.spec;
        const std::size_t c = s.c;
        channel_moments<F32>(s, d.x, 1, st->k, st->s1, st->s2, st->scratch);
        const double m = static_cast<double>(s.size() / c);
        for (std::size_t j = 0; j < c; ++j) {
            const double centered = st->s1[j] / m;
            d.y[j] = static_cast<float>(st->k[j] + centered);
            d.y[c + j] = static_cast<float>(std::max(0.0, st->s2[j] / m - centered * centered));
        }
    };
}

/// `f(x_row, y_row, c)` for every row of C values of (N, L, C) data, then the store fence.
template <store S, class F>
void for_each_row(case_data& d, F&& f) {
    const case_spec& s = *d.spec;
    const std::size_t c = s.c, rows = s.n * s.spatial();
    for (std::size_t row = 0; row < rows; ++row) f(d.x + row * c, d.y + row * c, c);
    kernels::fence<S>();
}

/// RMSNorm over C of (N, L, C), row by row.
template <store S>
body make_rms(case_data& d) {
    return [&d] {
        for_each_row<S>(d, [&d](const float* xr, float* yr, std::size_t c) {
            double s1 = 0, s2 = 0;
            kernels::moments(xr, c, 0.0, s1, s2);
            const float rs = static_cast<float>(1.0 / std::sqrt(s2 / static_cast<double>(c) + d.eps));
            const vf r(rs);
            std::size_t i = 0;
            for (; i + kernels::lanes <= c; i += kernels::lanes)
                kernels::put<S>(yr + i, vf::load_unaligned(xr + i) * r * vf::load_unaligned(d.weight.data() + i));
            for (; i < c; ++i) yr[i] = xr[i] * rs * d.weight[i];
        });
    };
}

/// LayerNorm over C of (N, L, C), row by row: the shifted moments of the row, then its output.
template <store S>
body make_layer_norm(case_data& d) {
    return [&d] {
        for_each_row<S>(d, [&d](const float* xr, float* yr, std::size_t c) {
            const double k = xr[0];
            double s1 = 0, s2 = 0;
            kernels::moments(xr, c, k, s1, s2);
            const double centered = s1 / static_cast<double>(c);
            const double inv = 1 / std::sqrt(std::max(0.0, s2 / static_cast<double>(c) - centered * centered) + d.eps);
            // y = ((x - k) * inv - centered * inv) * w + b
            const float ks = static_cast<float>(k), is = static_cast<float>(inv),
                        cs = static_cast<float>(centered * inv);
            const vf kk(ks), ii(is), cc(cs);
            std::size_t i = 0;
            for (; i + kernels::lanes <= c; i += kernels::lanes) {
                const vf t = xsimd::fms(vf::load_unaligned(xr + i) - kk, ii, cc);
                kernels::put<S>(yr + i, xsimd::fma(t, vf::load_unaligned(d.weight.data() + i),
                                                   vf::load_unaligned(d.bias.data() + i)));
            }
            for (; i < c; ++i) yr[i] = ((xr[i] - ks) * is - cs) * d.weight[i] + d.bias[i];
        });
    };
}

/// GroupNorm of (N, C, H, W), one (sample, group) block at a time.
template <store S>
body make_group(case_data& d) {
    return [&d] {
        const case_spec& s = *d.spec;
        const std::size_t per = s.c / s.groups, hw = s.spatial(), block = per * hw;
        for (std::size_t slot = 0; slot < s.n * s.groups; ++slot) {
            const float* xb = d.x + slot * block;
            float* yb = d.y + slot * block;
            const double k = xb[0];
            double s1 = 0, s2 = 0;
            kernels::moments(xb, block, k, s1, s2);
            const double centered = s1 / static_cast<double>(block);
            const double var = std::max(0.0, s2 / static_cast<double>(block) - centered * centered);
            const double inv = 1.0 / std::sqrt(var + d.eps);
            const std::size_t g = slot % s.groups;
            for (std::size_t j = 0; j < per; ++j) {
                const std::size_t ch = g * per + j;
                const double a = d.weight[ch] * inv;
                const vf kk(static_cast<float>(k)), aa(static_cast<float>(a)),
                    bb(static_cast<float>(d.bias[ch] - centered * a));
                kernels::map<S>(xb + j * hw, yb + j * hw, hw, [&](const vf& v) { return xsimd::fma(v - kk, aa, bb); });
            }
        }
        kernels::fence<S>();
    };
}

void add_channel_workloads(const case_spec& c, const std::string& suffix, int threads) {
    auto set = [threads](run_options& o) { o.threads = threads; };
    add("normalize" + suffix, c, "hand", workload::normalize, [=](case_data& d, run_options& o) {
        set(o);
        return make_normalize<store::regular>(d, threads);
    });
    add("normalize" + suffix, c, "hand_nt", workload::normalize, [=](case_data& d, run_options& o) {
        set(o);
        return make_normalize<store::streaming>(d, threads);
    });
    add("bn_eval" + suffix, c, "hand", workload::bn_eval, [=](case_data& d, run_options& o) {
        set(o);
        return make_bn_eval<store::regular>(d, threads);
    });
    add("bn_eval" + suffix, c, "hand_nt", workload::bn_eval, [=](case_data& d, run_options& o) {
        set(o);
        return make_bn_eval<store::streaming>(d, threads);
    });
    add("bn_train" + suffix, c, "hand", workload::bn_train, [=](case_data& d, run_options& o) {
        set(o);
        return make_bn_train<store::regular>(d, threads);
    });
    add("bn_train" + suffix, c, "hand_nt", workload::bn_train, [=](case_data& d, run_options& o) {
        set(o);
        return make_bn_train<store::streaming>(d, threads);
    });
}

} // namespace

void register_hand() {
    for (const auto& c : channel_cases()) {
        add_channel_workloads(c, "", 1);
        add("bn_stats", c, "hand", workload::stats, [](case_data& d, run_options&) { return make_stats<false>(d); });
        add("bn_stats", c, "hand_f32blocks", workload::stats,
            [](case_data& d, run_options&) { return make_stats<true>(d); });
    }
#if defined(_OPENMP)
    for (const auto& c : threaded_cases()) add_channel_workloads(c, "_2t", 2);
#endif
    add("rms_norm", rms_case(), "hand", workload::rms_norm,
        [](case_data& d, run_options&) { return make_rms<store::regular>(d); });
    add("rms_norm", rms_case(), "hand_nt", workload::rms_norm,
        [](case_data& d, run_options&) { return make_rms<store::streaming>(d); });
    add("layer_norm", rms_case(), "hand", workload::layer_norm,
        [](case_data& d, run_options&) { return make_layer_norm<store::regular>(d); });
    add("layer_norm", rms_case(), "hand_nt", workload::layer_norm,
        [](case_data& d, run_options&) { return make_layer_norm<store::streaming>(d); });
    add("group_norm", group_case(), "hand", workload::group_norm,
        [](case_data& d, run_options&) { return make_group<store::regular>(d); });
    add("group_norm", group_case(), "hand_nt", workload::group_norm,
        [](case_data& d, run_options&) { return make_group<store::streaming>(d); });
}

} // namespace bench
