// benchmarks/normfuse_layer_cases.hpp: the layer workloads of implementation "normfuse", as a list both builds of normfuse register.
//
// The same cases run twice in normfuse_bench: compiled with the suite's flags (normfuse.cpp,
// implementation "normfuse") and compiled once per instruction set by normfuse_add_dispatched_sources
// without them, called through nf::dispatch (normfuse_dispatch*.cpp, "normfuse_dispatch"). This
// header is what they share without normfuse itself: the workloads, their settings and the
// registration of every (workload, case) pair; normfuse_layer_kernels.hpp has the code that runs.
#pragma once

#include <functional>
#include <string>

#include "support/cases.hpp"

namespace bench {

/// A layer workload of the normfuse implementations.
enum class layer_job {
    normalize, ///< nn::normalize::forward
    bn_eval,   ///< nn::batch_norm{1,2}d::forward in eval mode
    bn_train,  ///< nn::batch_norm{1,2}d::forward in training mode (updates the running statistics)
    stats,     ///< nf::moments: BatchNorm's statistics alone
};

/// Settings applied around each timed call (and restored after it).
struct layer_settings {
    int threads = 1;        ///< nf::set_num_threads during the call (1: left alone)
    bool stream16m = false; ///< nf::set_streaming_threshold(16 MiB) during the call
};

/// Makes the body of one benchmark (called inside the benchmark, outside the timing); sets the
/// options it knows (thread count, label).
using layer_maker = std::function<body(layer_job, case_data&, layer_settings, run_options&)>;

/// What the library under test offers, as the benchmark build found it (benchmarks/CMakeLists.txt).
struct layer_api {
    bool streaming_threshold = false; ///< nf::set_streaming_threshold exists
    bool threads = false;             ///< nf::set_num_threads exists and runs OpenMP loops
};

/// Registers every layer workload of the normfuse implementations: normalize, bn_eval, bn_train
/// and bn_stats on every channel case as "<workload>/<case>/<implementation>", the same with a
/// 16 MiB streaming threshold as "<implementation>_stream16m" (if the API has it), and normalize,
/// bn_eval, bn_train on two threads as "<workload>_2t/<case>/<implementation>" (if it has threads).
void register_layer_workloads(const std::string& implementation, const layer_maker& make, layer_api api);

} // namespace bench
