// Runtime tests of the reductions at the edges of their input (issue 15, defects 3 and 9): NaN and
// Inf propagate as in PyTorch 1.13 (a NaN is never turned into a variance of 0, the mean of
// {1, Inf} is Inf, its variance NaN), and reductions over zero values with kept slots give
// PyTorch's values without reading the (empty) input: sum 0, mean NaN, variance NaN biased and
// unbiased, unbiased variance of one value NaN. Every reduction kind, hoisted (computed before the
// loop), row-local (slot by slot in the loop), in boxes (blocked), nf::moments, float and double,
// one and two threads.
//
// The expected values are PyTorch's semantics written out in a float64 reference here: sum,
// mean = sum / n, var = sum (x - mean)^2 / max(0, n - correction) in IEEE arithmetic, which is what
// torch.sum / torch.mean / torch.var give for NaN, Inf and empty inputs (NaN where 0 / 0 or
// Inf - Inf occurs). A finite expected value is compared with a tolerance of a few float rounding
// units of its magnitude; NaN must be NaN and an infinity the same infinity.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/row_local.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

enum class kind { sum, mean, var_biased, var_unbiased, inv_rms, row_scale };
constexpr std::array<kind, 6> all_kinds{kind::sum,          kind::mean,    kind::var_biased,
                                        kind::var_unbiased, kind::inv_rms, kind::row_scale};
constexpr double eps = 1e-3; // inv_rms, row_scale

const char* name(kind k) {
    switch (k) {
    case kind::sum:
        return "sum";
    case kind::mean:
        return "mean";
    case kind::var_biased:
        return "var biased";
    case kind::var_unbiased:
        return "var unbiased";
    case kind::inv_rms:
        return "inv_rms";
    case kind::row_scale:
        return "row_scale";
    }
    return "?";
}

/// PyTorch's value of the reduction of `v` (float64, IEEE: NaN and Inf propagate by arithmetic).
double reference(kind k, const std::vector<double>& v) {
    const double n = static_cast<double>(v.size());
    double s = 0, sq = 0;
    for (double a : v) {
        s += a;
        sq += a * a;
    }
    const double m = s / n;
    double m2 = 0;
    for (double a : v) m2 += (a - m) * (a - m);
    switch (k) {
    case kind::sum:
        return s;
    case kind::mean:
        return m;
    case kind::var_biased:
        return m2 / n;
    case kind::var_unbiased:
        return m2 / std::max(0.0, n - 1); // PyTorch's divisor: 0 / 0 when n <= 1
    case kind::inv_rms:
        return 1.0 / std::sqrt(sq / n + eps);
    case kind::row_scale:
        return 1.0 / std::sqrt(m2 / n + eps);
    }
    return 0;
}

/// NaN where NaN, the same infinity where infinite, else within `rel` of max(1, |want|).
bool matches(double got, double want, double rel) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    return std::isfinite(got) && std::abs(got - want) <= rel * std::max(1.0, std::abs(want));
}

template <class T>
constexpr double rel_tol = std::is_same_v<T, float> ? 8 * 0x1p-24 : 8 * 0x1p-53;

/// Calls f(reduction) with the reduction of kind k over R of the operand x.
template <class R, class X, class F>
void with_reduction(kind k, const X& x, F&& f) {
    switch (k) {
    case kind::sum:
        f(nf::sum<R>(x));
        break;
    case kind::mean:
        f(nf::mean<R>(x));
        break;
    case kind::var_biased:
        f(nf::var<R>(x));
        break;
    case kind::var_unbiased:
        f(nf::var<R>(x, nf::unbiased));
        break;
    case kind::inv_rms:
        f(nf::detail::inv_rms<R>(x, eps));
        break;
    case kind::row_scale:
        f(nf::detail::row_scale<R>(x, eps));
        break;
    }
}

using nl = nf::shape<N<>, L<>>;
using nc = nf::shape<N<>, C<>>;
using cn = nf::shape<C<>, N<>>;
using x_nl = nf::view<const float, nl>;

// The reduction over L of x (N, L) broadcast over C: in a loop over (N, C) its slot N is the
// loop's outer axis, computed row by row (row-local); over (C, N) it is computed before the loop.
using rows_expr = decltype(std::declval<nf::tensor<float, nc>&>() + nf::var<L<>>(std::declval<x_nl>()));
using cols_expr = decltype(std::declval<nf::tensor<float, cn>&>() + nf::var<L<>>(std::declval<x_nl>()));
template <class S, class E>
using plan_of = nf::detail::plan<float, xsimd::default_arch, typename S::axes, E>;
static_assert(nf::detail::all_row_local<rows_expr, plan_of<nc, rows_expr>>());
static_assert(!nf::detail::all_row_local<cols_expr, plan_of<cn, cols_expr>>());

