// Runtime tests of nf::gradient (grad/): the derived gradients of user expressions against central
// finite differences in double and against PyTorch 1.13 autograd (tests/reference/data/gradient_*),
// on NCHW and NHWC; identity of the arrays named in nf::wrt; dy checked before anything is written.
#include "support/warnings.hpp" // first: see there

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <normfuse/core/errors.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>
#include <normfuse/reduce/reductions.hpp>

#include "support/reference.hpp"
#include "support/reference_file.hpp"

using namespace nf::axes;
using nf_test::named_index;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using chan = nf::shape<C<>>;

/// sum(dy * y) in long double, y evaluated into a double tensor of dy's shape.
template <class Y, class Dy>
double loss(const Y& y, const Dy& dy) {
    Dy t(dy.extents());
    t = y;
    long double s = 0;
    for (std::size_t k = 0; k < t.size(); ++k) s += static_cast<long double>(t.data()[k]) * dy.data()[k];
    return static_cast<double>(s);
}

/// sum |dy * y|: bounds the rounding error of `loss` (each term within a few eps of its value).
template <class Y, class Dy>
double loss_magnitude(const Y& y, const Dy& dy) {
    Dy t(dy.extents());
    t = y;
    double s = 0;
    for (std::size_t k = 0; k < t.size(); ++k) s += std::abs(t.data()[k] * dy.data()[k]);
    return s;
}

/// Checks `grad` (the derived gradient of sum(dy * y) with respect to the double array `a`, in
/// a's layout) against central differences. The tolerance of each element comes from the data:
/// the truncation error of the step-h difference, O(h^2), estimated as |D(h) - D(2h)| (which is
/// about 3 times it), plus the rounding of the loss, eps * sum|dy * y| per evaluation (charged 16
/// times: a few roundings per element, two evaluations, divided by 2h), plus the rounding of the
/// derived gradient itself (16 steps of its magnitude).
template <class Y, class Dy, class A, class G>
void check_finite_differences(const Y& y, const Dy& dy, A& a, const G& grad, std::string_view what) {
    constexpr double h = 1e-4;
    const double rounding = 16 * nf_test::epsilon<double> * loss_magnitude(y, dy) / h;
    std::size_t failures = 0;
    double worst = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
        const double v = a.data()[k];
        auto central = [&](double step) {
            a.data()[k] = v + step;
            const double up = loss(y, dy);
            a.data()[k] = v - step;
            const double down = loss(y, dy);
            a.data()[k] = v;
            return (up - down) / (2 * step);
        };
        const double d1 = central(h), d2 = central(2 * h);
        const double got = grad.data()[k];
        const double tol = std::abs(d1 - d2) + rounding + nf_test::tolerance<double>(16, got);
        const double err = std::abs(got - d1);
        worst = std::max(worst, err / tol);
        if (!(err <= tol) && failures++ < 5)
            FAIL_CHECK(std::string(what) << " [" << k << "]: derived " << got << ", finite difference " << d1
                                         << ", tolerance " << tol);
    }
    INFO(what << ": worst error / tolerance " << worst);
    CHECK(failures == 0);
}

/// The value of a PyTorch tensor stored row-major over the axes `names` (its logical order), at a
/// named index of any layout.
struct logical {
    const nf_test::ref_tensor* t;
    std::vector<std::string_view> names;
    double operator()(const named_index& i) const {
        std::size_t o = 0;
        for (std::size_t d = 0; d < names.size(); ++d) o = o * t->shape[d] + i[names[d]];
        return t->values[o];
    }
};

/// Compares `grad` with PyTorch's float64 gradient, allowing `steps` roundings of grad's element
/// type of the largest gradient of the array (at least 1), the scale of the terms that cancel in it.
/// For double, the reference's own rounding is of the same order.
template <class G>
nf_test::check_result near_reference(const G& grad, const logical& ref, double steps) {
    double scale = 1;
    nf_test::for_each_index(nf_test::space_of(grad),
                            [&](const named_index& i) { scale = std::max(scale, std::abs(ref(i))); });
    return nf_test::near(
        grad,
        [&](const named_index& i) {
            return nf_test::ref_value{ref(i), scale};
        },
        steps);
}

// --- The expressions under test -----------------------------------------------------------------

template <class X, class Z, class G>
auto composition(const X& x, const Z& z, const G& gamma) {
    using T = typename X::value_type;
    return nf::exp(x * T(0.5)) * gamma / nf::sqrt(z) + nf::log(z) - nf::min(x, z) + nf::max(x, gamma) * nf::tanh(x) +
           nf::sigmoid(z) * nf::abs(x);
}

} // namespace

// --- Element functions ------------------------------------------------------------------------

