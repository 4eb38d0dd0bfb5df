// Runtime tests of the reductions over named axes (nf::sum, nf::mean, nf::var biased and
// unbiased, nf::moments) on NCHW, NHWC, NCL, NLC, NC, NCDHW and NDHWC arrays of float and double,
// against a reference computed here in long double; their results broadcast back by name
// (`x - nf::mean<N, H, W>(x)`) in both layouts; LayerNorm-style reduction over C; odd extents; and
// the numerical stability of the variance at |mean| / std = 1e6 in float32.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using ncl = nf::shape<N<>, C<>, L<>>;
using nlc = nf::shape<N<>, L<>, C<>>;
using nc = nf::shape<N<>, C<>>;
using ncdhw = nf::shape<N<>, C<>, D<>, H<>, W<>>;
using ndhwc = nf::shape<N<>, D<>, H<>, W<>, C<>>;

/// Deterministic uniform numbers in [0, 1) (splitmix64), the same on every platform.
class random_source {
public:
    explicit random_source(std::uint64_t seed) : state_(seed) {}
    double next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
    }
    /// Roughly normal (sum of 4 uniforms, variance 1).
    double normal() { return (next() + next() + next() + next() - 2.0) * std::sqrt(3.0); }

private:
    std::uint64_t state_;
};

template <class T, class S>
nf::tensor<T, S> random_tensor(const std::array<std::size_t, S::rank>& e, std::uint64_t seed, double offset,
                               double spread) {
    nf::tensor<T, S> t(nf::extents<S>::from_all(e));
    random_source g(seed);
    for (auto& v : t) v = static_cast<T>(offset + spread * g.normal());
    return t;
}

/// The reference statistics of x over the axes `reduced` (names), per slot of the other axes, in
/// long double, slots in the row-major order of the kept axes as they appear in x.
struct reference_stats {
    std::vector<std::string_view> kept;
    std::size_t count = 0;
    std::vector<double> sum, mean, var, abs_sum, mean_abs;
    std::vector<double> max_dev2; // max (x - mean)^2 over the slot's values
};

template <class X>
reference_stats reference(const X& x, const std::vector<std::string_view>& reduced) {
    const auto names = axis_names<X>();
    reference_stats r;
    std::vector<bool> is_reduced(names.size(), false);
    for (std::size_t i = 0; i < names.size(); ++i) {
        for (auto n : reduced) is_reduced[i] = is_reduced[i] || n == names[i];
        if (!is_reduced[i]) r.kept.push_back(names[i]);
    }
    std::size_t slots = 1;
    for (std::size_t i = 0; i < names.size(); ++i)
        if (!is_reduced[i]) slots *= x.extent(i);
    r.count = slots ? x.size() / slots : 0;
    const auto values = to_logical(x, names); // x's own order
    std::vector<std::size_t> slot_of(values.size());
    {
        std::vector<std::size_t> idx(names.size(), 0);
        for (std::size_t q = 0; q < values.size(); ++q) {
            std::size_t s = 0;
            for (std::size_t i = 0; i < names.size(); ++i)
                if (!is_reduced[i]) s = s * x.extent(i) + idx[i];
            slot_of[q] = s;
            for (std::size_t i = names.size(); i-- > 0;) {
                if (++idx[i] < x.extent(i)) break;
                idx[i] = 0;
            }
        }
    }
    std::vector<long double> s1(slots, 0), s2(slots, 0), sa(slots, 0);
    for (std::size_t q = 0; q < values.size(); ++q) {
        s1[slot_of[q]] += values[q];
        sa[slot_of[q]] += std::abs(values[q]);
    }
    std::vector<long double> m(slots);
    for (std::size_t s = 0; s < slots; ++s) m[s] = s1[s] / static_cast<long double>(r.count);
    std::vector<long double> md(slots, 0);
    for (std::size_t q = 0; q < values.size(); ++q) {
        const long double d = values[q] - m[slot_of[q]];
        s2[slot_of[q]] += d * d;
        md[slot_of[q]] = std::max(md[slot_of[q]], d * d);
    }
    for (std::size_t s = 0; s < slots; ++s) {
        r.sum.push_back(static_cast<double>(s1[s]));
        r.mean.push_back(static_cast<double>(m[s]));
        r.var.push_back(static_cast<double>(s2[s] / static_cast<long double>(r.count))); // biased
        r.abs_sum.push_back(static_cast<double>(sa[s]));
        r.mean_abs.push_back(static_cast<double>(sa[s] / static_cast<long double>(r.count)));
        r.max_dev2.push_back(static_cast<double>(md[s]));
    }
    return r;
}

