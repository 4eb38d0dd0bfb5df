// tests/fuzz/libfuzzer.cpp: the libFuzzer target. The input bytes are decoded into the same case
// structure as the seed driver's (fz::generate over a byte_source), so libFuzzer's coverage-guided
// mutations steer the layouts, extents, data kinds and options. NF_FUZZ_EXCLUDE (comma-separated,
// as --exclude) leaves out case families; a mismatch aborts with the case's description.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "driver.hpp"

namespace {
const fz::exclusions& env_exclusions() {
    static const fz::exclusions ex = [] {
        fz::exclusions e;
        if (const char* s = std::getenv("NF_FUZZ_EXCLUDE")) {
            std::stringstream ss(s);
            for (std::string n; std::getline(ss, n, ',');)
                if (!n.empty() && !fz::exclude_by_name(e, n)) {
                    std::fprintf(stderr, "NF_FUZZ_EXCLUDE: unknown family %s\n", n.c_str());
                    std::abort();
                }
        }
        return e;
    }();
    return ex;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
#if !defined(_OPENMP)
    static const bool threads_installed = (fz::use_std_threads(), true); // 2-thread cases need threads
    (void)threads_installed;
#endif
    fz::byte_source src(data, size);
    fz::totals t;
    const fz::fuzz_case c = fz::generate(src, 0, 0);
    if (!fz::run_one(c, env_exclusions(), {}, t)) {
        std::fprintf(stderr, "normfuse_fuzz_libfuzzer: mismatch in %s\n", fz::describe(c).c_str());
        std::abort();
    }
    return 0;
}
