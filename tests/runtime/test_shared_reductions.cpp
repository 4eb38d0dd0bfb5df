// Runtime tests of identical reductions in one assignment (eval/row_local.hpp, eval/assign.hpp):
// `mean<C>(square(x))` or `sum<C>(w * x)` written twice, as derived gradients have them, are
// computed once per slot (row-local path) or once per hoisted buffer (hoisted and blocked paths),
// and the results are those of the formula. The evaluator's counters (nf::detail::evaluations)
// prove the "once": the same expression with the second occurrence of each reduction taken over
// another tensor of the same type (so the same expression types, other values) reads twice as much.
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <map>
#include <type_traits>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>
#include <normfuse/reduce/reductions.hpp>

#include "support/reference.hpp"

using namespace nf::axes;
using nf_test::named_index;
using nf_test::ref;
using nf_test::ref_value;

namespace {

using nhwc = nf::shape<N<>, H<>, W<>, C<>>; // reductions over C row-local
using nchw = nf::shape<N<>, C<>, H<>, W<>>; // reductions over C hoisted, blocked by N
using vec_c = nf::shape<C<>>;

// 2 * 9 * 37 * 100 = 66600 elements: more than two threads' minimum work (eval/parallel.hpp).
constexpr std::size_t n = 2, h = 9, w_ = 37, c = 100;

/// Restores the number of threads on exit.
struct threads_guard {
    int before = nf::num_threads();
    ~threads_guard() { nf::set_num_threads(before); }
};

/// y = x m + w m + x s - s with m = mean_C(x^2), s = sum_C(w x): each reduction twice. With `z`
/// another tensor than `x`, the second m and s are those of z (same types, other values).
template <class Y, class X, class V>
void assign_twice(Y& y, const X& x, const X& z, const V& w) {
    y = x * nf::mean<C>(nf::square(x)) + w * nf::mean<C>(nf::square(z)) + x * nf::sum<C>(w * x) - nf::sum<C>(w * z);
}

/// The double reference of assign_twice(y, x, z, w), with the magnitudes it adds. The sums over C
/// are computed once per row (N, H, W) and kept, so that the reference costs a pass over the data,
/// not a pass per element (it dominated this test's time under AddressSanitizer).
template <class X, class V>
class reference_twice {
public:
    reference_twice(const X& x, const X& z, const V& w) : x_(x), z_(z), w_(w) {}

    ref_value operator()(const named_index& i) {
        const row_key key{i["N"], i["H"], i["W"]};
        auto it = rows_.find(key);
        if (it == rows_.end()) it = rows_.emplace(key, sums_of(i)).first;
        const auto& [mx, mz, sx, sz, sa] = it->second;
        const double xv = ref(x_, i), wv = ref(w_, i);
        return {xv * mx + wv * mz + xv * sx - sz, std::abs(xv * mx) + std::abs(wv * mz) + (std::abs(xv) + 1) * sa};
    }

private:
    using row_key = std::array<std::size_t, 3>;
    struct row_sums {
        double mx, mz, sx, sz, sa;
    };

    row_sums sums_of(const named_index& i) const {
        double mx = 0, mz = 0, sx = 0, sz = 0, sa = 0;
        named_index j = i;
        for (std::size_t k = 0; k < c; ++k) {
            j.set("C", k);
            const double u = ref(x_, j), v = ref(z_, j), g = ref(w_, j);
            mx += u * u;
            mz += v * v;
            sx += g * u;
            sz += g * v;
            sa += std::abs(g * u) + std::abs(g * v);
        }
        return {mx / static_cast<double>(c), mz / static_cast<double>(c), sx, sz, sa};
    }

    const X& x_;
    const X& z_;
    const V& w_;
    std::map<row_key, row_sums> rows_;
};

template <class S>
void check_layout() {
    constexpr bool channels_last = std::is_same_v<S, nhwc>;
    const auto e = nf::extents<S>::from_all(channels_last ? std::array{n, h, w_, c} : std::array{n, c, h, w_});
    nf::tensor<float, S> x(e), z(e), y(e), y2(e);
    nf::tensor<float, vec_c> w(nf::extents<vec_c>::from_all({c}));
    nf_test::fill_signed(x, 71, 0.5, 2.0);
    nf_test::fill_signed(z, 72, 0.5, 2.0);
    nf_test::fill_signed(w, 73, 0.5, 1.5);
    threads_guard guard;
    nf::set_num_threads(1);

    SECTION("computed once, matching the double reference") {
        auto& count = nf::detail::evaluations;
        count = {};
        assign_twice(y, x, z, w); // four distinct reductions
        const auto distinct = count;
        // Sums in double rounded once to float, then 2 products, 3 sums and the rounding of m and
        // s carried into them: 8 steps of float over the magnitudes added.
        CHECK(nf_test::near(y, reference_twice(x, z, w), 8));
        count = {};
        assign_twice(y, x, x, w); // two, each twice
        const auto twice = count;
        // Each distinct reduction read once: per row where it is row-local (m over channels
        // last), per box of the blocked path where it is hoisted (the others).
        if constexpr (channels_last) {
            CHECK(distinct.slot_reads == 2 * n * h * w_);
            CHECK(twice.slot_reads == n * h * w_);
        } else {
            CHECK(distinct.slot_reads == 0);
        }
        CHECK(distinct.hoisted_parts > 0);
        CHECK(twice.hoisted_parts * 2 == distinct.hoisted_parts);
        CHECK(nf_test::near(y, reference_twice(x, x, w), 8));
    }
    SECTION("1 and 2 threads, bitwise") {
        assign_twice(y, x, x, w);
        nf::set_num_threads(2);
        assign_twice(y2, x, x, w);
        CHECK(nf_test::same_values(y2, y));
    }
}

} // namespace