// Tolerances, from the algorithm the headers document, as worst-case bounds that hold whatever
// the order of the additions and whether multiply-adds are fused (every code path: SSE2, AVX2
// with and without FMA, AVX-512, scalar tails and OpenMP partial sums). u = 2^-53, M values per
// slot, gamma_n = n u / (1 - n u), which the slack below covers (n u < 1e-12 here).
//
// Any summation of M terms in any tree order passes each term through at most M - 1 roundings
// (additions into a zero accumulator are exact), so it errs by at most gamma_(M-1) * sum |terms|.
//
// sum and mean (plain sums, x exact in double): gamma_(M-1) * sum|x| (+ u for the division by M),
// then half an ulp of T for the conversion: M u sum|x| + u_T |sum|.
template <class T>
double sum_tolerance(const reference_stats& r, std::size_t s) {
    return static_cast<double>(r.count) * unit<double> * r.abs_sum[s] + unit<T> * std::abs(r.sum[s]);
}
template <class T>
double mean_tolerance(const reference_stats& r, std::size_t s) {
    return static_cast<double>(r.count) * unit<double> * r.mean_abs[s] + unit<T> * std::abs(r.mean[s]);
}

/// The mean square of x - k for the shift k the variance algorithms use: k is one of the slot's
/// values (or, when the operand holds a reduction, the mean computed by a first read, within
/// M u mean|x| of the mean). Either way (mean - k)^2 <= max (x - mean)^2 + (M u mean|x|)^2, and
/// q = mean (x - k)^2 = V + (mean - k)^2 with V the biased variance.
inline double shifted_mean_square(const reference_stats& r, std::size_t s) {
    const double shift_error = static_cast<double>(r.count) * unit<double> * r.mean_abs[s];
    return r.var[s] + r.max_dev2[s] + shift_error * shift_error;
}

/// The variance (divisor M - correction) from the shifted sums S1 = sum (x - k), S2 = sum (x - k)^2
/// in double. With a_i = x_i - k (exact) and A = sum |a_i| <= M sqrt(q), Q = sum a_i^2 = M q:
///  * each d_i = fl(x_i - k) = a_i (1 + e_i), |e_i| <= u (a subtraction or fma(x, 1, -k));
///  * S2: d_i^2 is rounded once (or not at all, fused into fma(d, d, acc)), then up to M - 1
///    additions: |S2 - Q| <= gamma_(M+2) Q (the 2 from (1 + e_i)^2);
///  * S1: |S1 - sum a_i| <= gamma_M A;
///  * nf::moments: d = fl(S1 / M) is within gamma_(M+1) A / M of c = mean - k (|c| <= A / M);
///    |d^2 - c^2| <= (2 + gamma) gamma_(M+1) (A / M)^2 <= (2M + 3) u q, plus u q for rounding d*d;
///    fl(S2 / M) within gamma_(M+3) q of q; the subtraction rounds by u V. Total (3M + 7) u q + u V;
///  * nf::var: fl(fl(S1 * S1) / M) is within (2M + 2) u Q of M c^2 and S2 within (M + 2) u Q of
///    Q; the subtraction rounds by u M V; the division by M - correction adds u V:
///    (3M + 5) u M q / (M - correction) + 2 u V;
///  * with a contracted multiply-subtract one rounding fewer; the final conversion to T adds half
///    an ulp: u_T V.
/// The bound (3M + 8) u q M / (M - correction) + u_T V covers both. A shift equal to the mean would
/// give q ~ V; a shift that is one of the values gives q up to M V, which is why the bound must
/// use q, not V (it used to use V: too tight by 10x for a slot whose first value lies far out).
template <class T>
double var_tolerance(const reference_stats& r, std::size_t s, double correction) {
    const double m = static_cast<double>(r.count);
    const double v = r.var[s] * m / (m - correction);
    return (3 * m + 8) * unit<double> * shifted_mean_square(r, s) * m / (m - correction) + unit<T> * v;
}