/// The reduction of kind k over L of the rows (N, L) `data`, evaluated three ways: alone into a
/// tensor over N (hoisted), broadcast into (N, C) (row-local) and into (C, N) (hoisted in a loop
/// over other axes). Each is checked against the reference, row by row.
template <class T>
void check_rows(const std::vector<std::vector<double>>& rows, std::size_t l) {
    const std::size_t n = rows.size(), c = 3;
    std::vector<T> data(n * l);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < l; ++j) data[i * l + j] = static_cast<T>(rows[i][j]);
    // A null pointer for zero values: a reduction must not read it.
    const nf::view<const T, nl> xv(l == 0 ? nullptr : data.data(), {n, l});
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        for (kind k : all_kinds) {
            std::vector<double> want(n);
            for (std::size_t i = 0; i < n; ++i) {
                std::vector<double> v(rows[i].begin(), rows[i].end());
                for (double& a : v) a = static_cast<double>(static_cast<T>(a)); // as stored
                want[i] = reference(k, v);
            }
            nf::tensor<T, nf::shape<N<>>> alone(nf::extents<nf::shape<N<>>>::from_all({n}));
            nf::tensor<T, nc> by_rows({n, c});
            nf::tensor<T, cn> by_cols({c, n});
            const nf::tensor<T, nc> zero_rows({n, c});
            const nf::tensor<T, cn> zero_cols({c, n});
            with_reduction<L<>>(k, xv, [&](const auto& r) {
                alone = r;
                by_rows = zero_rows + r;
                by_cols = zero_cols + r;
            });
            for (std::size_t i = 0; i < n; ++i) {
                std::ostringstream row;
                for (double a : rows[i]) row << a << ' ';
                INFO("threads " << threads << ", " << name(k) << " over L of row " << i << " { " << row.str()
                                << "}: want " << want[i]);
                CHECK(matches(alone(i), want[i], rel_tol<T>));
                for (std::size_t j = 0; j < c; ++j) {
                    INFO("column " << j << ": alone " << alone(i) << ", row-local " << by_rows(i, j) << ", hoisted "
                                   << by_cols(j, i));
                    CHECK(matches(by_rows(i, j), want[i], rel_tol<T>));
                    CHECK(matches(by_cols(j, i), want[i], rel_tol<T>));
                }
            }
        }
    }
    nf::set_num_threads(1);
}

/// nf::moments<L> of the same rows: mean and biased variance.
template <class T>
void check_moments(const std::vector<std::vector<double>>& rows, std::size_t l) {
    const std::size_t n = rows.size();
    std::vector<T> data(n * l);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < l; ++j) data[i * l + j] = static_cast<T>(rows[i][j]);
    const nf::view<const T, nl> xv(l == 0 ? nullptr : data.data(), {n, l});
    auto [mean, var] = nf::moments<L>(xv);
    REQUIRE(mean.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> v(rows[i].begin(), rows[i].end());
        for (double& a : v) a = static_cast<double>(static_cast<T>(a));
        INFO("nf::moments<L>, row " << i << ": mean " << mean(i) << ", var " << var(i));
        CHECK(matches(mean(i), reference(kind::mean, v), rel_tol<T>));
        CHECK(matches(var(i), reference(kind::var_biased, v), rel_tol<T>));
    }
}

// Rows of four values; NaN and Inf first (the slot's shift) and inside.
const std::vector<std::vector<double>> special_rows{
    {1, nan_v, 3, 4},      {nan_v, 1, 2, 3},     {1, inf_v, 3, 4}, {inf_v, 1, 3, 4}, {-inf_v, 1, 2, 3},
    {-inf_v, inf_v, 1, 2}, {inf_v, inf_v, 1, 2}, {1, 2, 3, 4},     {5, 5, 5, 5},     {1e6, 1e6 + 1, 1e6 + 2, 1e6 + 4}};

} // namespace

