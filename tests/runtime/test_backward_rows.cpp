// Runtime tests of LayerNorm's and RMSNorm's backward (nn::layer_norm::backward,
// nn::rms_norm::backward and the functional forms) against PyTorch 1.13 autograd
// (tests/reference/data/backward_layernorm_*.ref, backward_rmsnorm_*.ref,
// backward_offset*_layernorm_f32.ref: two steps, .grad accumulated) and against a long double
// computation from the same data.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

struct exact_rows {
    std::vector<double> dx, dx_tol, dw, db, dw_tol, db_tol;
};

/// The exact backward of rows of n values (the normalized axes trailing), with per-element
/// tolerances for a T implementation. Ours computes each row's statistics and the sums of
/// g = dy w and g (x - k) in double (k the row's first value), then dx = A g + B (x - k) + C in T:
/// the coefficients are rounded once (1.5 u of the terms), g and x - k once (1 u), two multiply-adds
/// (1 u of the sum of the terms' magnitudes): 4 u of t = |A g| + |B (x - mean)| + |C|, 8 u allowed
/// for float; for double the statistics' summation error over n values (~ sqrt(n) u, amplified
/// at most 2x) is added: (8 + 4 sqrt(n)) u. dweight sums dy xhat with xhat = ((x - k) - (mean - k)) r
/// formed in T: 4 u of |dy| (|x - k| + |mean - k|) r per term, then in double (n_rows u_double of
/// the sum of |terms|), rounded to T once.
template <class T>
exact_rows exact(bool centered, std::size_t n, const std::vector<double>& x, const std::vector<double>& dy,
                 const std::vector<double>& w, double eps) {
    const std::size_t rows = x.size() / n;
    const double u = unit<T>;
    const double kk = std::is_same_v<T, float> ? 8.0 : 8.0 + 4.0 * std::sqrt(static_cast<double>(n));
    exact_rows r;
    r.dx.resize(x.size());
    r.dx_tol.resize(x.size());
    std::vector<long double> dw(n, 0), db(n, 0), dwa(n, 0), dba(n, 0);
    for (std::size_t row = 0; row < rows; ++row) {
        const std::size_t o = row * n;
        long double mean = 0, ms = 0;
        for (std::size_t j = 0; j < n; ++j) mean += x[o + j];
        mean /= n;
        for (std::size_t j = 0; j < n; ++j) {
            const long double d = centered ? x[o + j] - mean : x[o + j];
            ms += d * d;
        }
        const long double rs = 1.0L / std::sqrt(ms / n + static_cast<long double>(eps));
        long double sg = 0, sgx = 0;
        for (std::size_t j = 0; j < n; ++j) {
            const long double g = dy[o + j] * (w.empty() ? 1.0L : w[j]);
            const long double xc = centered ? x[o + j] - mean : x[o + j];
            sg += g;
            sgx += g * xc;
        }
        const long double b = -rs * rs * rs * sgx / n, c = centered ? -rs * sg / n : 0.0L;
        const long double k = x[o];
        for (std::size_t j = 0; j < n; ++j) {
            const long double g = dy[o + j] * (w.empty() ? 1.0L : w[j]);
            const long double xc = centered ? x[o + j] - mean : x[o + j];
            r.dx[o + j] = static_cast<double>(rs * g + b * xc + c);
            r.dx_tol[o + j] = kk * u * static_cast<double>(std::abs(rs * g) + std::abs(b * xc) + std::abs(c));
            dw[j] += dy[o + j] * xc * rs;
            db[j] += dy[o + j];
            const long double spread = centered ? std::abs(x[o + j] - k) + std::abs(mean - k) : std::abs(x[o + j]);
            dwa[j] += std::abs(dy[o + j]) * spread * rs;
            dba[j] += std::abs(dy[o + j]);
        }
    }
    for (std::size_t j = 0; j < n; ++j) {
        r.dw.push_back(static_cast<double>(dw[j]));
        r.db.push_back(static_cast<double>(db[j]));
        r.dw_tol.push_back(static_cast<double>(4 * u * dwa[j] + rows * unit<double> * dwa[j]) +
                           u * std::abs(r.dw.back()));
        r.db_tol.push_back(static_cast<double>(rows * unit<double> * dba[j]) + u * std::abs(r.db.back()));
    }
    return r;
}