/// The mean from the shifted sums (nf::moments: k + fl(S1 / M), as above): within gamma_(M+1) A /
/// M <= (M + 1) u sqrt(q) of the mean before the addition of k, which rounds by u |mean|, and the
/// conversion to T by u_T |mean|. (The plain-sum bound mean_tolerance does not cover it: A / M
/// can exceed mean|x| when |k| is large against the mean.)
template <class T>
double shifted_mean_tolerance(const reference_stats& r, std::size_t s) {
    const double m = static_cast<double>(r.count);
    return (m + 2) * unit<double> * (std::sqrt(shifted_mean_square(r, s)) + std::abs(r.mean[s])) +
           unit<T> * std::abs(r.mean[s]);
}

template <class T, class F>
void check_slots(const std::vector<double>& got, const std::vector<double>& want, F tolerance, const char* what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t s = 0; s < got.size(); ++s) {
        const double tol = tolerance(s);
        INFO(what << " slot " << s << ": got " << got[s] << ", want " << want[s] << ", tolerance " << tol);
        CHECK(std::abs(got[s] - want[s]) <= tol);
    }
}

/// Every reduction of x over the axes Rs, against the reference.
template <class... Rs, class X>
void check_reductions(const X& x) {
    using T = typename X::value_type;
    const auto ref = reference(x, {std::string_view(Rs::name)...});
    INFO("reduced over " << sizeof...(Rs) << " axes, " << ref.count << " values per slot");

    auto sum_e = nf::sum<Rs...>(x);
    using KS = nf::shape_from<typename decltype(sum_e)::axes>;
    REQUIRE(axis_names<nf::tensor<T, KS>>() == ref.kept); // the other axes, in x's order

    const nf::tensor<T, KS> sum = sum_e;
    check_slots<T>(
        to_logical(sum, ref.kept), ref.sum, [&](std::size_t s) { return sum_tolerance<T>(ref, s); }, "sum");
    const nf::tensor<T, KS> mean = nf::mean<Rs...>(x);
    check_slots<T>(
        to_logical(mean, ref.kept), ref.mean, [&](std::size_t s) { return mean_tolerance<T>(ref, s); }, "mean");
    const nf::tensor<T, KS> var = nf::var<Rs...>(x);
    check_slots<T>(
        to_logical(var, ref.kept), ref.var, [&](std::size_t s) { return var_tolerance<T>(ref, s, 0); }, "var (biased)");
    const nf::tensor<T, KS> var_b = nf::var<Rs...>(x, nf::biased);
    CHECK(to_logical(var_b, ref.kept) == to_logical(var, ref.kept));
    if (ref.count > 1) {
        std::vector<double> unbiased = ref.var;
        for (auto& v : unbiased) v *= static_cast<double>(ref.count) / static_cast<double>(ref.count - 1);
        const nf::tensor<T, KS> var_u = nf::var<Rs...>(x, nf::unbiased);
        check_slots<T>(
            to_logical(var_u, ref.kept), unbiased, [&](std::size_t s) { return var_tolerance<T>(ref, s, 1); },
            "var (unbiased)");
    }
    const auto [m, v] = nf::moments<Rs...>(x);
    REQUIRE(axis_names<std::remove_cvref_t<decltype(m)>>() == ref.kept);
    check_slots<T>(
        to_logical(m, ref.kept), ref.mean, [&](std::size_t s) { return shifted_mean_tolerance<T>(ref, s); },
        "moments: mean");
    check_slots<T>(
        to_logical(v, ref.kept), ref.var, [&](std::size_t s) { return var_tolerance<T>(ref, s, 0); },
        "moments: variance");
    for (std::size_t s = 0; s < v.size(); ++s) CHECK(v.data()[s] >= 0);
    for (std::size_t s = 0; s < var.size(); ++s) CHECK(var.data()[s] >= 0);
}

/// The odd extents of the tests: 1, 3 and 17 on every axis kind, N = 1 included.
const std::array<std::array<std::size_t, 4>, 3> nchw_extents{{{3, 17, 1, 5}, {1, 3, 17, 3}, {2, 1, 3, 17}}};

} // namespace

