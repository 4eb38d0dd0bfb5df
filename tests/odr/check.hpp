// What the ODR test drivers (main.cpp, main_layers.cpp) share: which units this CPU can run, and
// comparisons that count and print failures. Compiled for the baseline ISA only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace nf_odr_check {

inline constexpr int skip_return_code = 77; // SKIP_RETURN_CODE of the CTest tests
inline constexpr double u = 0x1p-24;        // unit roundoff of float
inline int failures = 0;

inline bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
inline bool cpu_has_avx512() {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
}

/// |got[i] - want[i]| <= tol(i, want[i]) for every i, and the sizes match.
template <class G>
void expect_near(const std::string& what, const std::vector<G>& got, const std::vector<double>& want,
                 const std::function<double(std::size_t, double)>& tol) {
    if (got.size() != want.size()) {
        std::printf("FAILED: %s: %zu values, want %zu\n", what.c_str(), got.size(), want.size());
        ++failures;
        return;
    }
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!(std::abs(static_cast<double>(got[i]) - want[i]) <= tol(i, want[i])) && bad++ == 0) first = i;
    if (bad) {
        std::printf("FAILED: %s: %zu of %zu values off, first at %zu: got %.9g, want %.9g, tolerance %.3g\n",
                    what.c_str(), bad, want.size(), first, static_cast<double>(got[first]), want[first],
                    tol(first, want[first]));
        ++failures;
    }
}

/// Bit-identical results.
template <class G>
void expect_equal(const std::string& what, const std::vector<G>& a, const std::vector<G>& b) {
    if (a != b) {
        std::printf("FAILED: %s: the units differ\n", what.c_str());
        ++failures;
    }
}

template <class G>
std::vector<double> widened(const std::vector<G>& v) {
    return std::vector<double>(v.begin(), v.end());
}

} // namespace nf_odr_check