std::vector<double> plus_error_of(const std::vector<double>& tol, const std::vector<double>& torch,
                                  const std::vector<double>& exact_values) {
    std::vector<double> t(tol.size());
    for (std::size_t i = 0; i < tol.size(); ++i) t[i] = tol[i] + std::abs(torch[i] - exact_values[i]);
    return t;
}

void check_within(const std::vector<double>& got, const std::vector<double>& want, const std::vector<double>& tol,
                  const std::string& what, const std::string& key) {
    REQUIRE(got.size() == want.size());
    double worst = 0, worst_rel = 0;
    std::size_t at = 0;
    bool ok = true;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double e = std::abs(got[i] - want[i]);
        if (!(e <= tol[i] + 1e-300)) ok = false;
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
        worst_rel = std::max(worst_rel, e / std::max(std::abs(want[i]), 1.0));
    }
    error_report::get().record(key, worst, worst_rel);
    INFO(what << ": max error " << worst << " at logical index " << at << " (got " << got[at] << ", want " << want[at]
              << ", tolerance there " << tol[at] << ")");
    CHECK(ok);
}

std::vector<double> flat(const auto& t) {
    return std::vector<double>(t.data(), t.data() + t.size());
}

/// XS: x's shape (PyTorch's order, normalized axes trailing); NS: the normalized shape. The layer
/// runs each step on tensors (dx separate), the functional form on unaligned views with dx = dy
/// and the parameters' gradients accumulated in caller arrays.
template <class T, class XS, class NS>
void run_case(const reference_file& r) {
    const bool centered = r.param("layer") == "LayerNorm";
    const bool affine = flag(r, "affine");
    const double eps = r.param_double("eps");
    const std::size_t steps = count_param(r, "steps");
    const std::string key = r.param("layer") + " backward " + r.param("dtype");
    const auto& in1 = r.tensor("input_1");
    std::array<std::size_t, NS::rank> ne{};
    for (std::size_t i = 0; i < NS::rank; ++i) ne[i] = in1.shape[in1.rank() - NS::rank + i];
    const auto ns = nf::extents<NS>::from_all(ne);
    const std::size_t n = ns.size();
    using P = nf::tensor<T, NS>;
    nf::nn::layer_norm<T, NS> ln(ns, {.eps = eps, .elementwise_affine = affine});
    nf::nn::rms_norm<T, NS> rn(ns, {.eps = eps, .elementwise_affine = affine});
    P w(ns, T(1)), dw(ns, T(0)), db(ns, T(0));
    if (affine) {
        fill(w, r.tensor("weight"));
        if (centered) {
            fill(ln.weight(), r.tensor("weight"));
            fill(ln.bias(), r.tensor("bias"));
        } else {
            fill(rn.weight(), r.tensor("weight"));
        }
    }
    std::vector<double> dw_sum(n, 0), db_sum(n, 0), dw_tol(n, 0), db_tol(n, 0);
    for (std::size_t k = 1; k <= steps; ++k) {
        INFO("step " << k);
        const std::string s = "_" + std::to_string(k);
        const auto x = make_logical<T, XS>(r.tensor("input" + s));
        const auto dy = make_logical<T, XS>(r.tensor("dy" + s));
        const auto ex = exact<T>(centered, n, r.tensor("input" + s).values, r.tensor("dy" + s).values,
                                 affine ? r.tensor("weight").values : std::vector<double>{}, eps);
        const auto& tdx = r.tensor("dx" + s).values;
        // the layer, on tensors
        nf::tensor<T, XS> dx(x.extents(), std::numeric_limits<T>::quiet_NaN());
        if (centered)
            ln.backward(x, dy, dx);
        else
            rn.backward(x, dy, dx);
        check_within(flat(dx), ex.dx, ex.dx_tol, "layer dx vs exact", key + " dx vs exact");
        check_within(flat(dx), tdx, plus_error_of(ex.dx_tol, tdx, ex.dx), "layer dx vs torch", key + " dx vs torch");
        error_report::get().record("PyTorch " + key + " dx vs exact", compare(tdx, ex.dx, 0).max_error, 0);
        // the functional form on unaligned views, dx in place of dy, with streaming stores (the
        // threshold at 0: every dx streams, from its first batch-aligned value of each row on)
        const std::size_t threshold = nf::streaming_threshold();
        nf::set_streaming_threshold(0);
        unaligned_buffer<T> xb(x.size(), 1), gb(x.size(), 3);
        std::copy(x.data(), x.data() + x.size(), xb.data());
        std::copy(dy.data(), dy.data() + dy.size(), gb.data());
        const nf::view<const T, XS> xv(xb.data(), x.extents());
        const nf::view<T, XS> gv(gb.data(), x.extents());
        if (centered) {
            if (affine)
                nf::nn::functional::layer_norm_backward(xv, gv, gv, ns, w, eps, dw, db);
            else
                nf::nn::functional::layer_norm_backward(xv, gv, gv, ns, std::nullopt, eps);
        } else {
            nf::nn::functional::rms_norm_backward(xv, gv, gv, ns, w, eps, dw);
        }
        nf::set_streaming_threshold(threshold);
        check_within(to_logical(gv, axis_names<nf::tensor<T, XS>>()), ex.dx, ex.dx_tol, "functional dx vs exact",
                     key + " dx vs exact");
        if (!affine) continue;
        for (std::size_t j = 0; j < n; ++j) {
            dw_sum[j] += ex.dw[j];
            db_sum[j] += ex.db[j];
            dw_tol[j] += ex.dw_tol[j] + unit<T> * std::abs(dw_sum[j]);
            db_tol[j] += ex.db_tol[j] + unit<T> * std::abs(db_sum[j]);
        }
        const auto& tw = r.tensor("dweight" + s).values;
        const auto lw = flat(centered ? ln.weight_grad() : rn.weight_grad());
        check_within(lw, dw_sum, dw_tol, "layer dweight vs exact", key + " dweight vs exact");
        check_within(lw, tw, plus_error_of(dw_tol, tw, dw_sum), "layer dweight vs torch", key + " dweight vs torch");
        check_within(flat(dw), dw_sum, dw_tol, "functional dweight vs exact", key + " dweight vs exact");
        if (centered) {
            const auto& tb = r.tensor("dbias" + s).values;
            check_within(flat(ln.bias_grad()), db_sum, db_tol, "layer dbias vs exact", key + " dbias vs exact");
            check_within(flat(ln.bias_grad()), tb, plus_error_of(db_tol, tb, db_sum), "layer dbias vs torch",
                         key + " dbias vs torch");
            check_within(flat(db), db_sum, db_tol, "functional dbias vs exact", key + " dbias vs exact");
        }
    }
}

} // namespace

