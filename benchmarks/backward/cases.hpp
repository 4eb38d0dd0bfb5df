// benchmarks/backward/cases.hpp: the shapes, shared data and result checks of the backward benchmarks (normfuse_bench_backward).
//
// Plain C++17 (libtorch's translation unit includes it). Every implementation of a case reads the
// same x, dy and saved statistics and writes the same dx buffer (64-byte aligned), which is
// poisoned before the timed loop and checked against a double-precision reference after it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace benchmark {
class State;
}

namespace bwbench {

/// nchw / nhwc: BatchNorm2d input; rows: (tokens, hidden), normalized over hidden (c).
enum class layout { nchw, nhwc, rows };

struct shape {
    std::string id;
    layout order;
    std::size_t n, c, h, w; ///< rows: n tokens of c values, h = w = 1
    std::size_t size() const { return n * c * h * w; }
    std::size_t channel_of(std::size_t i) const;
};

/// BatchNorm shapes (both layouts) and the [tokens, hidden] shape of LayerNorm / RMSNorm.
const std::vector<shape>& bn_shapes();
const shape& rows_shape();

/// The data of a shape, created on first use and shared by every benchmark of the process.
struct data {
    const shape* s = nullptr;
    float *x = nullptr, *dy = nullptr, *dx = nullptr;
    std::vector<float> weight, bias;      ///< per channel (BatchNorm) or per hidden value (rows)
    std::vector<float> mean_f, invstd_f;  ///< BatchNorm saved statistics in float (oneDNN, libtorch)
    std::vector<double> mean_d, invstd_d; ///< the same in double (normfuse's saved_statistics)
    std::vector<float> var_f;             ///< the batch variance: running_var of the eval backward
    std::vector<float> dweight, dbias;    ///< written by the implementations
    double eps = 1e-5;
    /// Set by an implementation whose result lives in memory of its own: copies the last one into
    /// dx after the timed loop (not timed), before the check.
    std::function<void()> finish;
};
data& get(const shape& s);

/// What a benchmark computes (the reference its dx is checked against).
/// bn_eval: dx through the running statistics (here equal to the batch's); in / gn: InstanceNorm and
/// GroupNorm (gn_groups groups) of NCHW data, dx through each instance's (group's) statistics.
enum class kind { bn_train, ln, rms, floor, bn_eval, in, gn };
constexpr std::size_t gn_groups = 32;

using body = std::function<void()>;
/// Registers "<workload>/<shape id>/<implementation>": real time, microseconds, bytes = x + dy + dx.
/// `make` runs outside the timing and returns the timed body.
void add(const std::string& workload, const shape& s, const std::string& impl, kind k,
         std::function<body(data&, std::string& label)> make);

void register_floor_and_normfuse();
void register_onednn();
void register_libtorch();

} // namespace bwbench
