// tests/fuzz/main.cpp: normfuse_fuzz, the seed-driven differential fuzzer (see README.md).
//
//   normfuse_fuzz --seed S --case K          one case, verbose (the reproduction line of a failure)
//   normfuse_fuzz --seeds A:B [--cases M]    cases 0..M-1 of every seed in [A, B)
//   normfuse_fuzz --seconds T [--seed S]     seeds S, S+1, ... until T seconds have passed
//   --threads 1|2        run every case with one thread, or with one and two threads and compare
//   --exclude a,b,...    leave out case families: nan, subnormal, inplace, inplace-threads, overlap,
//                        threads-bitwise, gn-c-first, empty, streaming; `known` = the open defects
//   --kinds k,...        only these kinds (elementwise, reduce_full, reduce_kept, group_expr,
//                        normalize, batch_norm, instance_norm, layer_norm, group_norm, rms_norm)
//   --layouts L,...      only these input layouts (NCHW, NHWC, CNHW, NHCW, NC3HW, NHW8C16, NCL, ...)
//   --verbose            print every case;  --max-failures F  stop after F failing cases
//   --std-threads        run the library's threads on std::thread through nf::set_parallel_for (the
//                        caller's-pool road) instead of OpenMP; always so in a build without OpenMP,
//                        such as the ThreadSanitizer one (OpenMP's runtime is not instrumented)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "driver.hpp"

namespace {
std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> v;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) v.push_back(item);
    return v;
}
[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "normfuse_fuzz: %s (see tests/fuzz/README.md)\n", why);
    std::exit(2);
}
} // namespace

int main(int argc, char** argv) {
    using namespace fz;
    exclusions ex;
    run_options opt;
    std::uint64_t seed = 1, first = 0, last = 0, cases = 100;
    long long one_case = -1;
    double seconds = 0;
    bool range = false;
    std::uint64_t max_failures = 20;
#if defined(_OPENMP)
    bool std_threads = false;
#else
    bool std_threads = true;
#endif
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--seed")
            seed = std::stoull(next());
        else if (a == "--case")
            one_case = std::stoll(next());
        else if (a == "--seeds") {
            const std::string r = next();
            const auto colon = r.find(':');
            if (colon == std::string::npos) usage("--seeds takes A:B");
            first = std::stoull(r.substr(0, colon));
            last = std::stoull(r.substr(colon + 1));
            range = true;
        } else if (a == "--cases")
            cases = std::stoull(next());
        else if (a == "--seconds")
            seconds = std::stod(next());
        else if (a == "--minutes")
            seconds = 60 * std::stod(next());
        else if (a == "--threads") {
            opt.force_threads = std::stoi(next());
            if (opt.force_threads != 1 && opt.force_threads != 2) usage("--threads takes 1 or 2");
        } else if (a == "--exclude") {
            for (const auto& n : split(next()))
                if (!exclude_by_name(ex, n)) usage(("unknown family " + n).c_str());
        } else if (a == "--kinds")
            ex.kinds = split(next());
        else if (a == "--layouts")
            ex.layouts = split(next());
        else if (a == "--verbose")
            opt.verbose = true;
        else if (a == "--max-failures")
            max_failures = std::stoull(next());
        else if (a == "--std-threads")
            std_threads = true;
        else
            usage(("unknown option " + a).c_str());
    }

    if (std_threads) use_std_threads();

    totals t;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    auto run_case = [&](std::uint64_t s, std::uint64_t k) {
        rng_source src(s * 0x9e3779b97f4a7c15ull ^ (k + 1) * 0xd1b54a32d192ed03ull);
        return run_one(generate(src, s, k), ex, opt, t);
    };
    std::uint64_t seeds_run = 0, last_seed = seed;
    if (one_case >= 0) {
        opt.verbose = true;
        run_case(seed, static_cast<std::uint64_t>(one_case));
        seeds_run = 1;
    } else {
        if (!range) {
            first = seed;
            last = seconds > 0 ? ~std::uint64_t{0} : seed + 1;
        }
        for (std::uint64_t s = first; s < last && t.failed < max_failures; ++s) {
            for (std::uint64_t k = 0; k < cases && t.failed < max_failures; ++k) run_case(s, k);
            ++seeds_run;
            last_seed = s;
            if (seconds > 0 && elapsed() >= seconds) break;
        }
    }
    std::printf("normfuse_fuzz: %llu cases run (%llu excluded), seeds %llu..%llu (%llu cases each), %llu failed; "
                "%llu values compared (%llu not determined by the formula); max error/bound %.3g%s%s; %.1f s\n",
                static_cast<unsigned long long>(t.cases), static_cast<unsigned long long>(t.skipped),
                static_cast<unsigned long long>(one_case >= 0 ? seed : first),
                static_cast<unsigned long long>(one_case >= 0 ? seed : last_seed),
                static_cast<unsigned long long>(one_case >= 0 ? 1 : cases), static_cast<unsigned long long>(t.failed),
                static_cast<unsigned long long>(t.values), static_cast<unsigned long long>(t.uncompared), t.max_ratio,
                t.max_ratio_case.empty() ? "" : " at ", t.max_ratio_case.c_str(), elapsed());
    (void)seeds_run;
    return t.failed ? 1 : 0;
}