TEST_CASE("nf::gradient of element functions: finite differences, PyTorch, NCHW and NHWC", "[gradient]") {
    const auto r = nf_test::load_reference_case("gradient_composition");
    const std::vector<std::string_view> names{"N", "C", "H", "W"};
    auto run = [&]<class T, class S>(T*, S*) {
        nf::tensor<T, S> x(S::axes::size == 4 && std::is_same_v<S, nchw> ? nf::extents<S>({2, 3, 4, 5})
                                                                         : nf::extents<S>({2, 4, 5, 3}));
        nf::tensor<T, S> z(x.extents()), dy(x.extents()), dx(x.extents()), dz(x.extents());
        nf::tensor<T, chan> gamma{0, 0, 0}, dgamma{0, 0, 0};
        nf_test::fill_with(x, logical{&r.tensor("x"), names});
        nf_test::fill_with(z, logical{&r.tensor("z"), names});
        nf_test::fill_with(dy, logical{&r.tensor("dy"), names});
        nf_test::fill_with(gamma, logical{&r.tensor("gamma"), {"C"}});
        const auto y = composition(x, z, gamma);
        auto [ex, ez, eg] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(z), nf::wrt(gamma));
        dx = ex;
        dz = ez;
        dgamma = eg;
        if constexpr (std::is_same_v<T, double>) {
            check_finite_differences(y, dy, x, dx, "dx");
            check_finite_differences(y, dy, z, dz, "dz");
            check_finite_differences(y, dy, gamma, dgamma, "dgamma");
        }
        // a chain of about 10 roundings, two transcendental (4 each): 32 steps of the largest gradient
        CHECK(near_reference(dx, logical{&r.tensor("dx"), names}, 32));
        CHECK(near_reference(dz, logical{&r.tensor("dz"), names}, 32));
        // a sum over 40 values per channel, in double, of terms of that chain
        CHECK(near_reference(dgamma, logical{&r.tensor("dgamma"), {"C"}}, 32));
    };
    SECTION("double, NCHW") {
        run(static_cast<double*>(nullptr), static_cast<nchw*>(nullptr));
    }
    SECTION("float, NHWC") {
        run(static_cast<float*>(nullptr), static_cast<nhwc*>(nullptr));
    }
}

// --- Reductions: the guide's custom normalizations ----------------------------------------------

TEST_CASE("nf::gradient of RMSNorm written in the DSL: PyTorch autograd and finite differences", "[gradient]") {
    const auto r = nf_test::load_reference_case("gradient_rmsnorm");
    const std::vector<std::string_view> names{"N", "L", "C"};
    using nlc = nf::shape<N<>, L<>, C<>>;
    auto run = [&]<class T>(T*) {
        nf::tensor<T, nlc> x({4, 3, 8}), dy({4, 3, 8}), dx({4, 3, 8});
        nf::tensor<T, chan> w{0, 0, 0, 0, 0, 0, 0, 0}, dw{0, 0, 0, 0, 0, 0, 0, 0};
        nf_test::fill_with(x, logical{&r.tensor("x"), names});
        nf_test::fill_with(dy, logical{&r.tensor("dy"), names});
        nf_test::fill_with(w, logical{&r.tensor("weight"), {"C"}});
        const auto y = x * nf::rsqrt(nf::mean<C>(nf::square(x)) + T(1e-6)) * w;
        auto [ex, ew] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(w));
        dx = ex;
        dw = ew;
        if constexpr (std::is_same_v<T, double>) {
            check_finite_differences(y, dy, x, dx, "dx");
            check_finite_differences(y, dy, w, dw, "dweight");
        }
        // r (2 steps), r^3 (3), the row's sum rounded once, 6 products and a difference: 16 steps
        CHECK(near_reference(dx, logical{&r.tensor("dx"), names}, 16));
        CHECK(near_reference(dw, logical{&r.tensor("dweight"), {"C"}}, 16));
    };
    SECTION("double") {
        run(static_cast<double*>(nullptr));
    }
    SECTION("float") {
        run(static_cast<float*>(nullptr));
    }
}

namespace {
constexpr std::size_t group_size = 2; // channels per group of the GroupNorm reference

/// GroupNorm written in the DSL over a 5-axis view (N, G, K, ...) or (N, ..., G, K) of x.
template <class X, class P>
auto group_norm(const X& x, const P& gamma, const P& beta, typename X::value_type eps) {
    return (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + eps) * gamma + beta;
}
} // namespace

