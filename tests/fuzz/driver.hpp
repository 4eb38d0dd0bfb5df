// tests/fuzz/driver.hpp: running one case (with one or two thread counts) and the exclusions by name.
#pragma once

#include <string>

#include "fuzz.hpp"

namespace fz {

/// Names accepted by --exclude, and the set that the test command uses while the defects of
/// issue 15 are open (see README.md).
bool exclude_by_name(exclusions& ex, const std::string& name);
extern const char* const known_defect_exclusions;

/// How a run overrides the generated cases.
struct run_options {
    int force_threads = 0; // 0: as generated; 1 or 2
    bool verbose = false;
};

/// Runs the library's threaded loops on std::thread through nf::set_parallel_for (the road of a
/// caller's own pool) instead of OpenMP: what a build without OpenMP uses (ThreadSanitizer's,
/// libFuzzer's), since 2-thread cases must run two threads.
void use_std_threads();

/// Runs one case; prints a failure with its reproduction line. Returns false on failure.
bool run_one(fuzz_case c, const exclusions& ex, const run_options& opt, totals& t);

} // namespace fz