TEST_CASE("layer_norm and rms_norm backward match PyTorch autograd", "[backward][layer_norm][rms_norm]") {
    using nc = nf::shape<N<>, C<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    CHECK(case_names("backward_layernorm").size() == 4);
    CHECK(case_names("backward_rmsnorm").size() == 3);
    for (const auto& name : case_names("backward_layernorm")) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        const bool f64 = r.param("dtype") == "float64";
        if (r.tensor("input_1").rank() == 4)
            run_case<float, nchw, nf::shape<H<>, W<>>>(r);
        else
            f64 ? run_case<double, nc, nf::shape<C<>>>(r) : run_case<float, nc, nf::shape<C<>>>(r);
    }
    for (const auto& name : case_names("backward_rmsnorm")) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        const bool f64 = r.param("dtype") == "float64";
        if (r.tensor("input_1").rank() == 3)
            run_case<float, nlc, nf::shape<C<>>>(r);
        else
            f64 ? run_case<double, nc, nf::shape<C<>>>(r) : run_case<float, nc, nf::shape<C<>>>(r);
    }
}

TEST_CASE("layer_norm backward at offsets 1e4 and 1e6: ours and PyTorch float32 against float64",
          "[backward][layer_norm]") {
    using nc = nf::shape<N<>, C<>>;
    for (const char* name : {"backward_offset1e4_layernorm_f32", "backward_offset1e6_layernorm_f32"}) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        const std::string off = r.param("offset") == "10000.0" ? "1e4" : "1e6";
        const auto& in = r.tensor("input");
        const std::size_t n = in.shape[1];
        nf::nn::layer_norm<float, nf::shape<C<>>> ln({n});
        fill(ln.weight(), r.tensor("weight"));
        fill(ln.bias(), r.tensor("bias"));
        const auto x = make_logical<float, nc>(in);
        const auto dy = make_logical<float, nc>(r.tensor("dy"));
        nf::tensor<float, nc> dx(x.extents());
        ln.backward(x, dy, dx);
        const auto ex = exact<float>(true, n, in.values, r.tensor("dy").values, r.tensor("weight").values, 1e-5);
        const auto& want = r.tensor("dx").values;
        check_within(flat(dx), want, ex.dx_tol, "dx vs float64", "LayerNorm backward dx offset " + off + " vs f64");
        check_within(flat(ln.weight_grad()), r.tensor("dweight").values, ex.dw_tol, "dweight vs float64",
                     "LayerNorm backward dweight offset " + off + " vs f64");
        const double te = compare(r.tensor("torch_dx").values, want, 0).max_error;
        error_report::get().record("PyTorch f32 LayerNorm backward dx offset " + off + " vs f64", te,
                                   te / scale_of(want));
        error_report::get().record("PyTorch f32 LayerNorm backward dweight offset " + off + " vs f64",
                                   compare(r.tensor("torch_dweight").values, r.tensor("dweight").values, 0).max_error,
                                   0);
    }
}

