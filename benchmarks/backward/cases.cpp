// benchmarks/backward/cases.cpp: shapes, data, the double-precision reference of each kind and the timed loop.
#include "backward/cases.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>

namespace bwbench {

std::size_t shape::channel_of(std::size_t i) const {
    return order == layout::nhwc ? i % c : (i / (h * w)) % c;
}

const std::vector<shape>& bn_shapes() {
    static const std::vector<shape> v{
        {"nchw_32x64x56x56", layout::nchw, 32, 64, 56, 56},
        {"nhwc_32x64x56x56", layout::nhwc, 32, 64, 56, 56},
        {"nchw_64x256x28x28", layout::nchw, 64, 256, 28, 28},
        {"nhwc_64x256x28x28", layout::nhwc, 64, 256, 28, 28},
    };
    return v;
}
const shape& rows_shape() {
    static const shape s{"rows_8192x768", layout::rows, 8192, 768, 1, 1};
    return s;
}

namespace {
float* aligned_floats(std::size_t n) {
    void* p = std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<float*>(p);
}
} // namespace

data& get(const shape& s) {
    static std::map<std::string, std::unique_ptr<data>> all;
    auto& slot = all[s.id];
    if (slot) return *slot;
    slot = std::make_unique<data>();
    data& d = *slot;
    d.s = &s;
    const std::size_t n = s.size();
    d.x = aligned_floats(n);
    d.dy = aligned_floats(n);
    d.dx = aligned_floats(n);
    std::mt19937 gen(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) {
        d.x[i] = 0.5f + 2.0f * nd(gen);
        d.dy[i] = nd(gen);
    }
    d.weight.resize(s.c);
    d.bias.resize(s.c);
    for (std::size_t j = 0; j < s.c; ++j) {
        d.weight[j] = 0.5f + static_cast<float>(j % 7) / 7.0f;
        d.bias[j] = static_cast<float>(j % 5) / 10.0f;
    }
    d.dweight.assign(s.c, 0.0f);
    d.dbias.assign(s.c, 0.0f);
    if (s.order != layout::rows) { // the training forward's saved statistics
        std::vector<double> sum(s.c, 0), sq(s.c, 0);
        for (std::size_t i = 0; i < n; ++i) sum[s.channel_of(i)] += d.x[i];
        const double m = static_cast<double>(n / s.c);
        for (std::size_t i = 0; i < n; ++i) {
            const double e = d.x[i] - sum[s.channel_of(i)] / m;
            sq[s.channel_of(i)] += e * e;
        }
        for (std::size_t j = 0; j < s.c; ++j) {
            d.mean_d.push_back(sum[j] / m);
            d.invstd_d.push_back(1.0 / std::sqrt(sq[j] / m + d.eps));
            d.mean_f.push_back(static_cast<float>(d.mean_d.back()));
            d.var_f.push_back(static_cast<float>(sq[j] / m));
            d.invstd_f.push_back(static_cast<float>(d.invstd_d.back()));
        }
    }
    return d;
}

namespace {

/// dx of BatchNorm eval backward (at every 997th element), of InstanceNorm and GroupNorm backward
/// (at every 61st instance or group: contiguous runs of NCHW data), in double; "" when every
/// checked element is within 1e-4 (1 + |want|).
std::string check_other(const data& d, kind k) {
    const shape& s = *d.s;
    auto bad = [](std::size_t i, double got, double want) {
        return "dx[" + std::to_string(i) + "] = " + std::to_string(got) + ", want " + std::to_string(want);
    };
    if (k == kind::bn_eval) {
        for (std::size_t i = 0; i < s.size(); i += 997) {
            const std::size_t ch = s.channel_of(i);
            const double want = d.weight[ch] * d.invstd_d[ch] * d.dy[i];
            if (!(std::abs(d.dx[i] - want) <= 1e-4 * (1 + std::abs(want)))) return bad(i, d.dx[i], want);
        }
        return "";
    }
    // A group: len contiguous elements (one channel plane for InstanceNorm, gn_groups-th of the
    // channels of a sample for GroupNorm), normalized together; the weight is per channel.
    const std::size_t len = k == kind::in ? s.h * s.w : s.c / gn_groups * s.h * s.w;
    for (std::size_t g0 = 0; g0 < s.size(); g0 += 61 * len) {
        double mean = 0, ms = 0, sg = 0, sgx = 0;
        for (std::size_t i = g0; i < g0 + len; ++i) mean += d.x[i];
        mean /= static_cast<double>(len);
        for (std::size_t i = g0; i < g0 + len; ++i) ms += (d.x[i] - mean) * (d.x[i] - mean);
        const double rs = 1.0 / std::sqrt(ms / static_cast<double>(len) + d.eps);
        for (std::size_t i = g0; i < g0 + len; ++i) {
            const double gw = static_cast<double>(d.dy[i]) * d.weight[s.channel_of(i)];
            sg += gw;
            sgx += gw * (d.x[i] - mean);
        }
        for (std::size_t i = g0; i < g0 + len; ++i) {
            const double gw = static_cast<double>(d.dy[i]) * d.weight[s.channel_of(i)];
            const double want = rs * (gw - sg / static_cast<double>(len)) -
                                (d.x[i] - mean) * rs * rs * rs * sgx / static_cast<double>(len);
            if (!(std::abs(d.dx[i] - want) <= 1e-4 * (1 + std::abs(want)))) return bad(i, d.dx[i], want);
        }
    }
    return "";
}

/// dx of BatchNorm training backward at a sample of elements, and of LayerNorm / RMSNorm at a
/// sample of rows, in double; "" when every sampled element is within 1e-4 (1 + |want|).
std::string check(const data& d, kind k) {
    const shape& s = *d.s;
    const std::size_t n = s.size();
    auto bad = [](std::size_t i, double got, double want) {
        return "dx[" + std::to_string(i) + "] = " + std::to_string(got) + ", want " + std::to_string(want);
    };
    if (k == kind::floor) return "";
    if (k == kind::bn_eval || k == kind::in || k == kind::gn) return check_other(d, k);
    if (k == kind::bn_train) {
        std::vector<double> s1(s.c, 0), s2(s.c, 0);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t ch = s.channel_of(i);
            s1[ch] += d.dy[i];
            s2[ch] += d.dy[i] * (d.x[i] - d.mean_d[ch]);
        }
        const double m = static_cast<double>(n / s.c);
        for (std::size_t i = 0; i < n; i += 997) {
            const std::size_t ch = s.channel_of(i);
            const double is = d.invstd_d[ch];
            const double want =
                d.weight[ch] * is * (d.dy[i] - s1[ch] / m - (d.x[i] - d.mean_d[ch]) * is * is * s2[ch] / m);
            if (!(std::abs(d.dx[i] - want) <= 1e-4 * (1 + std::abs(want)))) return bad(i, d.dx[i], want);
        }
        return "";
    }
    const std::size_t h = s.c;
    for (std::size_t r = 0; r < s.n; r += 61) {
        const float* x = d.x + r * h;
        const float* g = d.dy + r * h;
        double mean = 0, ms = 0, sg = 0, sgx = 0;
        if (k == kind::ln) {
            for (std::size_t j = 0; j < h; ++j) mean += x[j];
            mean /= static_cast<double>(h);
        }
        for (std::size_t j = 0; j < h; ++j) ms += (x[j] - mean) * (x[j] - mean);
        const double rs = 1.0 / std::sqrt(ms / static_cast<double>(h) + d.eps);
        for (std::size_t j = 0; j < h; ++j) {
            const double gw = static_cast<double>(g[j]) * d.weight[j];
            sg += gw;
            sgx += gw * (x[j] - mean);
        }
        for (std::size_t j = 0; j < h; ++j) {
            const double gw = static_cast<double>(g[j]) * d.weight[j];
            double want = rs * gw - (x[j] - mean) * rs * rs * rs * sgx / static_cast<double>(h);
            if (k == kind::ln) want -= rs * sg / static_cast<double>(h);
            const std::size_t i = r * h + j;
            if (!(std::abs(d.dx[i] - want) <= 1e-4 * (1 + std::abs(want)))) return bad(i, d.dx[i], want);
        }
    }
    return "";
}

} // namespace

void add(const std::string& workload, const shape& s, const std::string& impl, kind k,
         std::function<body(data&, std::string& label)> make) {
    const std::string name = workload + "/" + s.id + "/" + impl;
    benchmark::RegisterBenchmark(name.c_str(),
                                 [&s, k, make](benchmark::State& state) {
                                     data& d = get(s);
                                     std::string label;
                                     d.finish = nullptr;
                                     const body step = make(d, label);
                                     std::fill(d.dx, d.dx + s.size(), std::numeric_limits<float>::quiet_NaN());
                                     for (auto _ : state) {
                                         step();
                                         benchmark::ClobberMemory();
                                     }
                                     if (d.finish) d.finish();
                                     const std::string err = check(d, k);
                                     if (!err.empty()) state.SkipWithError(("wrong result: " + err).c_str());
                                     state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                                                             static_cast<std::int64_t>(3 * s.size() * sizeof(float)));
                                     if (!label.empty()) state.SetLabel(label);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

} // namespace bwbench