TEMPLATE_TEST_CASE("reduce: sum, mean, var, moments of NCHW and NHWC over every kind of axis set", "[reduce]", float,
                   double) {
    using T = TestType;
    const auto e = GENERATE(from_range(nchw_extents));
    CAPTURE(e);
    const auto x = random_tensor<T, nchw>(e, 11 + e[1], 0.5, 2.0);
    const auto xl = relayout<nhwc>(x);
    SECTION("per channel (BatchNorm): over N, H, W") {
        check_reductions<N<>, H<>, W<>>(x);
        check_reductions<N<>, H<>, W<>>(xl);
    }
    SECTION("per instance (InstanceNorm): over H, W") {
        check_reductions<H<>, W<>>(x);
        check_reductions<H<>, W<>>(xl);
    }
    SECTION("over C (LayerNorm-style): a tensor over N, H, W") {
        check_reductions<C<>>(x);
        check_reductions<C<>>(xl);
    }
    SECTION("over everything: a rank-0 tensor") {
        check_reductions<N<>, C<>, H<>, W<>>(x);
        check_reductions<W<>, H<>, C<>, N<>>(xl); // the order of the named axes does not matter
    }
    SECTION("over one inner or outer axis") {
        check_reductions<W<>>(x);
        check_reductions<N<>>(x);
        check_reductions<N<>, C<>>(xl);
    }
}

TEMPLATE_TEST_CASE("reduce: NCL, NLC, NC, NCDHW and NDHWC", "[reduce]", float, double) {
    using T = TestType;
    SECTION("NCL and NLC") {
        const auto x = random_tensor<T, ncl>({3, 17, 5}, 21, -1.0, 3.0);
        const auto xl = relayout<nlc>(x);
        // (Over L alone in NCL and over C in NLC reduce the innermost axis like W in NCHW and C in
        // NHWC above: left out, each axis set costs seconds of compile time.)
        check_reductions<N<>, L<>>(x);
        check_reductions<N<>, L<>>(xl);
        check_reductions<L<>>(xl);
    }
    SECTION("NC, over N and over C") {
        const auto x = random_tensor<T, nc>({17, 3}, 22, 2.0, 0.5);
        check_reductions<N<>>(x);
        check_reductions<C<>>(x);
        const auto x1 = random_tensor<T, nc>({3, 1}, 23, 2.0, 0.5);
        check_reductions<N<>>(x1);
    }
    SECTION("NCDHW and NDHWC") {
        const auto x = random_tensor<T, ncdhw>({2, 3, 1, 17, 3}, 24, 0.0, 1.0);
        const auto xl = relayout<ndhwc>(x);
        // (Over D, H, W: the same kinds of run as over H, W in NCHW and NHWC above; left out.)
        check_reductions<N<>, D<>, H<>, W<>>(x);
        check_reductions<N<>, D<>, H<>, W<>>(xl);
    }
}

TEMPLATE_TEST_CASE("reduce: the axis tags may be given as templates or as types", "[reduce]", float, double) {
    using T = TestType;
    const auto x = random_tensor<T, nchw>({2, 3, 4, 5}, 31, 0.0, 1.0);
    const nf::tensor<T, nf::shape<C<>>> a = nf::mean<N, H, W>(x);
    const nf::tensor<T, nf::shape<C<>>> b = nf::mean<N<>, H<>, W<>>(x);
    const nf::tensor<T, nf::shape<C<3>>> c = nf::mean<N, H, W>(x); // into a static extent
    CHECK(to_logical(a, {"C"}) == to_logical(b, {"C"}));
    CHECK(to_logical(a, {"C"}) == to_logical(c, {"C"}));
    const nf::tensor<T, nf::shape<C<>>> va = nf::var<N, H, W>(x, nf::unbiased);
    const nf::tensor<T, nf::shape<C<>>> vb = nf::var<N<>, H<>, W<>>(x, nf::unbiased);
    CHECK(to_logical(va, {"C"}) == to_logical(vb, {"C"}));
    const nf::tensor<T, nf::shape<C<>>> sa = nf::sum<N, H, W>(x);
    const nf::tensor<T, nf::shape<C<>>> sb = nf::sum<N<>, H<>, W<>>(x);
    CHECK(to_logical(sa, {"C"}) == to_logical(sb, {"C"}));
}