TEST_CASE("layer_norm backward rejects bad calls before writing anything", "[backward][layer_norm]") {
    using nc = nf::shape<N<>, C<>>;
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({8});
    nf::tensor<float, nc> x({3, 8}, 1.0f), dy({3, 8}, 1.0f), dx({3, 8}, std::numeric_limits<float>::quiet_NaN());
    nf::tensor<float, nc> dy_bad({2, 8}, 1.0f), x_bad({3, 7}, 1.0f), dx_bad({3, 7}, 0.0f), dy7({3, 7}, 1.0f);
    CHECK_THROWS_WITH(ln.backward(x, dy_bad, dx),
                      Catch::Contains("nn::layer_norm::backward: axis N has extent 3 in x and 2 in dy; nothing was "
                                      "written"));
    CHECK_THROWS_AS(ln.backward(x_bad, dy7, dx_bad), nf::extent_error);
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(std::isnan(dx.data()[i]));
    for (std::size_t i = 0; i < 8; ++i) CHECK(ln.weight_grad().data()[i] == 0.0f);
    for (std::size_t i = 0; i < dx_bad.size(); ++i) CHECK(dx_bad.data()[i] == 0.0f);
}

TEST_CASE("normalize backward: dx = dy / std, bit for bit, in any layout, overwrite or accumulate",
          "[backward][normalize]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    const nf::nn::normalize<float> norm({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    nf::tensor<float, nchw> dy({2, 3, 5, 7});
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
    // PyTorch's autograd of `div`: grad / std, one IEEE division in float per element
    const float sd[3] = {0.229f, 0.224f, 0.225f};
    std::vector<double> want(dy.size()), twice(dy.size());
    for (std::size_t i = 0; i < dy.size(); ++i) {
        const std::size_t c = (i / 35) % 3;
        want[i] = static_cast<double>(dy.data()[i] / sd[c]);
        twice[i] = static_cast<double>(dy.data()[i] / sd[c] + dy.data()[i] / sd[c]);
    }
    nf::tensor<float, nhwc> dx({2, 5, 7, 3}, std::numeric_limits<float>::quiet_NaN());
    norm.backward(dy, dx);
    CHECK(to_logical(dx, {"N", "C", "H", "W"}) == want);
    norm.backward(dy, dx, {.input = nf::nn::grad_write::accumulate});
    CHECK(to_logical(dx, {"N", "C", "H", "W"}) == twice);
    nf::tensor<float, nhwc> bad({2, 5, 6, 3}, 1.0f);
    CHECK_THROWS_AS(norm.backward(dy, bad), nf::extent_error);
    CHECK(bad.data()[0] == 1.0f);
    // the functional form over a caller's std: per channel, then one value for all
    using CV = nf::tensor<float, nf::shape<C<>>>;
    const CV sdv{sd[0], sd[1], sd[2]};
    nf::tensor<float, nhwc> fdx({2, 5, 7, 3}, std::numeric_limits<float>::quiet_NaN());
    nf::nn::functional::normalize_backward(dy, fdx, sdv);
    CHECK(to_logical(fdx, {"N", "C", "H", "W"}) == want);
    nf::nn::functional::normalize_backward(dy, fdx, sdv, {.input = nf::nn::grad_write::accumulate});
    CHECK(to_logical(fdx, {"N", "C", "H", "W"}) == twice);
    const CV one({1}, 0.25f);
    nf::nn::functional::normalize_backward(dy, fdx, one);
    std::vector<double> quarter(dy.size());
    for (std::size_t i = 0; i < dy.size(); ++i) quarter[i] = static_cast<double>(dy.data()[i] / 0.25f);
    CHECK(to_logical(fdx, {"N", "C", "H", "W"}) == quarter);
    const CV two({2}, 1.0f), zero({3}, 0.0f);
    CHECK_THROWS_WITH(nf::nn::functional::normalize_backward(dy, bad, sdv),
                      Catch::Contains("nn::functional::normalize_backward"));
    CHECK_THROWS_WITH(nf::nn::functional::normalize_backward(dy, fdx, two),
                      Catch::Contains("std has 2 values but dy has 3 channels"));
    CHECK_THROWS_WITH(nf::nn::functional::normalize_backward(dy, fdx, zero), Catch::Contains("std is zero"));
    CHECK(bad.data()[0] == 1.0f);
    CHECK(to_logical(fdx, {"N", "C", "H", "W"}) == quarter);
}

