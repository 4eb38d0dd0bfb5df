// Runtime tests of in-place evaluation (the destination is an operand, same memory, same layout)
// with one and two threads: every reduction over the destination must be complete before the
// first store into its slot, however the work is split between threads (issue 15, defect 2).
// Checked against float64 references computed here from a copy of the input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;

namespace {

float input_value(std::size_t i) {
    // Slot means far from 0 and varying, so a half-overwritten slot changes the statistics a lot.
    return static_cast<float>(static_cast<int>((i * 7919) % 211) - 105) / 16.0f + 3.0f +
           0.5f * static_cast<float>(i % 13);
}

/// max |got - want| against the tolerance k * 2^-24 * max(1, max|want|) (see output_tolerance).
void check_close(const float* got, const std::vector<double>& want, const char* what) {
    double worst = 0, scale = 1;
    std::size_t at = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(want[i]));
        const double e = std::abs(static_cast<double>(got[i]) - want[i]);
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    const double tolerance = nf_layers::output_tolerance<float>(scale);
    INFO(what << ": max error " << worst << " at " << at << " (got " << got[at] << ", want " << want[at]
              << "), tolerance " << tolerance);
    CHECK(worst <= tolerance);
}

/// Normalizes every slot of `row` consecutive values in double: (x - mean) / sqrt(var + eps), or
/// with `rms`, x / sqrt(mean(x^2) + eps).
std::vector<double> normalize_rows(const std::vector<float>& x, std::size_t row, double eps, bool rms) {
    std::vector<double> out(x.size());
    for (std::size_t s = 0; s < x.size() / row; ++s) {
        double m = 0, q = 0;
        for (std::size_t i = 0; i < row; ++i) m += x[s * row + i];
        m /= static_cast<double>(row);
        for (std::size_t i = 0; i < row; ++i) {
            const double v = rms ? x[s * row + i] : x[s * row + i] - m;
            q += v * v;
        }
        q /= static_cast<double>(row);
        for (std::size_t i = 0; i < row; ++i)
            out[s * row + i] = (rms ? x[s * row + i] : x[s * row + i] - m) / std::sqrt(q + eps);
    }
    return out;
}

template <class F>
void for_threads(F&& f) {
    const int before = nf::num_threads();
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        INFO("threads: " << nf::num_threads());
        for (int repeat = 0; repeat < 5; ++repeat) f();
    }
    nf::set_num_threads(before);
}

using nchw = nf::shape<N<>, C<>, H<>, W<>>;

} // namespace

TEST_CASE("inplace: layer_norm over (C, H, W) of one sample, in place", "[inplace][threads]") {
    const std::size_t c = 16, h = 64, w = 64;
    std::vector<float> x0(c * h * w);
    for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = input_value(i);
    const auto want = normalize_rows(x0, c * h * w, 1e-5, false);
    nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> ln({c, h, w}, {.eps = 1e-5});
    for_threads([&] {
        nf::tensor<float, nchw> x({1, c, h, w});
        std::copy(x0.begin(), x0.end(), x.data());
        ln(x, nf::nn::in_place);
        check_close(x.data(), want, "layer_norm in place");
    });
}

TEST_CASE("inplace: rms_norm over (C, H, W) of one sample, in place", "[inplace][threads]") {
    const std::size_t c = 16, h = 64, w = 64;
    std::vector<float> x0(c * h * w);
    for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = input_value(i);
    const auto want = normalize_rows(x0, c * h * w, 1e-5, true);
    nf::nn::rms_norm<float, nf::shape<C<>, H<>, W<>>> rn({c, h, w}, {.eps = 1e-5});
    for_threads([&] {
        nf::tensor<float, nchw> x({1, c, h, w});
        std::copy(x0.begin(), x0.end(), x.data());
        rn(x, nf::nn::in_place);
        check_close(x.data(), want, "rms_norm in place");
    });
}

TEST_CASE("inplace: group norm written in the DSL over (N, G, K, H, W), assigned back into x", "[inplace][threads]") {
    using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;
    for (const auto& e : {std::array<std::size_t, 5>{15, 17, 8, 9, 18}, std::array<std::size_t, 5>{3, 1, 5, 7, 11},
                          std::array<std::size_t, 5>{1, 3, 64, 16, 16}, std::array<std::size_t, 5>{2, 1, 64, 32, 32}}) {
        const std::size_t row = e[2] * e[3] * e[4];
        std::vector<float> x0(e[0] * e[1] * row);
        for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = input_value(i);
        std::vector<float> gamma(e[1] * e[2]);
        for (std::size_t i = 0; i < gamma.size(); ++i) gamma[i] = 0.5f + 0.125f * static_cast<float>(i % 7);
        auto want = normalize_rows(x0, row, 1e-5, false);
        for (std::size_t i = 0; i < want.size(); ++i) want[i] *= gamma[i / (e[3] * e[4]) % gamma.size()];
        INFO("extents " << e[0] << " " << e[1] << " " << e[2] << " " << e[3] << " " << e[4]);
        for_threads([&] {
            nf::tensor<float, ngkhw> x(nf::extents<ngkhw>::from_all(e));
            std::copy(x0.begin(), x0.end(), x.data());
            const nf::view<const float, nf::shape<G<>, K<>>> gv(gamma.data(), {e[1], e[2]});
            x = (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + 1e-5f) * gv;
            check_close(x.data(), want, "group norm DSL in place");
        });
    }
}

TEST_CASE("inplace: a per-row centering over the destination's innermost axis, one long row, in place",
          "[inplace][threads]") {
    // One slot that is longer than the parallel threshold: the threads share a single run.
    using nl = nf::shape<N<>, L<>>;
    for (const std::size_t n : {std::size_t{1}, std::size_t{3}}) {
        const std::size_t l = 100003;
        std::vector<float> x0(n * l);
        for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = input_value(i);
        std::vector<double> centered(x0.size());
        for (std::size_t s = 0; s < n; ++s) {
            double m = 0;
            for (std::size_t i = 0; i < l; ++i) m += x0[s * l + i];
            m /= static_cast<double>(l);
            for (std::size_t i = 0; i < l; ++i) centered[s * l + i] = x0[s * l + i] - m;
        }
        INFO("n " << n);
        for_threads([&] {
            nf::tensor<float, nl> x({n, l});
            std::copy(x0.begin(), x0.end(), x.data());
            x = x - nf::mean<L>(x);
            check_close(x.data(), centered, "centering in place");
        });
    }
}
