// benchmarks/half/peers.hpp: what the bf16 layer benchmark asks of a peer (plain C++17, for libtorch's translation unit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace half_bench {

/// The buffers of one shape: [tokens, hidden] input and output, weight and bias [hidden], all
/// 16-bit (bf16 or fp16 bits), 64-byte aligned.
struct buffers {
    const std::uint16_t* x;
    const std::uint16_t* w;
    const std::uint16_t* b;
    std::uint16_t* y;
    std::size_t tokens, hidden;
    bool fp16;
};

/// One implementation of one workload: `run` is timed; `finish` (untimed) copies a result the
/// implementation keeps in memory of its own into `y`, for the check.
struct impl {
    std::string workload; // "layer_norm" or "rms_norm"
    std::string name;
    std::function<void()> run;
    std::function<void()> finish;
};

/// libtorch's implementations (empty when the benchmark is built without libtorch).
std::vector<impl> libtorch_impls(const buffers& b);

} // namespace half_bench