namespace {

/// GroupNorm's exact backward (long double) for logical (N, C, spatial...) data, and tolerances
/// for T as in `exact` (the same rounding analysis per (n, c): coefficients rounded once, x - k
/// and two multiply-adds; for double the statistics' summation error over m values per group).
template <class T>
exact_rows exact_group(std::size_t n, std::size_t c, std::size_t groups, const std::vector<double>& x,
                       const std::vector<double>& dy, const std::vector<double>& w, double eps) {
    const std::size_t sp = x.size() / (n * c), kk = c / groups, m = kk * sp;
    const double u = unit<T>;
    const double kf = std::is_same_v<T, float> ? 8.0 : 8.0 + 4.0 * std::sqrt(static_cast<double>(m));
    exact_rows r;
    r.dx.assign(x.size(), 0);
    r.dx_tol.assign(x.size(), 0);
    std::vector<long double> dw(c, 0), db(c, 0), dwa(c, 0), dba(c, 0);
    auto wt = [&](std::size_t ch) { return w.empty() ? 1.0L : static_cast<long double>(w[ch]); };
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t g = 0; g < groups; ++g) {
            const std::size_t o = (i * c + g * kk) * sp; // the group's values are contiguous
            long double mean = 0, var = 0, s1 = 0, s2 = 0;
            for (std::size_t j = 0; j < m; ++j) mean += x[o + j];
            mean /= m;
            for (std::size_t j = 0; j < m; ++j) var += (x[o + j] - mean) * (x[o + j] - mean);
            const long double rs = 1.0L / std::sqrt(var / m + static_cast<long double>(eps));
            for (std::size_t j = 0; j < m; ++j) {
                const long double gg = dy[o + j] * wt(g * kk + j / sp);
                s1 += gg;
                s2 += gg * (x[o + j] - mean);
            }
            const long double b = -rs * rs * rs * s2 / m, cc = -rs * s1 / m;
            for (std::size_t j = 0; j < m; ++j) {
                const std::size_t ch = g * kk + j / sp;
                const long double gg = dy[o + j] * wt(ch), xc = x[o + j] - mean;
                r.dx[o + j] = static_cast<double>(rs * gg + b * xc + cc);
                r.dx_tol[o + j] = kf * u * static_cast<double>(std::abs(rs * gg) + std::abs(b * xc) + std::abs(cc));
                dw[ch] += dy[o + j] * xc * rs;
                db[ch] += dy[o + j];
                dwa[ch] += std::abs(dy[o + j] * xc * rs);
                dba[ch] += std::abs(dy[o + j]);
            }
        }
    for (std::size_t ch = 0; ch < c; ++ch) {
        r.dw.push_back(static_cast<double>(dw[ch]));
        r.db.push_back(static_cast<double>(db[ch]));
        r.dw_tol.push_back(static_cast<double>((kf * u + n * sp * unit<double>)*dwa[ch]) + u * std::abs(r.dw.back()));
        r.db_tol.push_back(static_cast<double>(n * sp * unit<double> * dba[ch]) + u * std::abs(r.db.back()));
    }
    return r;
}