TEST_CASE("nf::gradient of GroupNorm written in the DSL, channels last: PyTorch's group_norm", "[gradient]") {
    const auto r = nf_test::load_reference_case("gradient_groupnorm");
    const std::size_t n = 2, h = 3, w = 4, groups = 3, k = group_size; // C = 6 = groups * k
    using gk = nf::shape<G<>, K<>>;
    auto run = [&]<class T, class S5>(T*, S5*) {
        constexpr bool last = std::is_same_v<S5, nf::shape<N<>, H<>, W<>, G<>, K<>>>;
        const auto ext = last ? nf::extents<S5>({n, h, w, groups, k}) : nf::extents<S5>({n, groups, k, h, w});
        nf::tensor<T, S5> x(ext), dy(ext), dx(ext);
        nf::tensor<T, gk> gamma({groups, k}), beta({groups, k}), dgamma({groups, k}), dbeta({groups, k});
        // the channel c = g * K + k of the NCHW reference
        auto at = [&](const nf_test::ref_tensor& t) {
            return [&t](const named_index& i) {
                const std::size_t ch = i["G"] * group_size + i["K"];
                return t.values[((i["N"] * t.shape[1] + ch) * t.shape[2] + i["H"]) * t.shape[3] + i["W"]];
            };
        };
        auto at_channel = [&](const nf_test::ref_tensor& t) {
            return [&t](const named_index& i) { return t.values[i["G"] * group_size + i["K"]]; };
        };
        nf_test::fill_with(x, at(r.tensor("x")));
        nf_test::fill_with(dy, at(r.tensor("dy")));
        nf_test::fill_with(gamma, at_channel(r.tensor("weight")));
        nf_test::fill_with(beta, at_channel(r.tensor("bias")));
        const auto y = group_norm(x, gamma, beta, T(1e-5));
        // gamma and beta have one type: each is found by its memory
        auto [ex, eg, eb] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(gamma), nf::wrt(beta));
        dx = ex;
        dgamma = eg;
        dbeta = eb;
        if constexpr (std::is_same_v<T, double>) {
            check_finite_differences(y, dy, x, dx, "dx");
            check_finite_differences(y, dy, gamma, dgamma, "dgamma");
            check_finite_differences(y, dy, beta, dbeta, "dbeta");
        }
        // dx: the centered value, a (2 steps), a^3 (3), two group sums rounded once, 8 products and
        // sums: 24 steps of the largest gradient (terms of that size cancel)
        double scale = 1;
        for (double v : r.tensor("dx").values) scale = std::max(scale, std::abs(v));
        CHECK(nf_test::near(
            dx,
            [&](const named_index& i) {
                return nf_test::ref_value{at(r.tensor("dx"))(i), scale};
            },
            24));
        double gscale = 1;
        for (double v : r.tensor("dweight").values) gscale = std::max(gscale, std::abs(v));
        for (double v : r.tensor("dbias").values) gscale = std::max(gscale, std::abs(v));
        CHECK(nf_test::near(
            dgamma,
            [&](const named_index& i) {
                return nf_test::ref_value{at_channel(r.tensor("dweight"))(i), gscale};
            },
            24));
        CHECK(nf_test::near(
            dbeta,
            [&](const named_index& i) {
                return nf_test::ref_value{at_channel(r.tensor("dbias"))(i), gscale};
            },
            4));
    };
    // channels last (the other tests run NCHW, (N, L, C) and NHWC; one layout here for compile time)
    run(static_cast<double*>(nullptr), static_cast<nf::shape<N<>, H<>, W<>, G<>, K<>>*>(nullptr));
}

TEST_CASE("nf::gradient through sum, mean, biased and unbiased var: finite differences", "[gradient]") {
    nf::tensor<double, nhwc> x({3, 2, 4, 5}), dy({3, 2, 4, 5}), dx({3, 2, 4, 5});
    nf::tensor<double, chan> beta{0.1, -0.2, 0.3, 0.5, -0.4}, dbeta{0, 0, 0, 0, 0};
    nf_test::fill_uniform(x, 11, -2, 3);
    nf_test::fill_uniform(dy, 12, -1, 1);
    SECTION("mean-only batch normalization (the guide's)") {
        const auto y = x - nf::mean<N, H, W>(x) + beta;
        auto [ex, eb] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(beta));
        dx = ex;
        dbeta = eb;
        check_finite_differences(y, dy, x, dx, "dx");
        check_finite_differences(y, dy, beta, dbeta, "dbeta");
    }
    SECTION("LayerNorm over C of channels-last data (the guide's), gamma and beta of one type") {
        nf::tensor<double, chan> gamma{1.5, 0.5, -1.0, 2.0, 0.75}, dgamma{0, 0, 0, 0, 0};
        const auto y = (x - nf::mean<C>(x)) * nf::rsqrt(nf::var<C>(x) + 1e-5) * gamma + beta;
        auto [ex, eg, eb] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(gamma), nf::wrt(beta));
        dx = ex;
        dgamma = eg;
        dbeta = eb;
        check_finite_differences(y, dy, x, dx, "dx");
        check_finite_differences(y, dy, gamma, dgamma, "dgamma");
        check_finite_differences(y, dy, beta, dbeta, "dbeta");
    }
    SECTION("unbiased variance, a division, a sum, a per-channel RMS") {
        const auto y = (x - nf::mean<N, H, W>(x)) / nf::sqrt(nf::var<N, H, W>(x, nf::unbiased) + 1e-3) +
                       nf::sum<H, W>(x) * beta - x * nf::rsqrt(nf::mean<H, W>(nf::square(x)) + 1e-6);
        auto [ex, eb] = nf::gradient(y, dy, nf::wrt(x), nf::wrt(beta));
        dx = ex;
        dbeta = eb;
        check_finite_differences(y, dy, x, dx, "dx");
        check_finite_differences(y, dy, beta, dbeta, "dbeta");
    }
}

