// normfuse/eval/settings.hpp: run-time knobs of the evaluator: threads (opt-in: eval/parallel.hpp) and the streaming-store threshold.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>

#include <normfuse/core/cache_info.hpp>
#include <normfuse/eval/parallel.hpp>

namespace nf {

namespace detail {
/// The last-level cache size (core/cache_info.hpp: sysfs, cpuid, sysconf or a 32 MiB fallback).
inline std::size_t detect_last_level_cache() {
    return last_level_cache().bytes;
}
/// NF_STREAMING_THRESHOLD (bytes) in the environment overrides the default of half the cache.
inline std::size_t default_streaming_threshold() {
    if (const char* env = std::getenv("NF_STREAMING_THRESHOLD")) {
        char* end = nullptr;
        const unsigned long long v = std::strtoull(env, &end, 10);
        if (end != env) return static_cast<std::size_t>(v);
    }
    return detect_last_level_cache() / 2;
}
struct settings_store {
    std::atomic<std::size_t> streaming_threshold{default_streaming_threshold()};
};
inline settings_store& settings() {
    static settings_store s;
    return s;
}
} // namespace detail

/// Which stores an assignment writes with: chosen by the destination's size against
/// streaming_threshold() (`automatic`), or fixed by a caller that knows better, such as a layer
/// that writes a large output in cache-sized blocks (`regular`, `streaming`).
enum class store_kind { automatic, regular, streaming };

/// Streaming (non-temporal) stores bypass the cache: faster once the data no longer fits in it,
/// slower while it does. An element-wise assignment streams when the bytes it writes plus the
/// bytes it reads from operands as large as its destination reach twice this threshold; with the
/// default, half the last-level cache (or the environment variable NF_STREAMING_THRESHOLD), that
/// is when they do not fit in the last-level cache together. For `y = f(x)` with `x` and `y` of
/// one type that is a destination of at least this many bytes; uint8 (N, H, W, 3) into float
/// (N, 3, H, W), 5 bytes an element, streams from 0.8 times the cache on (its 24 MB at batch 32 and
/// 224 x 224 stay in a 32 MiB cache and are streamed past an 8 MiB one). Layers compare their
/// output alone with it. `std::size_t(-1)` disables streaming stores, 0 streams everything.
inline void set_streaming_threshold(std::size_t bytes) noexcept {
    detail::settings().streaming_threshold.store(bytes);
}
inline std::size_t streaming_threshold() noexcept {
    return detail::settings().streaming_threshold.load(std::memory_order_relaxed);
}

namespace detail {
/// True when an element-wise assignment that writes `written` bytes and reads `read` bytes of
/// operands as large as its destination streams (see set_streaming_threshold): halves compared,
/// so that a threshold of std::size_t(-1) is never reached and 0 always is.
inline bool streams_by_size(std::size_t written, std::size_t read) noexcept {
    return written / 2 + read / 2 >= streaming_threshold();
}
} // namespace detail

} // namespace nf