TEMPLATE_TEST_CASE("reduce: views over unaligned memory and expressions as operands", "[reduce]", float, double) {
    using T = TestType;
    const auto x = random_tensor<T, nhwc>({3, 5, 17, 3}, 41, 1.0, 1.0);
    unaligned_buffer<T> buf(x.size(), 1);
    std::copy(x.begin(), x.end(), buf.data());
    const nf::view<const T, nhwc> xv(buf.data(), x.extents());
    check_reductions<N<>, H<>, W<>>(xv);
    check_reductions<C<>>(xv);

    // An expression operand: the reduction evaluates it on the fly.
    const nf::tensor<T, nf::shape<C<>>> sq = nf::sum<N, H, W>(x * x);
    const nf::tensor<T, nhwc> x2 = x * x;
    const auto ref = reference(x2, {"N", "H", "W"});
    check_slots<T>(
        to_logical(sq, {"C"}), ref.sum, [&](std::size_t s) { return 2 * sum_tolerance<T>(ref, s); }, "sum of x * x");
    const nf::tensor<T, nf::shape<C<>>> shifted = nf::mean<N, H, W>(x - T(1));
    const auto rx = reference(x, {"N", "H", "W"});
    std::vector<double> minus_one = rx.mean;
    for (auto& m : minus_one) m -= 1;
    // Each x - 1 is rounded to T before it is summed: half a unit of T of |x - 1| <= mean|x| + 1.
    check_slots<T>(
        to_logical(shifted, {"C"}), minus_one,
        [&](std::size_t s) { return mean_tolerance<T>(rx, s) + unit<T> * (rx.mean_abs[s] + 1); }, "mean of x - 1");
}

TEMPLATE_TEST_CASE("reduce: results broadcast back by name in NCHW and NHWC", "[reduce]", float, double) {
    using T = TestType;
    const auto e = GENERATE(from_range(nchw_extents));
    CAPTURE(e);
    const auto x = random_tensor<T, nchw>(e, 51 + e[3], 3.0, 2.0);
    const auto xl = relayout<nhwc>(x);
    const auto logical = axis_names<nf::tensor<T, nchw>>();
    const auto xs = to_logical(x, logical);
    const auto ref = reference(x, {"N", "H", "W"});
    const std::size_t cs = e[1], hw = e[2] * e[3];
    auto channel = [&](std::size_t q) { return (q / hw) % cs; };

    // x - mean: the mean is rounded to T before the subtraction, so each element is within one
    // rounding of the subtraction and one ulp of the mean (plus the mean's own error).
    auto centered_tol = [&](std::size_t q) {
        const std::size_t c = channel(q);
        return unit<T> * std::abs(xs[q] - ref.mean[c]) + ulp<T>(ref.mean[c]) + mean_tolerance<T>(ref, c);
    };
    std::vector<double> centered(xs.size());
    for (std::size_t q = 0; q < xs.size(); ++q) centered[q] = xs[q] - ref.mean[channel(q)];

    nf::tensor<T, nchw> y(x.extents());
    y = x - nf::mean<N, H, W>(x);
    check_slots<T>(to_logical(y, logical), centered, centered_tol, "NCHW: x - mean<N, H, W>(x)");
    nf::tensor<T, nhwc> yl(xl.extents());
    yl = xl - nf::mean<N, H, W>(xl);
    check_slots<T>(to_logical(yl, logical), centered, centered_tol, "NHWC: x - mean<N, H, W>(x)");
    // Mixed: a statistic of the NHWC tensor broadcast over the NCHW one.
    y = x - nf::mean<N, H, W>(xl);
    check_slots<T>(to_logical(y, logical), centered, centered_tol, "NCHW x - mean of NHWC x");

    // Standardization in one expression: (x - mean) / sqrt(var + eps), mean and var of T.
    const double eps = 1e-5;
    std::vector<double> standard(xs.size());
    for (std::size_t q = 0; q < xs.size(); ++q)
        standard[q] = centered[q] / std::sqrt(ref.var[channel(q)] + static_cast<double>(static_cast<T>(eps)));
    // The numerator carries the errors above (one rounding of x - mean, the mean's ulp), the
    // variance one rounding, and the sum, sqrt and division round once each: about
    // 4 * max|z| + 2 * |mean| / std units of T; 16 * max(|z|, 1) * max(1, |mean| / std) bounds it.
    // The mean's rounding enters relative to std, hence the factor max(1, |mean| / std).
    double ratio = 1.0;
    for (std::size_t c = 0; c < cs; ++c) ratio = std::max(ratio, std::abs(ref.mean[c]) / std::sqrt(ref.var[c] + eps));
    // The statistics' own errors in double (which the units of T above leave out, and which
    // matter for T = double): per channel the mean within shifted_mean_tolerance and the variance
    // within var_tolerance (whichever way they are summed, see above), so the standardized value
    // moves by mean error / std + |z| * variance error / (2 (var + eps)).
    double statistics = 0;
    for (std::size_t c = 0; c < cs; ++c) {
        const double s2 = ref.var[c] + eps;
        statistics = std::max(statistics,
                              std::max(mean_tolerance<T>(ref, c), shifted_mean_tolerance<T>(ref, c)) / std::sqrt(s2) +
                                  scale_of(standard) * var_tolerance<T>(ref, c, 0) / (2 * s2));
    }
    const double tol = 16 * unit<T> * scale_of(standard) * ratio + statistics;
    yl = (xl - nf::mean<N, H, W>(xl)) / nf::sqrt(nf::var<N, H, W>(xl) + static_cast<T>(eps));
    check_values(to_logical(yl, logical), standard, tol, "NHWC standardized", "reduce standardize");
    y = (x - nf::mean<N, H, W>(x)) / nf::sqrt(nf::var<N, H, W>(x) + static_cast<T>(eps));
    check_values(to_logical(y, logical), standard, tol, "NCHW standardized", "reduce standardize");

    // LayerNorm-style: statistics over C broadcast back over N, H, W.
    const auto rc = reference(x, {"C"});
    std::vector<double> ln(xs.size());
    for (std::size_t q = 0; q < xs.size(); ++q) {
        const std::size_t n = q / (cs * hw), p = q % hw;
        ln[q] = xs[q] - rc.mean[n * hw + p];
    }
    yl = xl - nf::mean<C>(xl);
    // The mean over C: within mean_tolerance (M u mean|x|, which for double exceeds the units of
    // T), rounded to T, then one subtraction: 4 units of T of max|x| cover the roundings.
    double ln_mean = 0;
    for (std::size_t s = 0; s < rc.mean.size(); ++s) ln_mean = std::max(ln_mean, mean_tolerance<T>(rc, s));
    const double ln_tol = 4 * unit<T> * scale_of(xs) + ln_mean;
    check_values(to_logical(yl, logical), ln, ln_tol, "NHWC: x - mean<C>(x)", "reduce broadcast");
    y = x - nf::mean<C>(x);
    check_values(to_logical(y, logical), ln, ln_tol, "NCHW: x - mean<C>(x)", "reduce broadcast");
}

