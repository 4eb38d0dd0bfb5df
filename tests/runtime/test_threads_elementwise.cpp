// Element-wise results do not depend on where an element falls in a run (the SIMD body, the
// tail after the last full batch, the head before an aligned streaming store) nor on the number
// of threads (issue 15, defect 12): with FMA available, `a + b * c` may be contracted in the
// SIMD body; the edges must round the same way. Compared bit for bit.
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "support/sanitized.hpp"

using namespace nf::axes;

namespace {

// The largest case: 2^19 elements, or 2^16 under AddressSanitizer (its -O0 build runs this file's
// transcendental functions about 30 times slower; 2^16 still splits between two threads:
// eval/parallel.hpp's parallel_min_work is 2^15).
constexpr std::size_t max_elements = std::size_t{1} << (NF_TEST_SANITIZED ? 16 : 19);
// The long row of the position test: 5 * 21 * long_row elements (a prime, so rows of every length
// tried end in a tail), shorter under AddressSanitizer for the same reason.
constexpr std::size_t long_row = NF_TEST_SANITIZED ? 257 : 1021;

/// Values whose products and sums round (no exact results), so that a fused multiply-add and a
/// multiply then an add give different last bits on many elements.
float value(std::size_t i, std::size_t which) {
    const std::size_t k = i * 2654435761u + which * 40503u;
    return 1.0f + static_cast<float>(k % 1000003) / 1000003.0f * (which == 0 ? 8000.0f : 3.1f);
}

template <class T>
std::size_t differing(const std::vector<T>& a, const std::vector<T>& b) {
    REQUIRE(a.size() == b.size());
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
    return n;
}

using nl = nf::shape<N<>, L<>>;

/// The expressions compared: 0, a multiply-add that FMA contraction may fuse; 1, functions whose
/// SIMD code (xsimd's polynomials) and a scalar libm call can round differently.
template <class T>
std::vector<T> evaluate(std::size_t n, std::size_t l, int threads, std::size_t stream_threshold, int form = 0) {
    nf::tensor<T, nl> a({n, l}), b({n, l}), c({n, l}), y({n, l});
    for (std::size_t i = 0; i < a.size(); ++i) {
        a.data()[i] = static_cast<T>(value(i, 0));
        b.data()[i] = static_cast<T>(value(i, 1));
        c.data()[i] = static_cast<T>(value(i, 2));
    }
    const int before = nf::num_threads();
    const std::size_t threshold_before = nf::streaming_threshold();
    nf::set_num_threads(threads);
    nf::set_streaming_threshold(stream_threshold);
    if (form == 0)
        y = a + b * c - (a * c + b);
    else
        y = nf::exp(b) * nf::tanh(c - T(2)) + nf::log(a) / nf::sqrt(c) + nf::sigmoid(b - c);
    nf::set_num_threads(before);
    nf::set_streaming_threshold(threshold_before);
    return std::vector<T>(y.data(), y.data() + y.size());
}

} // namespace

TEMPLATE_TEST_CASE("threads: element-wise results are bit-identical with 1 and 2 threads, on many extents",
                   "[threads][elementwise]", float, double) {
    for (const std::size_t l : {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{15}, std::size_t{17},
                                std::size_t{31}, std::size_t{33}, std::size_t{63}, std::size_t{65}, std::size_t{1000},
                                std::size_t{40001}, std::size_t{65537}}) {
        for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{2049}}) {
            if (n * l > max_elements) continue;
            for (const std::size_t threshold : {std::size_t(-1), std::size_t{0}}) { // regular and streaming stores
                INFO("n " << n << ", l " << l << ", streaming " << (threshold == 0));
                for (const int form : {0, 1}) {
                    INFO("form " << form);
                    const auto one = evaluate<TestType>(n, l, 1, threshold, form);
                    const auto two = evaluate<TestType>(n, l, 2, threshold, form);
                    CHECK(differing(one, two) == 0);
                }
            }
        }
    }
}

TEMPLATE_TEST_CASE("threads: an element's value does not depend on its position in the run (body, head, tail)",
                   "[threads][elementwise]", float, double) {
    // Row r of an (n, l) evaluation holds the inputs value(r * l + i); the same inputs in a single
    // long row put every element in the SIMD body, short rows put many in the tails, and
    // streaming stores add scalar heads before the first aligned address.
    const std::size_t total = 5 * 21 * long_row;
    for (const std::size_t threshold : {std::size_t(-1), std::size_t{0}}) {
        for (const int form : {0, 1}) {
            const auto body = evaluate<TestType>(1, total, 1, threshold, form);
            for (const std::size_t l : {std::size_t{1}, std::size_t{5}, std::size_t{21}, long_row}) {
                INFO("l " << l << ", streaming " << (threshold == 0) << ", form " << form);
                const auto rows = evaluate<TestType>(total / l, l, 1, threshold, form);
                CHECK(differing(body, rows) == 0);
            }
        }
    }
}
