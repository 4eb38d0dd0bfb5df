// benchmarks/floor.cpp: the floors every workload is measured against, over the same bytes.
//
//   floor/<case>/store        y = a * x with ordinary stores
//   floor/<case>/stream       y = a * x with streaming (non-temporal) stores
//   floor/<case>/memcpy       glibc memcpy of the same bytes
//   floor_train/<case>/...    one read pass (a sum) then y = a * x: the least a training forward
//                             (statistics, then output) can do
//   floor_read/<case>/sum     the read pass alone: the floor of the statistics (bn_stats)
// The floor of a workload is the faster of the store and stream variants, taken per shape by
// scripts/plot_bench.py from the same run. The *_2t variants split the work over two threads.
#include <benchmark/benchmark.h>

#include <cstring>

#include "support/cases.hpp"
#include "support/kernels.hpp"

namespace bench {
namespace {

using kernels::store;

template <store S>
void scale(const float* x, float* y, std::size_t n, int threads) {
    kernels::parallel(threads, n / kernels::lanes, [&](std::size_t b, std::size_t e, std::size_t) {
        const std::size_t begin = b * kernels::lanes, end = e == n / kernels::lanes ? n : e * kernels::lanes;
        const kernels::vf a(0.5f);
        kernels::map<S>(x + begin, y + begin, end - begin, [a](const kernels::vf& v) { return v * a; });
        kernels::fence<S>();
    });
}

template <store S>
void train_floor(const float* x, float* y, std::size_t n, int threads) {
    float partial[2] = {0, 0};
    kernels::parallel(threads, n / kernels::lanes, [&](std::size_t b, std::size_t e, std::size_t t) {
        const std::size_t begin = b * kernels::lanes, end = e == n / kernels::lanes ? n : e * kernels::lanes;
        partial[t] = kernels::sum(x + begin, end - begin);
    });
    benchmark::DoNotOptimize(partial);
    scale<S>(x, y, n, threads);
}

template <store S>
body make_scale(case_data& d, int threads) {
    return [&d, threads] { scale<S>(d.x, d.y, d.spec->size(), threads); };
}
template <store S>
body make_train(case_data& d, int threads) {
    return [&d, threads] { train_floor<S>(d.x, d.y, d.spec->size(), threads); };
}

void add_floors(const case_spec& c) {
    add("floor_read", c, "sum", workload::sum, [](case_data& d, run_options& o) -> body {
        o.tolerance = 1e-4;
        return [&d] { d.y[0] = kernels::sum(d.x, d.spec->size()); };
    });
    add("floor", c, "store", workload::scale,
        [](case_data& d, run_options&) { return make_scale<store::regular>(d, 1); });
    add("floor", c, "stream", workload::scale,
        [](case_data& d, run_options&) { return make_scale<store::streaming>(d, 1); });
    add("floor", c, "memcpy", workload::copy,
        [](case_data& d, run_options&) -> body { return [&d] { std::memcpy(d.y, d.x, d.spec->bytes()); }; });
    add("floor_train", c, "store", workload::scale,
        [](case_data& d, run_options&) { return make_train<store::regular>(d, 1); });
    add("floor_train", c, "stream", workload::scale,
        [](case_data& d, run_options&) { return make_train<store::streaming>(d, 1); });
}

} // namespace

void register_floors() {
    for (const auto& c : channel_cases()) add_floors(c);
    add_floors(rms_case());
    add_floors(group_case());
#if defined(_OPENMP)
    for (const auto& c : threaded_cases()) {
        auto two = [](run_options& o) { o.threads = 2; };
        add("floor_2t", c, "store", workload::scale, [two](case_data& d, run_options& o) {
            two(o);
            return make_scale<store::regular>(d, 2);
        });
        add("floor_2t", c, "stream", workload::scale, [two](case_data& d, run_options& o) {
            two(o);
            return make_scale<store::streaming>(d, 2);
        });
        add("floor_train_2t", c, "store", workload::scale, [two](case_data& d, run_options& o) {
            two(o);
            return make_train<store::regular>(d, 2);
        });
        add("floor_train_2t", c, "stream", workload::scale, [two](case_data& d, run_options& o) {
            two(o);
            return make_train<store::streaming>(d, 2);
        });
    }
#endif
}

} // namespace bench
