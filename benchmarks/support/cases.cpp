// benchmarks/support/cases.cpp: the shapes, their data (created once per process), the timed loop and the result checks.
#include "cases.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <sstream>

namespace bench {

std::size_t case_spec::channel_of(std::size_t i) const {
    switch (order) {
    case layout::nchw:
        return (i / (h * w)) % c;
    case layout::ncl:
        return (i / h) % c;
    case layout::nhwc:
    case layout::nlc:
        return i % c;
    }
    return 0;
}

const std::vector<case_spec>& channel_cases() {
    static const std::vector<case_spec> cases = {
        {"nchw_32x64x56x56", layout::nchw, 32, 64, 56, 56},   {"nhwc_32x64x56x56", layout::nhwc, 32, 64, 56, 56},
        {"ncl_100x16x784", layout::ncl, 100, 16, 784, 1},     {"nchw_1x3x224x224", layout::nchw, 1, 3, 224, 224},
        {"nchw_64x256x28x28", layout::nchw, 64, 256, 28, 28},
    };
    return cases;
}

const std::vector<case_spec>& threaded_cases() {
    static const std::vector<case_spec> cases = {channel_cases()[0], channel_cases()[1], channel_cases()[4]};
    return cases;
}

const case_spec& rms_case() {
    // A transformer activation: 16 sequences of 512 tokens of width 768 (25 MB, as the first case).
    static const case_spec c{"nlc_16x512x768", layout::nlc, 16, 768, 512, 1};
    return c;
}

const case_spec& group_case() {
    // GroupNorm(32, 256) on a ResNet-sized feature map.
    static const case_spec c{"nchw_32x256x28x28_g32", layout::nchw, 32, 256, 28, 28, 32};
    return c;
}

namespace {

/// The first line of an exception's message (libtorch appends a whole backtrace).
std::string first_line(const char* what) {
    std::string s(what);
    const auto end = s.find('\n');
    return end == std::string::npos ? s : s.substr(0, end);
}

/// A small, fast generator (xorshift64*): data creation should not dominate start-up.
struct generator {
    std::uint64_t s;
    explicit generator(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    double uniform() { // in [0, 1)
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<double>((s * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
    }
    double between(double lo, double hi) { return lo + (hi - lo) * uniform(); }
};

struct aligned_free {
    void operator()(float* p) const noexcept { ::operator delete (p, std::align_val_t{64}); }
};

struct owned_case {
    case_data d;
    std::unique_ptr<float, aligned_free> x, y;
    // Batch statistics per channel (or per slot) in double, for the training reference.
    std::vector<double> batch_mean, batch_var;
};

std::map<std::string, std::unique_ptr<owned_case>>& store() {
    static std::map<std::string, std::unique_ptr<owned_case>> s;
    return s;
}

float* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    return static_cast<float*>(::operator new (bytes, std::align_val_t{64}));
}

owned_case& owned(const case_spec& spec) {
    auto& s = store();
    auto it = s.find(spec.id);
    if (it != s.end()) return *it->second;
    auto o = std::make_unique<owned_case>();
    const std::size_t n = spec.size(), c = spec.c;
    o->x.reset(allocate(n));
    o->y.reset(allocate(n));
    case_data& d = o->d;
    d.spec = &spec;
    d.x = o->x.get();
    d.y = o->y.get();
    generator g(std::hash<std::string>{}(spec.id));
    // Per-channel distribution of the input: a mean away from 0 and a spread away from 1, so that a
    // wrong statistic or a channel mix-up shows in the check.
    std::vector<double> mu(c), sigma(c);
    for (std::size_t k = 0; k < c; ++k) {
        mu[k] = g.between(-1.0, 1.0);
        sigma[k] = g.between(0.5, 2.0);
    }
    d.mean.resize(c);
    d.stdv.resize(c);
    d.weight.resize(c);
    d.bias.resize(c);
    d.running_mean.resize(c);
    d.running_var.resize(c);
    for (std::size_t k = 0; k < c; ++k) {
        d.mean[k] = static_cast<float>(g.between(0.40, 0.60)); // torchvision-like Normalize constants
        d.stdv[k] = static_cast<float>(g.between(0.20, 0.30));
        d.weight[k] = static_cast<float>(g.between(0.5, 1.5));
        d.bias[k] = static_cast<float>(g.between(-0.5, 0.5));
        d.running_mean[k] = static_cast<float>(mu[k] + g.between(-0.1, 0.1));
        d.running_var[k] = static_cast<float>(sigma[k] * sigma[k] * g.between(0.8, 1.2));
    }
    if (spec.order == layout::nlc) d.eps = 1e-6; // RMSNorm's customary epsilon
    // uniform in [-sqrt(3), sqrt(3)): unit variance
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t k = spec.channel_of(i);
        d.x[i] = static_cast<float>(mu[k] + sigma[k] * g.between(-1.7320508, 1.7320508));
    }
    std::fill_n(d.y, n, 0.0f); // touch every page of the output now, not in the first timed run
    auto& ref = *o;
    s.emplace(spec.id, std::move(o));
    return ref;
}

/// Per-channel batch mean and biased variance in double (the BatchNorm training reference).
void batch_statistics(owned_case& o) {
    if (!o.batch_mean.empty()) return;
    const case_spec& spec = *o.d.spec;
    const std::size_t c = spec.c, n = spec.size();
    std::vector<double> s1(c, 0.0), s2(c, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const double v = o.d.x[i];
        const std::size_t k = spec.channel_of(i);
        s1[k] += v;
        s2[k] += v * v;
    }
    const double m = static_cast<double>(n / c);
    o.batch_mean.resize(c);
    o.batch_var.resize(c);
    for (std::size_t k = 0; k < c; ++k) {
        const double mean = s1[k] / m;
        o.batch_mean[k] = mean;
        o.batch_var[k] = s2[k] / m - mean * mean;
    }
}

/// Mean and biased variance of the GroupNorm slot (sample, group) that holds element i (NCHW).
void group_statistics(const case_data& d, std::size_t i, double& mean, double& var) {
    const case_spec& s = *d.spec;
    const std::size_t per_group = (s.c / s.groups) * s.spatial();
    const std::size_t begin = i / per_group * per_group;
    double s1 = 0, s2 = 0;
    for (std::size_t j = begin; j < begin + per_group; ++j) {
        s1 += d.x[j];
        s2 += static_cast<double>(d.x[j]) * d.x[j];
    }
    mean = s1 / static_cast<double>(per_group);
    var = s2 / static_cast<double>(per_group) - mean * mean;
}

/// Mean of squares of the RMSNorm row (n, l) that holds element i (NLC).
double row_mean_square(const case_data& d, std::size_t i) {
    const std::size_t c = d.spec->c;
    const std::size_t begin = i / c * c;
    double s2 = 0;
    for (std::size_t j = begin; j < begin + c; ++j) s2 += static_cast<double>(d.x[j]) * d.x[j];
    return s2 / static_cast<double>(c);
}

/// Mean and biased variance of the row of (N, L, C) data that element i is in (over C).
void row_moments(const case_data& d, std::size_t i, double& mean, double& var) {
    const std::size_t c = d.spec->c;
    const std::size_t begin = i / c * c;
    double s = 0, s2 = 0;
    for (std::size_t j = begin; j < begin + c; ++j) s += d.x[j];
    mean = s / static_cast<double>(c);
    for (std::size_t j = begin; j < begin + c; ++j) s2 += (d.x[j] - mean) * (d.x[j] - mean);
    var = s2 / static_cast<double>(c);
}

std::string check_reductions(const case_data& d, workload w, double tolerance) {
    owned_case& o = owned(*d.spec);
    std::ostringstream msg;
    if (w == workload::sum) {
        double want = 0;
        for (std::size_t i = 0; i < d.spec->size(); ++i) want += d.x[i];
        if (!(std::abs(d.y[0] - want) <= tolerance * (1.0 + std::abs(want)))) {
            msg << "wrong sum: got " << d.y[0] << ", want " << want;
            return msg.str();
        }
        return {};
    }
    batch_statistics(o);
    const std::size_t c = d.spec->c;
    for (std::size_t k = 0; k < c; ++k) {
        const double mean = d.y[k], var = d.y[c + k];
        if (!(std::abs(mean - o.batch_mean[k]) <= tolerance * (1.0 + std::abs(o.batch_mean[k]))) ||
            !(std::abs(var - o.batch_var[k]) <= tolerance * (1.0 + std::abs(o.batch_var[k])))) {
            msg << "wrong statistics of channel " << k << ": got mean " << mean << ", variance " << var << "; want "
                << o.batch_mean[k] << ", " << o.batch_var[k];
            return msg.str();
        }
    }
    return {};
}

} // namespace

case_data& data(const case_spec& spec) {
    return owned(spec).d;
}

void poison_output(case_data& d) {
    std::fill_n(d.y, d.spec->size(), std::numeric_limits<float>::quiet_NaN());
}

std::string check_output(const case_data& d, workload w, double tolerance) {
    const case_spec& s = *d.spec;
    const std::size_t n = s.size();
    if (w == workload::stats || w == workload::sum) return check_reductions(d, w, tolerance);
    const bool slot_stats = w == workload::rms_norm || w == workload::layer_norm || w == workload::group_norm;
    const std::size_t samples = slot_stats ? 256 : 2048;
    owned_case* o = nullptr;
    if (w == workload::bn_train) {
        o = &owned(s);
        batch_statistics(*o);
    }
    for (std::size_t k = 0; k < samples + 2; ++k) {
        // Spread over the whole array, and always the first and the last element.
        const std::size_t i = k == samples ? 0 : k == samples + 1 ? n - 1 : (k * 2654435761ull + 12345) % n;
        const std::size_t c = s.channel_of(i);
        const double x = d.x[i];
        double want = 0;
        switch (w) {
        case workload::normalize:
            want = (x - d.mean[c]) / static_cast<double>(d.stdv[c]);
            break;
        case workload::bn_eval:
            want = (x - d.running_mean[c]) / std::sqrt(static_cast<double>(d.running_var[c]) + d.eps) * d.weight[c] +
                   d.bias[c];
            break;
        case workload::bn_train:
            want = (x - o->batch_mean[c]) / std::sqrt(o->batch_var[c] + d.eps) * d.weight[c] + d.bias[c];
            break;
        case workload::rms_norm:
            want = x / std::sqrt(row_mean_square(d, i) + d.eps) * d.weight[c];
            break;
        case workload::layer_norm: {
            double mean = 0, var = 0;
            row_moments(d, i, mean, var);
            want = (x - mean) / std::sqrt(var + d.eps) * d.weight[c] + d.bias[c];
            break;
        }
        case workload::group_norm: {
            double mean = 0, var = 0;
            group_statistics(d, i, mean, var);
            want = (x - mean) / std::sqrt(var + d.eps) * d.weight[c] + d.bias[c];
            break;
        }
        case workload::scale:
            want = 0.5 * x;
            break;
        case workload::copy:
            want = x;
            break;
        case workload::stats:
        case workload::sum:
            break; // checked by check_reductions
        }
        const double got = d.y[i];
        if (!(std::abs(got - want) <= tolerance * (1.0 + std::abs(want)))) {
            std::ostringstream msg;
            msg << "wrong result at element " << i << " (channel " << c << "): got " << got << ", want " << want;
            return msg.str();
        }
    }
    return {};
}

void run(benchmark::State& state, case_data& d, workload w, const run_options& options, const body& step) {
    poison_output(d);
    try {
        for (auto _ : state) {
            step();
            benchmark::ClobberMemory();
        }
    } catch (const std::exception& e) {
        state.SkipWithError(("exception: " + first_line(e.what())).c_str());
        return;
    }
    if (options.finish) options.finish();
    const std::string error = check_output(d, w, options.tolerance);
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 *
                            static_cast<std::int64_t>(d.spec->bytes()));
    state.counters["nf_threads"] = options.threads;
    if (!options.label.empty()) state.SetLabel(options.label);
}

void add(const std::string& workload_name, const case_spec& spec, const std::string& implementation,
         workload checked_as, std::function<body(case_data&, run_options&)> make) {
    const std::string name = workload_name + "/" + spec.id + "/" + implementation;
    benchmark::RegisterBenchmark(name.c_str(),
                                 [&spec, checked_as, make](benchmark::State& state) {
                                     case_data& d = data(spec);
                                     run_options options;
                                     body step;
                                     try {
                                         step = make(d, options);
                                     } catch (const std::exception& e) {
                                         state.SkipWithError(("setup failed: " + first_line(e.what())).c_str());
                                         return;
                                     }
                                     run(state, d, checked_as, options, step);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

} // namespace bench