// --- Identity, errors -----------------------------------------------------------------------------

TEST_CASE("nf::gradient: arrays are found by their memory; dy is checked before anything is written", "[gradient]") {
    nf::tensor<float, nchw> x({2, 3, 2, 4}), dy({2, 3, 2, 4}), dx({2, 3, 2, 4});
    nf::tensor<float, chan> a{1, 2, 3}, b{-1, 0.5f, 4}, other{0, 0, 0}, da{0, 0, 0};
    nf_test::fill_uniform(x, 1, -1, 1);
    nf_test::fill_uniform(dy, 2, -1, 1);
    const auto y = x * a + b;
    SECTION("of two arrays of one type, each gets its own gradient") {
        auto [ea, eb] = nf::gradient(y, dy, nf::wrt(a), nf::wrt(b));
        da = ea;
        CHECK(nf_test::near(
            da,
            [&](const named_index& i) {
                double s = 0, m = 0;
                nf_test::for_each_index(nf_test::space_of(x), [&](const named_index& j) {
                    if (j["C"] == i["C"]) {
                        s += nf_test::ref(dy, j) * nf_test::ref(x, j);
                        m += std::abs(nf_test::ref(dy, j) * nf_test::ref(x, j));
                    }
                });
                return nf_test::ref_value{s, m};
            },
            2));
        da = eb;
        CHECK(nf_test::near(
            da,
            [&](const named_index& i) {
                double s = 0, m = 0;
                nf_test::for_each_index(nf_test::space_of(x), [&](const named_index& j) {
                    if (j["C"] == i["C"]) {
                        s += nf_test::ref(dy, j);
                        m += std::abs(nf_test::ref(dy, j));
                    }
                });
                return nf_test::ref_value{s, m};
            },
            2));
    }
    SECTION("the same array in two places gets the sum of both") {
        const auto yy = x * a + a;
        auto [ea] = nf::gradient(yy, dy, nf::wrt(a));
        da = ea;
        CHECK(nf_test::near(
            da,
            [&](const named_index& i) {
                double s = 0, m = 0;
                nf_test::for_each_index(nf_test::space_of(x), [&](const named_index& j) {
                    if (j["C"] == i["C"]) {
                        s += nf_test::ref(dy, j) * (nf_test::ref(x, j) + 1);
                        m += std::abs(nf_test::ref(dy, j)) * (std::abs(nf_test::ref(x, j)) + 1);
                    }
                });
                return nf_test::ref_value{s, m};
            },
            3));
    }
    SECTION("an array of an operand's type that is not an operand: std::invalid_argument") {
        CHECK_THROWS_AS(nf::gradient(y, dy, nf::wrt(other)), std::invalid_argument);
    }
    SECTION("dy with other extents: extent_error, nothing evaluated") {
        nf::tensor<float, nchw> bad({2, 3, 2, 5});
        CHECK_THROWS_WITH(nf::gradient(y, bad, nf::wrt(x)),
                          Catch::Contains("nf::gradient: axis W has extent 4 in y and 5 in dy"));
    }
    SECTION("dy in another layout") {
        nf::tensor<float, nhwc> dy_last({2, 2, 4, 3});
        dy_last = dy;
        auto [ea] = nf::gradient(y, dy_last, nf::wrt(a));
        auto [eb] = nf::gradient(y, dy, nf::wrt(a));
        nf::tensor<float, chan> d1{0, 0, 0}, d2{0, 0, 0};
        d1 = ea;
        d2 = eb;
        CHECK(nf_test::near(
            d1, [&](const named_index& i) { return nf_test::ref(d2, i); }, 8));
    }
}