TEMPLATE_TEST_CASE("reductions: NaN and Inf propagate as in PyTorch, every kind and path", "[reduce_edges]", float,
                   double) {
    // PyTorch: var of {1, NaN, 3, 4} is NaN (not 0); mean of {1, Inf} is Inf, its var NaN.
    {
        std::vector<double> v{1, nan_v, 3, 4};
        CHECK(std::isnan(reference(kind::var_biased, v)));
        std::vector<double> w{1, inf_v};
        CHECK(reference(kind::mean, w) == inf_v);
        CHECK(std::isnan(reference(kind::var_biased, w)));
    }
    check_rows<TestType>(special_rows, 4);
    check_moments<TestType>(special_rows, 4);
}

TEST_CASE("reductions: var<L> of {1, NaN, 3, 4} is NaN (issue 15)", "[reduce_edges]") {
    nf::tensor<float, nf::shape<L<>>> x{1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f, 4.0f};
    nf::tensor<float, nf::shape<N<>, L<>>> xs({1, 4});
    std::copy(x.begin(), x.end(), xs.begin());
    nf::tensor<float, nf::shape<N<>>> v(nf::extents<nf::shape<N<>>>::from_all({1}));
    v = nf::var<L>(xs);
    CHECK(std::isnan(v(0)));
    v = nf::var<L>(xs, nf::unbiased);
    CHECK(std::isnan(v(0)));
}

TEMPLATE_TEST_CASE("reductions over zero values with kept slots: sum 0, mean and variance NaN", "[reduce_edges]", float,
                   double) {
    // x of (N = 4, L = 0): four slots of nothing.
    const std::vector<std::vector<double>> empty_rows(4);
    check_rows<TestType>(empty_rows, 0);
    check_moments<TestType>(empty_rows, 0);
    // The reference is PyTorch's: torch.sum over an empty dim is 0, torch.mean and torch.var NaN.
    CHECK(reference(kind::sum, {}) == 0.0);
    CHECK(std::isnan(reference(kind::mean, {})));
    CHECK(std::isnan(reference(kind::var_biased, {})));
    CHECK(std::isnan(reference(kind::var_unbiased, {})));
}

TEMPLATE_TEST_CASE("reductions over one value: unbiased variance NaN, biased 0", "[reduce_edges]", float, double) {
    const std::vector<std::vector<double>> single{{2.5}, {-7}, {inf_v}, {nan_v}, {0}};
    check_rows<TestType>(single, 1);
    check_moments<TestType>(single, 1);
    CHECK(std::isnan(reference(kind::var_unbiased, {2.5})));
    CHECK(reference(kind::var_biased, {2.5}) == 0.0);
}

TEST_CASE("nf::moments over (0, 3, 4, 4) reads nothing: NaN mean and variance per channel", "[reduce_edges]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    nf::tensor<float, nchw> x({0, 3, 4, 4});
    REQUIRE(x.data() == nullptr);
    auto [mean, var] = nf::moments<N, H, W>(x);
    REQUIRE(mean.size() == 3);
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(std::isnan(mean(c)));
        CHECK(std::isnan(var(c)));
    }
    // The same reductions as expressions, hoisted (C is not the loop's outer axis).
    const auto c3 = nf::extents<nf::shape<C<>>>::from_all({3});
    nf::tensor<float, nf::shape<C<>>> m(c3), v(c3), s(c3);
    m = nf::mean<N, H, W>(x);
    v = nf::var<N, H, W>(x, nf::unbiased);
    s = nf::sum<N, H, W>(x);
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(std::isnan(m(c)));
        CHECK(std::isnan(v(c)));
        CHECK(s(c) == 0.0f);
    }
    // A channel axis of extent 0: no slot, nothing to compute.
    nf::tensor<float, nchw> none({2, 0, 4, 4});
    auto [m0, v0] = nf::moments<N, H, W>(none);
    CHECK(m0.size() == 0);
    CHECK(v0.size() == 0);
}

