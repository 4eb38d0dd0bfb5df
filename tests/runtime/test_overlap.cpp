// Runtime tests of assignments whose destination overlaps an operand other than exactly (issue
// 15, defect 5): a view shifted by a few elements, a transposed view of the same memory, a
// reduction over a shifted operand. The result must be that of an assignment from a copy,
// whatever the SIMD width and the number of threads; in place (same memory, same layout) stays
// as it was. References are computed here, in double, from a copy of the input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {

float input_value(std::size_t i) {
    return static_cast<float>(static_cast<int>((i * 7919) % 211) - 105) / 8.0f;
}

template <class F>
void for_threads(F&& f) {
    const int before = nf::num_threads();
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        INFO("threads: " << nf::num_threads());
        f();
    }
    nf::set_num_threads(before);
}

using l_shape = nf::shape<L<>>;
using nl = nf::shape<N<>, L<>>;

} // namespace

TEST_CASE("overlap: y = x * 2 + 1 with y a view of x shifted by s elements", "[overlap]") {
    // Element-wise: exact in float, so the result must equal the reference exactly.
    for (const std::size_t n :
         {std::size_t{1}, std::size_t{7}, std::size_t{17}, std::size_t{33}, std::size_t{100}, std::size_t{70001}}) {
        for (const std::ptrdiff_t s : {std::ptrdiff_t{1}, std::ptrdiff_t{-1}, std::ptrdiff_t{3}, std::ptrdiff_t{-5},
                                       std::ptrdiff_t{16}, std::ptrdiff_t{-16}}) {
            if (static_cast<std::size_t>(std::abs(s)) >= n) continue;
            INFO("n " << n << ", shift " << s);
            for_threads([&] {
                std::vector<float> buffer(n + 16);
                for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = input_value(i);
                const std::vector<float> before = buffer;
                const std::size_t xo = s > 0 ? 0 : static_cast<std::size_t>(-s);
                const std::size_t yo = s > 0 ? static_cast<std::size_t>(s) : 0;
                const nf::view<const float, l_shape> x(buffer.data() + xo, {n});
                nf::view<float, l_shape> y(buffer.data() + yo, {n});
                y = x * 2.0f + 1.0f;
                std::size_t wrong = 0, first = n;
                for (std::size_t i = 0; i < n; ++i) {
                    if (buffer[yo + i] != before[xo + i] * 2.0f + 1.0f) {
                        ++wrong;
                        if (first == n) first = i;
                    }
                }
                INFO("wrong elements: " << wrong << ", first at " << first);
                CHECK(wrong == 0);
                for (std::size_t i = 0; i < buffer.size(); ++i)
                    if (i < yo || i >= yo + n) REQUIRE(buffer[i] == before[i]); // nothing outside y written
            });
        }
    }
}

TEST_CASE("overlap: a transposed view of the destination's own memory", "[overlap]") {
    using hw = nf::shape<H<>, W<>>;
    using wh = nf::shape<W<>, H<>>;
    for (const std::size_t m : {std::size_t{3}, std::size_t{16}, std::size_t{190}}) {
        INFO("m " << m);
        for_threads([&] {
            std::vector<float> buffer(m * m);
            for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = input_value(i);
            const std::vector<float> before = buffer;
            // The same memory read as (W, H): y(h, w) = buffer[w * m + h] before the assignment.
            const nf::view<const float, wh> xt(buffer.data(), {m, m});
            nf::view<float, hw> y(buffer.data(), {m, m});
            y = xt + 0.0f;
            std::size_t wrong = 0;
            for (std::size_t h = 0; h < m; ++h)
                for (std::size_t w = 0; w < m; ++w) wrong += buffer[h * m + w] != before[w * m + h];
            CHECK(wrong == 0);
        });
    }
}

TEST_CASE("overlap: y = x - mean<L>(x) with y a view of x shifted by one element", "[overlap]") {
    for (const std::size_t n : {std::size_t{2}, std::size_t{5}}) {
        for (const std::size_t l : {std::size_t{9}, std::size_t{40000}}) {
            INFO("n " << n << ", l " << l);
            for_threads([&] {
                std::vector<float> buffer(n * l + 1);
                for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = input_value(i) + static_cast<float>(i % 5);
                const std::vector<float> before = buffer;
                const nf::view<const float, nl> x(buffer.data(), {n, l});
                nf::view<float, nl> y(buffer.data() + 1, {n, l});
                y = x - nf::mean<L>(x);
                double worst = 0;
                for (std::size_t r = 0; r < n; ++r) {
                    double m = 0;
                    for (std::size_t i = 0; i < l; ++i) m += before[r * l + i];
                    m /= static_cast<double>(l);
                    for (std::size_t i = 0; i < l; ++i)
                        worst = std::max(worst, std::abs(buffer[1 + r * l + i] - (before[r * l + i] - m)));
                }
                // x - m rounded once to float, with m exact to double rounding and |x - m| < 64:
                // half a float ulp of 64 plus float's rounding of m.
                CHECK(worst <= 64 * 0x1p-24 * 2);
            });
        }
    }
}

TEST_CASE("overlap: in place (same memory, same layout) is evaluated without a temporary and stays right",
          "[overlap]") {
    for_threads([&] {
        nf::tensor<float, nl> x({3, 50000});
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = input_value(i);
        const std::vector<float> before(x.data(), x.data() + x.size());
        x = x * 2.0f - 3.0f;
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < x.size(); ++i) wrong += x.data()[i] != before[i] * 2.0f - 3.0f;
        CHECK(wrong == 0);
        // A view of the same memory with the same layout is in place too.
        nf::view<float, nl> v(x.data(), {3, 50000});
        v = x + 1.0f;
        wrong = 0;
        for (std::size_t i = 0; i < x.size(); ++i) wrong += x.data()[i] != before[i] * 2.0f - 2.0f;
        CHECK(wrong == 0);
        CHECK_FALSE(
            nf::detail::overlaps_partially<nf::tensor<float, nl>::axes>(x.data(), x.size(), nf::as_expression(x)));
    });
}
