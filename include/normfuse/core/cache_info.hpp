// normfuse/core/cache_info.hpp: the size of the last-level cache, read from the CPU or the kernel, and where it came from.
//
// `sysconf(_SC_LEVEL3_CACHE_SIZE)` (getconf LEVEL3_CACHE_SIZE) is computed by the C library, and on
// virtual machines it has been seen to report 64 MiB for an 8 MiB L3 and 384 MiB for a 32 MiB one.
// The kernel's description of the cache (/sys/devices/system/cpu/cpu0/cache/index*/) and the
// CPU's own cache descriptors (cpuid leaf 4 on Intel, leaf 0x8000001D on AMD and Hygon) give the
// size of one instance of the cache, which is what a loop running on one core can use. They are
// tried in that order, then sysconf, then a fallback of 32 MiB; the result says which one gave it.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define NF_HAVE_CPUID 1
#endif

namespace nf {

/// Where a cache size came from.
enum class cache_source {
    sysfs,    ///< /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size} (Linux)
    cpuid,    ///< the CPU's cache descriptors (x86: leaf 4, or 0x8000001D on AMD and Hygon)
    sysconf,  ///< sysconf(_SC_LEVEL3_CACHE_SIZE), unreliable on virtual machines (taken up to 128 MiB)
    fallback, ///< none of the above gave a plausible value: 32 MiB assumed
};

inline constexpr std::string_view to_string(cache_source s) noexcept {
    switch (s) {
    case cache_source::sysfs:
        return "sysfs";
    case cache_source::cpuid:
        return "cpuid";
    case cache_source::sysconf:
        return "sysconf";
    case cache_source::fallback:
        return "fallback";
    }
    return "unknown";
}

/// The size in bytes of one instance of a data or unified cache, its level (1, 2, 3, ...; 0 for
/// the fallback) and its source.
struct cache_info {
    std::size_t bytes = 0;
    int level = 0;
    cache_source source = cache_source::fallback;
};

namespace detail {

/// Sizes outside [64 KiB, 1 GiB] are not taken for a last-level cache.
inline bool plausible_cache_size(std::size_t bytes) noexcept {
    return bytes >= (std::size_t{64} << 10) && bytes <= (std::size_t{1} << 30);
}

/// The first line of a small text file, without the newline; empty if it cannot be read.
inline bool read_first_line(const char* path, char* out, std::size_t capacity) noexcept {
    std::FILE* f = std::fopen(path, "r");
    if (!f) return false;
    const bool ok = std::fgets(out, static_cast<int>(capacity), f) != nullptr;
    std::fclose(f);
    if (!ok) return false;
    out[std::strcspn(out, "\r\n")] = '\0';
    return true;
}

/// "32768K", "8M", "1024" (bytes) as bytes; 0 if it is none of these.
inline std::size_t parse_cache_size(const char* s) noexcept {
    std::size_t v = 0;
    const char* p = s;
    if (*p < '0' || *p > '9') return 0;
    for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::size_t>(*p - '0');
    switch (*p) {
    case 'K':
    case 'k':
        v <<= 10;
        ++p;
        break;
    case 'M':
    case 'm':
        v <<= 20;
        ++p;
        break;
    case 'G':
    case 'g':
        v <<= 30;
        ++p;
        break;
    default:
        break;
    }
    return *p == '\0' ? v : 0;
}

/// The highest-level data or unified cache of cpu0 that the kernel describes in `dir` (normally
/// /sys/devices/system/cpu/cpu0/cache), if any.
inline std::optional<cache_info> sysfs_last_level_cache(const char* dir = "/sys/devices/system/cpu/cpu0/cache") {
    std::optional<cache_info> best;
    char path[512], line[64];
    for (int i = 0; i < 16; ++i) {
        std::snprintf(path, sizeof path, "%s/index%d/level", dir, i);
        if (!read_first_line(path, line, sizeof line)) continue;
        const int level = static_cast<int>(parse_cache_size(line));
        std::snprintf(path, sizeof path, "%s/index%d/type", dir, i);
        if (!read_first_line(path, line, sizeof line)) continue;
        const std::string_view type(line);
        if (type != "Data" && type != "Unified") continue;
        std::snprintf(path, sizeof path, "%s/index%d/size", dir, i);
        if (!read_first_line(path, line, sizeof line)) continue;
        const std::size_t bytes = parse_cache_size(line);
        if (level > 0 && bytes > 0 && (!best || level > best->level))
            best = cache_info{bytes, level, cache_source::sysfs};
    }
    return best;
}

/// The highest-level data or unified cache in the CPU's deterministic cache descriptors: leaf
/// 0x8000001D on AMD and Hygon, leaf 4 elsewhere. Each subleaf
/// describes one cache: type in EAX[4:0] (0: no more), level in EAX[7:5], and ways, partitions,
/// line size and sets (each minus 1) in EBX[31:22], EBX[21:12], EBX[11:0] and ECX.
inline std::optional<cache_info> cpuid_last_level_cache() {
#if defined(NF_HAVE_CPUID)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return std::nullopt;
    const unsigned max_leaf = a;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    const std::string_view v(vendor);
    unsigned leaf = 4;
    if (v == "AuthenticAMD" || v == "HygonGenuine") {
        unsigned ext_max = 0;
        // (Processors without the topology extensions return zeros there: no cache found.
        // Hypervisors may hide the TOPOEXT bit while passing the leaf through, so it is not tested.)
        if (!__get_cpuid(0x80000000u, &ext_max, &b, &c, &d) || ext_max < 0x8000001Du) return std::nullopt;
        leaf = 0x8000001Du;
    } else if (max_leaf < 4) {
        return std::nullopt;
    }
    std::optional<cache_info> best;
    for (unsigned sub = 0; sub < 16; ++sub) {
        __cpuid_count(leaf, sub, a, b, c, d);
        const unsigned type = a & 0x1Fu;
        if (type == 0) break;
        if (type != 1 && type != 3) continue; // 1: data, 2: instruction, 3: unified
        const int level = static_cast<int>((a >> 5) & 0x7u);
        const std::size_t ways = ((b >> 22) & 0x3FFu) + 1, partitions = ((b >> 12) & 0x3FFu) + 1,
                          line = (b & 0xFFFu) + 1, sets = std::size_t{c} + 1;
        const std::size_t bytes = ways * partitions * line * sets;
        if (!best || level > best->level) best = cache_info{bytes, level, cache_source::cpuid};
    }
    return best;
#else
    return std::nullopt;
#endif
}

/// sysconf(_SC_LEVEL3_CACHE_SIZE), if the C library has it and reports a positive value of at
/// most 128 MiB (the values seen wrong on virtual machines were larger; the largest L3 slices
/// sold are 96 MiB).
inline std::optional<cache_info> sysconf_last_level_cache() {
#if defined(_SC_LEVEL3_CACHE_SIZE)
    const long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0 && static_cast<unsigned long>(l3) <= (128ul << 20))
        return cache_info{static_cast<std::size_t>(l3), 3, cache_source::sysconf};
#endif
    return std::nullopt;
}

/// The level-1 data cache of cpu0 that the kernel describes in `dir`, in bytes (0: none found).
inline std::size_t sysfs_l1_data_cache(const char* dir = "/sys/devices/system/cpu/cpu0/cache") {
    char path[512], line[64];
    for (int i = 0; i < 16; ++i) {
        std::snprintf(path, sizeof path, "%s/index%d/level", dir, i);
        if (!read_first_line(path, line, sizeof line) || parse_cache_size(line) != 1) continue;
        std::snprintf(path, sizeof path, "%s/index%d/type", dir, i);
        if (!read_first_line(path, line, sizeof line)) continue;
        const std::string_view type(line);
        if (type != "Data" && type != "Unified") continue;
        std::snprintf(path, sizeof path, "%s/index%d/size", dir, i);
        if (read_first_line(path, line, sizeof line)) return parse_cache_size(line);
    }
    return 0;
}

} // namespace detail

