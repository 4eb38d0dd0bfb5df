// benchmarks/support/cases.hpp: the workloads and shapes every implementation runs, their shared data, and the checks.
//
// Plain C++17 with no dependency, so that every peer's translation unit (libtorch's is C++17)
// can include it. All implementations of a case read the same input buffer and write the same
// output buffer (64-byte aligned), so that none of them is favoured by placement or page state.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace benchmark {
class State;
}

namespace bench {

/// Memory order of the axes of a case.
enum class layout {
    nchw, ///< (N, C, H, W): images, channels first
    nhwc, ///< (N, H, W, C): images, channels last
    ncl,  ///< (N, C, L): BatchNorm1d input; h holds L, w is 1
    nlc,  ///< (N, L, C): token sequences (RMSNorm over C); h holds L, w is 1
};

/// One input shape. `id` is the name used in benchmark names, e.g. "nchw_32x64x56x56".
struct case_spec {
    std::string id;
    layout order;
    std::size_t n, c, h, w;
    std::size_t groups = 0; ///< GroupNorm cases: number of groups (0 otherwise)

    std::size_t spatial() const { return h * w; }
    std::size_t size() const { return n * c * h * w; }
    std::size_t bytes() const { return size() * sizeof(float); }
    /// The channel of the element at flat position i.
    std::size_t channel_of(std::size_t i) const;
};

/// The cases of the per-channel workloads (Normalize, BatchNorm eval and training).
const std::vector<case_spec>& channel_cases();
/// The cases of the two-thread runs (a subset of channel_cases()).
const std::vector<case_spec>& threaded_cases();
/// The RMSNorm case (N, L, C), normalized over C.
const case_spec& rms_case();
/// The GroupNorm case (N, C, H, W) with its number of groups.
const case_spec& group_case();

/// The data of a case, created on first use and shared by every benchmark of the process.
struct case_data {
    const case_spec* spec = nullptr;
    float* x = nullptr; ///< input, 64-byte aligned
    float* y = nullptr; ///< output, 64-byte aligned, distinct from x
    // Normalize (torchvision): mean and std per channel.
    std::vector<float> mean, stdv;
    // BatchNorm / GroupNorm / RMSNorm: affine parameters (per channel) and running statistics.
    std::vector<float> weight, bias, running_mean, running_var;
    double eps = 1e-5;
    double momentum = 0.1;
};
case_data& data(const case_spec& spec);

/// The workloads whose results are checked after timing. `stats` writes the per-channel batch
/// mean to y[0, C) and the biased variance to y[C, 2C); `sum` writes the sum of x to y[0].
enum class workload { normalize, bn_eval, bn_train, rms_norm, layer_norm, group_norm, scale, copy, stats, sum };

/// Fills the output with NaN, so that an implementation that writes nothing cannot pass the check.
void poison_output(case_data& d);
/// Compares a sample of the output with a double-precision reference; returns an empty string on
/// success, else a description of the first mismatch.
std::string check_output(const case_data& d, workload w, double tolerance);

/// Options of one benchmark.
struct run_options {
    int threads = 1;         ///< threads the implementation is told to use (a counter in the output)
    double tolerance = 2e-4; ///< relative check tolerance (|got - want| <= tol * (1 + |want|))
    std::string label;       ///< shown in the output (e.g. the peer's chosen kernel)
    /// Called after the timed loop, before the check: for an implementation that returns its
    /// result in memory of its own, copies the last result into the case's output.
    std::function<void()> finish;
};

/// The body of a benchmark: called once per timed iteration.
using body = std::function<void()>;

/// Runs the timed loop of one benchmark: poisons the output, times `step` per iteration, checks
/// the result against the reference of `w`, and reports bytes (input + output) per iteration.
void run(benchmark::State& state, case_data& d, workload w, const run_options& options, const body& step);

/// Registers "<workload>/<case id>/<implementation>" with the suite's common settings (real time,
/// microseconds). `make` is called inside the benchmark, outside the timing, and returns the body
/// (so that a peer's setup -- primitive creation, tensor wrapping -- is not timed).
void add(const std::string& workload_name, const case_spec& spec, const std::string& implementation,
         workload checked_as, std::function<body(case_data&, run_options&)> make);

/// Sets the number of OpenMP threads of the calling thread (peers that use OpenMP read it); a
/// no-op when the suite is built without OpenMP.
void set_openmp_threads(int n);

// Registration functions, one per translation unit (each compiled only when its peer exists).
void register_floors();
void register_hand();
void register_normfuse();
void register_normfuse_dispatch();
void register_normfuse_dsl();
void register_onednn();
void register_libtorch();
void register_eigen();
void register_xtensor();

} // namespace bench