TEST_CASE("row-local LayerNorm coefficients and mean/var pairs with NaN and Inf rows", "[reduce_edges]") {
    // (x - row_shift) * row_scale + row_offset is LayerNorm over L (nn::layer_norm builds it), and
    // (x - mean) * rsqrt(var + eps) its written-out form (mean and var share one read). A row
    // holding NaN or Inf is NaN everywhere in PyTorch; the other rows are unaffected.
    const std::size_t l = 4;
    const std::size_t n = special_rows.size();
    std::vector<float> data(n * l);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < l; ++j) data[i * l + j] = static_cast<float>(special_rows[i][j]);
    const nf::view<const float, nl> xv(data.data(), {n, l});
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        nf::tensor<float, nl> a({n, l}), b({n, l});
        a = (xv - nf::detail::row_shift<L<>>(xv)) * nf::detail::row_scale<L<>>(xv, eps) +
            nf::detail::row_offset<L<>>(xv, eps);
        b = (xv - nf::mean<L>(xv)) * nf::rsqrt(nf::var<L>(xv) + static_cast<float>(eps));
        for (std::size_t i = 0; i < n; ++i) {
            std::vector<double> v(l);
            for (std::size_t j = 0; j < l; ++j) v[j] = data[i * l + j];
            const double m = reference(kind::mean, v), s = reference(kind::row_scale, v);
            for (std::size_t j = 0; j < l; ++j) {
                const double want = (v[j] - m) * s;
                INFO("threads " << threads << ", row " << i << ", column " << j << ": want " << want << ", got "
                                << a(i, j) << " and " << b(i, j));
                // |x - mean| * scale <= sqrt(n): a few units of float at that magnitude, plus the
                // rounding of mean and 1/sqrt(var + eps) to float (|mean| up to 1e6: 1e6 * 2^-24
                // times the scale of about 1, for the row at offset 1e6)
                const double tol = 16 * 0x1p-24 * (1 + std::abs(m)) * (1 + std::abs(s));
                CHECK(matches(a(i, j), want, tol));
                CHECK(matches(b(i, j), want, tol));
            }
        }
    }
    nf::set_num_threads(1);
}

TEST_CASE("blocked and threaded reductions carry NaN and Inf into their own slots only", "[reduce_edges]") {
    // (N, G, K, H, W) of 512 KiB, a mean and a variance over (K, W): cut in boxes along N and G
    // (eval/blocked.hpp), the threaded accumulation when two threads are set. One NaN and one Inf
    // in two of the 8 * 32 * ... slots.
    using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;
    const std::size_t n = 2, g = 4, k = 8, h = 32, w = 64;
    using x_t = nf::view<const float, ngkhw>;
    using over_kw = decltype(std::declval<x_t>() - nf::mean<K, W>(std::declval<x_t>()));
    static_assert(nf::detail::block_prefix<ngkhw::axes, over_kw>() == 2);
    std::vector<float> data(n * g * k * h * w);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(static_cast<int>(i * 7919 % 101) - 50);
    auto at = [&](std::size_t ni, std::size_t gi, std::size_t ki, std::size_t hi, std::size_t wi) -> float& {
        return data[(((ni * g + gi) * k + ki) * h + hi) * w + wi];
    };
    at(0, 1, 3, 5, 7) = std::numeric_limits<float>::quiet_NaN(); // slot (n=0, g=1, h=5)
    at(1, 2, 0, 9, 0) = std::numeric_limits<float>::infinity();  // slot (n=1, g=2, h=9), first value
    const x_t xv(data.data(), {n, g, k, h, w});
    for (const int threads : {1, 2}) {
        nf::set_num_threads(threads);
        nf::tensor<float, ngkhw> centered({n, g, k, h, w});
        centered = xv - nf::mean<K, W>(xv);
        nf::tensor<float, nf::shape<N<>, G<>, H<>>> var({n, g, h}), mean({n, g, h});
        var = nf::var<K, W>(xv);
        mean = nf::mean<K, W>(xv);
        for (std::size_t ni = 0; ni < n; ++ni)
            for (std::size_t gi = 0; gi < g; ++gi)
                for (std::size_t hi = 0; hi < h; ++hi) {
                    std::vector<double> v;
                    for (std::size_t ki = 0; ki < k; ++ki)
                        for (std::size_t wi = 0; wi < w; ++wi) v.push_back(at(ni, gi, ki, hi, wi));
                    const double m = reference(kind::mean, v);
                    INFO("threads " << threads << ", slot (" << ni << ", " << gi << ", " << hi << ")");
                    CHECK(matches(var(ni, gi, hi), reference(kind::var_biased, v), 1e-5));
                    CHECK(matches(mean(ni, gi, hi), m, 1e-5));
                    // (x - mean) of the slot's first value: NaN where the mean is NaN, -Inf or
                    // NaN where it is Inf, as x - mean in IEEE arithmetic
                    CHECK(matches(centered(ni, gi, 0, hi, 0), static_cast<double>(at(ni, gi, 0, hi, 0)) - m, 1e-5));
                }
    }
    nf::set_num_threads(1);
}