template <class T, class LS, class Last>
void run_group(const reference_file& r) {
    const std::size_t groups = count_param(r, "num_groups"), c = count_param(r, "num_channels");
    const double eps = r.param_double("eps");
    const std::string key = std::string("GroupNorm backward ") + r.param("dtype");
    for (int layout = 0; layout < 2; ++layout) {
        INFO("layout: " << (layout == 0 ? "NCHW" : "NHWC"));
        nf::nn::group_norm<T> gn(groups, c, {.eps = eps});
        fill(gn.weight(), r.tensor("weight"));
        fill(gn.bias(), r.tensor("bias"));
        nf::nn::saved_statistics saved, fsaved;
        std::vector<double> dw_sum(c, 0), db_sum(c, 0), dw_tol(c, 0), db_tol(c, 0);
        // the functional forms on caller-owned buffers, run beside the layer in the channels-last layout
        using CV = nf::tensor<T, nf::shape<C<>>>;
        const CV fw = gn.weight();
        CV fdw({c}, T(0)), fdb({c}, T(0));
        for (std::size_t k = 1; k <= count_param(r, "steps"); ++k) {
            INFO("step " << k);
            const std::string s = "_" + std::to_string(k);
            const auto& in = r.tensor("input" + s);
            const auto ex = exact_group<T>(in.shape[0], c, groups, in.values, r.tensor("dy" + s).values,
                                           r.tensor("weight").values, eps);
            const auto x = make_logical<T, LS>(in);
            const auto dy = make_logical<T, LS>(r.tensor("dy" + s));
            const auto logical = axis_names<nf::tensor<T, LS>>();
            std::vector<double> got;
            if (layout == 0) {
                nf::tensor<T, LS> y(x.extents()), dx(x.extents(), std::numeric_limits<T>::quiet_NaN());
                gn.forward(x, y, saved);
                gn.backward(x, dy, dx, saved);
                got = to_logical(dx, logical);
            } else {
                const auto xl = relayout<Last>(x);
                const auto dyl = relayout<Last>(dy);
                nf::tensor<T, Last> y(xl.extents()), dx(xl.extents(), std::numeric_limits<T>::quiet_NaN());
                gn.forward(xl, y, saved);
                gn.backward(xl, dyl, dx, saved);
                got = to_logical(dx, logical);
                // the same body: the bits of the layer (which is checked against the references below)
                nf::tensor<T, Last> fdx(xl.extents(), std::numeric_limits<T>::quiet_NaN());
                nf::nn::functional::group_norm(xl, y, groups, fw, std::nullopt, eps, fsaved);
                nf::nn::functional::group_norm_backward(xl, dyl, fdx, groups, fsaved, fw, fdw, fdb);
                CHECK(to_logical(fdx, logical) == got);
                CHECK(flat(fdw) == flat(gn.weight_grad()));
                CHECK(flat(fdb) == flat(gn.bias_grad()));
            }
            CHECK(saved.size() == in.shape[0] * groups);
            const auto& tdx = r.tensor("dx" + s).values;
            check_within(got, ex.dx, ex.dx_tol, "dx vs exact", key + " dx vs exact");
            check_within(got, tdx, plus_error_of(ex.dx_tol, tdx, ex.dx), "dx vs torch", key + " dx vs torch");
            for (std::size_t ch = 0; ch < c; ++ch) {
                dw_sum[ch] += ex.dw[ch];
                db_sum[ch] += ex.db[ch];
                dw_tol[ch] += ex.dw_tol[ch] + unit<T> * std::abs(dw_sum[ch]);
                db_tol[ch] += ex.db_tol[ch] + unit<T> * std::abs(db_sum[ch]);
            }
            const auto gw = flat(gn.weight_grad()), gb = flat(gn.bias_grad());
            const auto &tw = r.tensor("dweight" + s).values, &tb = r.tensor("dbias" + s).values;
            check_within(gw, dw_sum, dw_tol, "dweight vs exact", key + " dweight vs exact");
            check_within(gb, db_sum, db_tol, "dbias vs exact", key + " dbias vs exact");
            check_within(gw, tw, plus_error_of(dw_tol, tw, dw_sum), "dweight vs torch", key + " dweight vs torch");
            check_within(gb, tb, plus_error_of(db_tol, tb, db_sum), "dbias vs torch", key + " dbias vs torch");
        }
    }
}

} // namespace