TEST_CASE("reduce: float32 variance at mean 1e6 and std 1 is accurate and never negative", "[reduce]") {
    // Why 1e-4 relative is the right bar, and what to expect.
    //  * The data are exact float32 values; the reference is a two-pass long double computation
    //    on them, exact to ~1e-18 relative here.
    //  * nf::var accumulates x - k in double, with k one of the slot's own values (exact in
    //    double) or, when its operand holds a reduction, its mean: (mean - k)^2 <= n * variance,
    //    so sum (x - k)^2 - (sum (x - k))^2 / n loses at most log2(n + 1) bits of a double (~1e-13
    //    relative here); the one conversion to float adds 2^-24 = 6e-8. Expected error: < 1e-7
    //    relative (checked too).
    //  * Any method that rounds the mean to float first is off by up to (ulp(1e6) / 2)^2 =
    //    (0.031)^2 ~ 1e-3 relative to a variance of 1, and the one-pass E[x^2] - E[x]^2 in float
    //    loses everything (E[x^2] ~ 1e12 has an ulp of 65536) and goes negative (spec 7).
    //  So a bound of 1e-4 separates the accurate algorithms from the inaccurate ones by 10x on
    //  either side.
    const auto x = random_tensor<float, nchw>({4, 3, 17, 5}, 61, 1e6, 1.0);
    const auto xl = relayout<nhwc>(x);
    const auto ref = reference(x, {"N", "H", "W"});
    auto check = [&](const std::vector<double>& got, const char* what) {
        REQUIRE(got.size() == ref.var.size());
        for (std::size_t c = 0; c < got.size(); ++c) {
            const double rel = std::abs(got[c] - ref.var[c]) / ref.var[c];
            error_report::get().record("reduce var at mean 1e6 (float32), relative", rel, rel);
            INFO(what << " channel " << c << ": got " << got[c] << ", want " << ref.var[c] << ", relative error "
                      << rel);
            CHECK(got[c] >= 0);
            CHECK(rel < 1e-4);
            CHECK(rel <= 2 * unit<float>); // the expected accuracy derived above
        }
    };
    const nf::tensor<float, nf::shape<C<>>> v1 = nf::var<N, H, W>(x);
    const nf::tensor<float, nf::shape<C<>>> v2 = nf::var<N, H, W>(xl);
    check(to_logical(v1, {"C"}), "nf::var NCHW");
    check(to_logical(v2, {"C"}), "nf::var NHWC");
    const auto [m1, mv1] = nf::moments<N, H, W>(x);
    const auto [m2, mv2] = nf::moments<N, H, W>(xl);
    check(to_logical(mv1, {"C"}), "nf::moments NCHW");
    check(to_logical(mv2, {"C"}), "nf::moments NHWC");
    for (std::size_t c = 0; c < 3; ++c) {
        // The mean itself: within half an ulp of float at 1e6 (0.031) plus nothing else.
        CHECK(std::abs(static_cast<double>(m1.data()[c]) - ref.mean[c]) <= ulp<float>(ref.mean[c]) / 2);
        CHECK(std::abs(static_cast<double>(m2.data()[c]) - ref.mean[c]) <= ulp<float>(ref.mean[c]) / 2);
    }
    // An operand that holds a reduction: shifted by its mean (a second read). x - mean is exact
    // in float here (both near 1e6), and the variance does not depend on the shift.
    const nf::tensor<float, nf::shape<C<>>> v3 = nf::var<N, H, W>(x - nf::mean<N, H, W>(x));
    check(to_logical(v3, {"C"}), "nf::var of x - mean");
    // Per-instance statistics over H, W (fewer values, same offset): hoisted into a tensor, and
    // slot by slot inside a loop over (N, C, H, W) (eval/row_local.hpp).
    const nf::tensor<float, nf::shape<N<>, C<>>> vi = nf::var<H, W>(x);
    nf::tensor<float, nchw> vr(x.extents());
    vr = nf::var<H, W>(x) + x * 0.0f;
    const auto ri = reference(x, {"H", "W"});
    const auto vis = to_logical(vi, {"N", "C"});
    for (std::size_t s = 0; s < vis.size(); ++s) {
        const double row_local = vr.data()[s * ri.count];
        INFO("instance " << s << ": hoisted " << vis[s] << ", row by row " << row_local << ", want " << ri.var[s]);
        CHECK(vis[s] >= 0);
        CHECK(std::abs(vis[s] - ri.var[s]) <= 2 * unit<float> * ri.var[s]);
        CHECK(std::abs(row_local - ri.var[s]) <= 2 * unit<float> * ri.var[s]);
    }
}