/// The level-1 data cache of one core, in bytes: from sysfs, else sysconf, else 32 KiB, taking
/// the first value in [8 KiB, 1 MiB]. Reads the system each time it is called; the blocked
/// transpose (eval/transpose.hpp) calls it once, for its tile size.
inline std::size_t l1_data_cache_bytes() {
    auto plausible = [](std::size_t b) { return b >= (std::size_t{8} << 10) && b <= (std::size_t{1} << 20); };
    if (const std::size_t b = detail::sysfs_l1_data_cache(); plausible(b)) return b;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    if (const long b = ::sysconf(_SC_LEVEL1_DCACHE_SIZE); b > 0 && plausible(static_cast<std::size_t>(b)))
        return static_cast<std::size_t>(b);
#endif
    return std::size_t{32} << 10;
}

/// The last-level cache of the CPU the program runs on (one instance of it: on a processor whose
/// cores are grouped around several L3 slices, the slice of one group): from sysfs, else cpuid,
/// else sysconf, else 32 MiB, taking the first plausible value (64 KiB to 1 GiB). Reads the
/// system each time it is called; normfuse calls it once, for the default streaming threshold
/// (eval/settings.hpp).
inline cache_info last_level_cache() {
    for (const auto& c :
         {detail::sysfs_last_level_cache(), detail::cpuid_last_level_cache(), detail::sysconf_last_level_cache()})
        if (c && detail::plausible_cache_size(c->bytes)) return *c;
    return cache_info{std::size_t{32} << 20, 0, cache_source::fallback};
}

} // namespace nf