TEST_CASE("functional::group_norm_backward checks everything before writing", "[backward][group_norm]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using CV = nf::tensor<double, nf::shape<C<>>>;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    nf::tensor<double, nchw> x({2, 4, 3, 3}), y(x.extents()), dy(x.extents(), 1.0), dx(x.extents(), nan);
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::cos(0.7 * static_cast<double>(i));
    CV w({4}, 0.5), dw({4}, 0.0), db({4}, 0.0);
    nf::nn::saved_statistics saved;
    nf::nn::functional::group_norm(x, y, 2, w, std::nullopt, 1e-5, saved);
    CHECK(saved.size() == 4);
    auto untouched = [&] {
        for (std::size_t i = 0; i < dx.size(); ++i)
            if (!std::isnan(dx.data()[i])) return false;
        for (std::size_t i = 0; i < 4; ++i)
            if (dw.data()[i] != 0.0 || db.data()[i] != 0.0) return false;
        return true;
    };
    CHECK_THROWS_WITH(nf::nn::functional::group_norm_backward(x, dy, dx, 4, saved, w, dw, db),
                      Catch::Contains("nn::functional::group_norm_backward") &&
                          Catch::Contains("the saved statistics hold 4 groups, not 8"));
    CHECK(untouched());
    nf::tensor<double, nchw> dy_bad({2, 4, 3, 2}, 1.0);
    CHECK_THROWS_AS(nf::nn::functional::group_norm_backward(x, dy_bad, dx, 2, saved, w, dw, db), nf::extent_error);
    CHECK(untouched());
    const CV w3({3}, 0.5);
    CHECK_THROWS_WITH(nf::nn::functional::group_norm_backward(x, dy, dx, 2, saved, w3, dw, db),
                      Catch::Contains("weight should contain 4 elements not 3"));
    CHECK(untouched());
    // a constant dy: dx is zero up to rounding, dbias = the count per channel (overwritten)
    nf::nn::functional::group_norm_backward(x, dy, dx, 2, saved, w, dw, db,
                                            {.parameters = nf::nn::grad_write::overwrite});
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(std::abs(dx.data()[i]) < 1e-12);
    for (std::size_t i = 0; i < 4; ++i) CHECK(db.data()[i] == 18.0);
}

TEST_CASE("group_norm backward matches PyTorch autograd", "[backward][group_norm]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    const auto names = case_names("backward_groupnorm");
    CHECK(names.size() == 2);
    for (const auto& name : names) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        if (r.param("dtype") == "float64")
            run_group<double, nchw, nhwc>(r);
        else
            run_group<float, nchw, nhwc>(r);
    }
}