TEST_CASE("reduce: the variance of constant and nearly constant large values is exact and not negative", "[reduce]") {
    // Channel 0: every value 1e6 exactly (variance 0). Channel 1: 1e6 and the next float up
    // (0.0625 apart), alternating (variance 0.0625^2 / 4). Channel 2: 16777216 and 16777218, where
    // float spacing is 2 (variance 1). Any cancellation would show as a negative or noisy result.
    nf::tensor<float, nchw> x({2, 3, 3, 5});
    const float up = std::nextafter(1e6f, 2e6f);
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t h = 0; h < 3; ++h)
            for (std::size_t w = 0; w < 5; ++w) {
                const bool odd = (n * 15 + h * 5 + w) % 2 == 1;
                x(n, 0, h, w) = 1e6f;
                x(n, 1, h, w) = odd ? up : 1e6f;
                x(n, 2, h, w) = odd ? 16777218.0f : 16777216.0f;
            }
    const auto xl = relayout<nhwc>(x);
    const auto ref = reference(x, {"N", "H", "W"});
    REQUIRE(ref.var[0] == 0);
    for (const auto& v :
         {to_logical(nf::tensor<float, nf::shape<C<>>>(nf::var<N, H, W>(x)), {"C"}),
          to_logical(nf::tensor<float, nf::shape<C<>>>(nf::var<N, H, W>(xl)), {"C"}),
          to_logical(nf::moments<N, H, W>(x).variance, {"C"}), to_logical(nf::moments<N, H, W>(xl).variance, {"C"})}) {
        CHECK(v[0] == 0);
        for (std::size_t c = 0; c < 3; ++c) {
            INFO("channel " << c << ": got " << v[c] << ", want " << ref.var[c]);
            CHECK(v[c] >= 0);
            CHECK(std::abs(v[c] - ref.var[c]) <= 2 * unit<float> * ref.var[c]);
        }
    }
}