TEST_CASE("identical reductions are computed once, channels last (row-local)", "[shared_reductions]") {
    check_layout<nhwc>();
}

TEST_CASE("identical reductions are computed once, channels first (hoisted, blocked)", "[shared_reductions]") {
    check_layout<nchw>();
}

TEST_CASE("the derived RMSNorm gradient reads a row once", "[shared_reductions]") {
    using nlc = nf::shape<N<>, L<>, C<>>;
    constexpr std::size_t rows = 3 * 50;
    const auto e = nf::extents<nlc>::from_all({3, 50, c});
    nf::tensor<float, nlc> x(e), dy(e), dx(e);
    nf::tensor<float, vec_c> w(nf::extents<vec_c>::from_all({c}));
    nf_test::fill_signed(x, 81, 0.5, 2.0);
    nf_test::fill_signed(dy, 82, 0.5, 1.0);
    nf_test::fill_signed(w, 83, 0.5, 1.5);
    const float eps = 1e-5f;
    const auto y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + eps) * w;
    auto [gx] = nf::gradient(y, dy, nf::wrt(x));
    threads_guard guard;
    nf::set_num_threads(1);
    nf::detail::evaluations = {};
    dx = gx;
    // mean(x^2) appears twice (in r and in the rsqrt rule's r^3), sum(w dy x) once: two distinct
    // sums, fused into one read of the row.
    CHECK(nf::detail::evaluations.slot_reads == rows);
    // dx = r w dy - x r^3 mean(w dy x), r = 1 / sqrt(mean(x^2) + eps).
    CHECK(nf_test::near(
        dx,
        [&](const named_index& i) {
            double m = 0, s = 0, sa = 0;
            named_index j = i;
            for (std::size_t k = 0; k < c; ++k) {
                j.set("C", k);
                m += ref(x, j) * ref(x, j);
                s += ref(w, j) * ref(dy, j) * ref(x, j);
                sa += std::abs(ref(w, j) * ref(dy, j) * ref(x, j));
            }
            const double r = 1 / std::sqrt(m / c + eps), gv = ref(w, i) * ref(dy, i), xv = ref(x, i);
            const double t = xv * r * r * r * s / c;
            return ref_value{r * gv - t, std::abs(r * gv) + std::abs(xv * r * r * r) * sa / c};
        },
        // rsqrt (transcendental), its cube, the products and the difference: 16 steps of float.
        16 + nf_test::transcendental_steps));
}

TEST_CASE("the derived LayerNorm gradient reads a row once", "[shared_reductions]") {
    // Its values are checked in test_gradient.cpp; here, how often a row is read.
    using nlc = nf::shape<N<>, L<>, C<>>;
    constexpr std::size_t rows = 2 * 30;
    const auto e = nf::extents<nlc>::from_all({2, 30, c});
    nf::tensor<float, nlc> x(e), dy(e), dx(e);
    nf::tensor<float, vec_c> w(nf::extents<vec_c>::from_all({c})), b(nf::extents<vec_c>::from_all({c}));
    nf_test::fill_signed(x, 91, 0.5, 2.0);
    nf_test::fill_signed(dy, 92, 0.5, 1.0);
    nf_test::fill_signed(w, 93, 0.5, 1.5);
    nf_test::fill_signed(b, 94, 0.5, 1.5);
    const float eps = 1e-5f;
    const auto y = (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + eps) * w + b;
    auto [gx] = nf::gradient(y, dy, nf::wrt(x));
    threads_guard guard;
    nf::set_num_threads(1);
    nf::detail::evaluations = {};
    dx = gx;
    // The moments of x (its means and variances share them), sum(w dy) (twice in the
    // expression) and sum(w dy x): three distinct sums, fused into one read of each row, nothing
    // hoisted.
    CHECK(nf::detail::evaluations.slot_reads == rows);
    CHECK(nf::detail::evaluations.hoisted_parts == 0);
}
