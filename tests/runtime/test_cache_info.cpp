// Runtime tests of the last-level cache detection (core/cache_info.hpp) and the streaming-store
// threshold that follows it (eval/settings.hpp): the sysfs reader on a fabricated directory, the
// size on this machine against the kernel's own files (read here independently), plausibility
// of every source, and the overrides (NF_STREAMING_THRESHOLD, nf::set_streaming_threshold).
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <stdlib.h> // setenv, unsetenv (POSIX)
#include <unistd.h> // getpid

#include <normfuse/core/cache_info.hpp>
#include <normfuse/eval/settings.hpp>

namespace {

namespace fs = std::filesystem;

/// One index<i>/ directory of a fabricated sysfs cache description.
void write_cache_entry(const fs::path& dir, int index, const std::string& level, const std::string& type,
                       const std::string& size) {
    const fs::path d = dir / ("index" + std::to_string(index));
    fs::create_directories(d);
    std::ofstream(d / "level") << level << "\n";
    std::ofstream(d / "type") << type << "\n";
    std::ofstream(d / "size") << size << "\n";
}

/// The largest-level data or unified cache in `dir`, read with iostreams (independently of the
/// library's reader), in bytes; 0 if there is none.
std::size_t sysfs_reference(const fs::path& dir) {
    int best_level = 0;
    std::size_t best = 0;
    if (!fs::is_directory(dir)) return 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("index", 0) != 0) continue;
        int level = 0;
        std::string type, size;
        std::ifstream(entry.path() / "level") >> level;
        std::ifstream(entry.path() / "type") >> type;
        std::ifstream(entry.path() / "size") >> size;
        if (type != "Data" && type != "Unified") continue;
        if (size.empty()) continue;
        std::size_t bytes = std::stoull(size);
        if (size.back() == 'K') bytes *= 1024;
        if (size.back() == 'M') bytes *= 1024 * 1024;
        if (level > best_level) {
            best_level = level;
            best = bytes;
        }
    }
    return best;
}

/// The range the header documents as plausible for a last-level cache: 64 KiB to 1 GiB.
bool plausible(std::size_t bytes) {
    return bytes >= (std::size_t{64} << 10) && bytes <= (std::size_t{1} << 30);
}

} // namespace

TEST_CASE("cache info: the sysfs reader takes the highest-level data or unified cache", "[cache_info]") {
    const fs::path dir = fs::temp_directory_path() / ("normfuse_cache_info_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    // A Zen-like description (L1d 32 KiB, L1i, L2 512 KiB, L3 8 MiB), the instruction cache listed
    // last and with the highest index, and a size in M to parse.
    write_cache_entry(dir, 0, "1", "Data", "32K");
    write_cache_entry(dir, 1, "2", "Unified", "512K");
    write_cache_entry(dir, 2, "3", "Unified", "8M");
    write_cache_entry(dir, 3, "1", "Instruction", "64K");
    const auto c = nf::detail::sysfs_last_level_cache(dir.c_str());
    REQUIRE(c.has_value());
    CHECK(c->bytes == (std::size_t{8} << 20));
    CHECK(c->level == 3);
    CHECK(c->source == nf::cache_source::sysfs);
    CHECK(nf::to_string(c->source) == "sysfs");

    // Only an instruction cache, and a level with an unreadable size: nothing.
    fs::remove_all(dir);
    write_cache_entry(dir, 0, "1", "Instruction", "32K");
    write_cache_entry(dir, 1, "2", "Unified", "lots");
    CHECK_FALSE(nf::detail::sysfs_last_level_cache(dir.c_str()).has_value());
    fs::remove_all(dir);
    CHECK_FALSE(nf::detail::sysfs_last_level_cache(dir.c_str()).has_value());
}

TEST_CASE("cache info: the L1 data cache, for the blocked transpose's tiles", "[cache_info]") {
    const fs::path dir = fs::temp_directory_path() / ("normfuse_l1_info_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    // The instruction cache of level 1 listed first, and larger: the data cache is taken.
    write_cache_entry(dir, 0, "1", "Instruction", "64K");
    write_cache_entry(dir, 1, "2", "Unified", "1024K");
    write_cache_entry(dir, 2, "1", "Data", "48K");
    CHECK(nf::detail::sysfs_l1_data_cache(dir.c_str()) == 48u * 1024u);
    fs::remove_all(dir);
    write_cache_entry(dir, 0, "1", "Instruction", "32K");
    CHECK(nf::detail::sysfs_l1_data_cache(dir.c_str()) == 0);
    fs::remove_all(dir);
    // This machine: what sysfs says when it says something plausible, else within the range taken.
    const std::size_t l1 = nf::l1_data_cache_bytes();
    CHECK(l1 >= (std::size_t{8} << 10));
    CHECK(l1 <= (std::size_t{1} << 20));
    const std::size_t from_sysfs = nf::detail::sysfs_l1_data_cache();
    if (from_sysfs >= (std::size_t{8} << 10) && from_sysfs <= (std::size_t{1} << 20)) CHECK(l1 == from_sysfs);
}

TEST_CASE("cache info: the last-level cache of this machine is plausible and agrees with sysfs", "[cache_info]") {
    const auto c = nf::last_level_cache();
    INFO("last-level cache: " << c.bytes << " bytes, level " << c.level << ", from " << nf::to_string(c.source));
    CHECK(plausible(c.bytes));
    const std::size_t from_sysfs = sysfs_reference("/sys/devices/system/cpu/cpu0/cache");
    if (plausible(from_sysfs)) {
        // The kernel's description is the first source; the library must have taken it as it is.
        CHECK(c.source == nf::cache_source::sysfs);
        CHECK(c.bytes == from_sysfs);
        CHECK(c.level >= 2);
    } else {
        CHECK(c.source != nf::cache_source::sysfs);
    }
    // Every source that answers gives a cache of at least level 2 and a plausible size (sysconf
    // only up to 128 MiB: above that the value is not used).
    if (const auto id = nf::detail::cpuid_last_level_cache()) {
        INFO("cpuid: " << id->bytes << " bytes, level " << id->level);
        CHECK(id->level >= 2);
        CHECK(plausible(id->bytes));
    }
    if (const auto sc = nf::detail::sysconf_last_level_cache()) {
        CHECK(sc->bytes > 0);
        CHECK(sc->bytes <= (std::size_t{128} << 20));
    }
}

TEST_CASE("cache info: the streaming threshold is half the cache unless overridden", "[cache_info]") {
    const char* saved_env = std::getenv("NF_STREAMING_THRESHOLD");
    const std::string saved_value = saved_env ? saved_env : "";
    ::unsetenv("NF_STREAMING_THRESHOLD");
    CHECK(nf::detail::default_streaming_threshold() == nf::last_level_cache().bytes / 2);
    ::setenv("NF_STREAMING_THRESHOLD", "12345", 1);
    CHECK(nf::detail::default_streaming_threshold() == 12345);
    if (saved_env)
        ::setenv("NF_STREAMING_THRESHOLD", saved_value.c_str(), 1);
    else
        ::unsetenv("NF_STREAMING_THRESHOLD");

    const std::size_t saved = nf::streaming_threshold();
    nf::set_streaming_threshold(std::size_t{1} << 20);
    CHECK(nf::streaming_threshold() == (std::size_t{1} << 20));
    nf::set_streaming_threshold(saved);
    CHECK(nf::streaming_threshold() == saved);
}
