// tests/fuzz/driver.cpp: runs one case against the reference, with one thread and (for 2-thread
// cases) two, and compares the thread counts.
#include "driver.hpp"

#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <normfuse/eval/parallel.hpp>

#include "harness.hpp"

namespace fz {

void use_std_threads() {
    // Item `begin` on the calling thread, every other item on a new std::thread, all joined
    // before returning (the library hands over at most nf::num_threads() = 2 items here).
    nf::set_parallel_for([](std::size_t begin, std::size_t end, nf::parallel_body body) {
        std::vector<std::thread> helpers;
        helpers.reserve(end - begin);
        for (std::size_t k = begin + 1; k < end; ++k) helpers.emplace_back([body, k] { body(k, k + 1); });
        if (begin < end) body(begin, begin + 1);
        for (auto& h : helpers) h.join();
    });
}

std::vector<float> run_expression_img(const fuzz_case& c, int threads, checker& chk);
std::vector<float> run_expression_other(const fuzz_case& c, int threads, checker& chk);
std::vector<float> run_layer_img(const fuzz_case& c, int threads, checker& chk);
std::vector<float> run_layer_other(const fuzz_case& c, int threads, checker& chk);

namespace {
std::vector<float> run(const fuzz_case& c, int threads, checker& chk) {
    chk.context = "threads " + std::to_string(threads);
    const bool img = c.set == set_img;
#if defined(NF_FUZZ_NO_EXPRESSIONS) // the ThreadSanitizer build; excluded_by skips them
    if (c.k < kind::normalize) throw std::logic_error("the expression cases are not built");
#else
    if (c.k < kind::normalize) return img ? run_expression_img(c, threads, chk) : run_expression_other(c, threads, chk);
#endif
    return img ? run_layer_img(c, threads, chk) : run_layer_other(c, threads, chk);
}
} // namespace

bool elementwise_only(const fuzz_case& c) {
    return c.k == kind::elementwise || c.k == kind::normalize;
}

// Defects of issue 15 that this fuzzer found before their fixes (all fixed now; `--exclude known`
// still names them, to fuzz an older checkout):
//   nan              #3  NaN/Inf turned into finite variances and outputs
//   inplace-threads  #2  in place with two threads overwrites slots still being read
//   overlap          #5  overlapping source and destination depend on the SIMD width
//   threads-bitwise  #12 FMA in the SIMD body but not in the scalar edges (1 vs 2 threads)
//   gn-c-first       #1  GroupNorm takes weight/bias from the wrong channel when C precedes N
//   empty            #9, #11  reductions over nothing, layers with N = 0
const char* const known_defect_exclusions = "nan,inplace-threads,overlap,threads-bitwise,gn-c-first,empty";

bool exclude_by_name(exclusions& ex, const std::string& name) {
    if (name == "nan")
        ex.nan = true;
    else if (name == "subnormal")
        ex.subnormal = true;
    else if (name == "inplace")
        ex.inplace = true;
    else if (name == "inplace-threads")
        ex.inplace_threads = true;
    else if (name == "overlap")
        ex.overlap = true;
    else if (name == "threads-bitwise")
        ex.threads_bitwise = true;
    else if (name == "gn-c-first")
        ex.gn_c_first = true;
    else if (name == "empty")
        ex.empty = true;
    else if (name == "streaming")
        ex.streaming = true;
    else if (name == "known") {
        std::stringstream ss(known_defect_exclusions);
        for (std::string n; std::getline(ss, n, ',');) exclude_by_name(ex, n);
    } else
        return false;
    return true;
}

bool run_one(fuzz_case c, const exclusions& ex, const run_options& opt, totals& t) {
    if (opt.force_threads) c.threads = opt.force_threads;
    if (!excluded_by(c, ex).empty()) {
        ++t.skipped;
        return true;
    }
    ++t.cases;
    if (opt.verbose)
        std::printf("case %llu/%llu: %s\n", static_cast<unsigned long long>(c.seed),
                    static_cast<unsigned long long>(c.index), describe(c).c_str());
    checker chk(c);
    const auto one = run(c, 1, chk);
    if (c.threads == 2) {
        const auto two = run(c, 2, chk);
        chk.context = "1 vs 2 threads";
        if (one.size() != two.size()) {
            chk.fail("1 thread gave " + std::to_string(one.size()) + " values, 2 threads " +
                     std::to_string(two.size()));
        } else if (elementwise_only(c) && !ex.threads_bitwise) {
            // The guide: results are the same as the serial ones up to the order of additions in
            // reductions; elementwise results must be identical.
            for (std::size_t i = 0; i < one.size(); ++i) chk.same("y(2 threads)", i, two[i], one[i]);
        }
    }
    t.values += chk.values;
    t.uncompared += chk.uncompared;
    if (chk.max_ratio > t.max_ratio) {
        t.max_ratio = chk.max_ratio;
        t.max_ratio_case = "--seed " + std::to_string(c.seed) + " --case " + std::to_string(c.index);
    }
    if (chk.failures) {
        ++t.failed;
        std::printf("FAIL %s (%d mismatches)\n%s  repro: tests/fuzz/normfuse_fuzz --seed %llu --case %llu%s\n",
                    describe(c).c_str(), chk.failures, chk.report.c_str(), static_cast<unsigned long long>(c.seed),
                    static_cast<unsigned long long>(c.index),
                    opt.force_threads ? (" --threads " + std::to_string(opt.force_threads)).c_str() : "");
        std::fflush(stdout);
        return false;
    }
    return true;
}

} // namespace fz
