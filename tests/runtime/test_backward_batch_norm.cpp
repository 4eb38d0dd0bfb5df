// Runtime tests of BatchNorm's backward (nn::batch_norm::backward, nn::functional::batch_norm_backward)
// against PyTorch 1.13 autograd (tests/reference/data/backward_*batchnorm*.ref: sequences of
// training and eval steps, each a forward and a backward, the parameters' gradients accumulated
// as PyTorch's .grad) and against a long double computation from the same data, in PyTorch's axis
// order and channels-last, through the layer and through the functional form over views.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

/// The exact (long double) backward of one step, from logical-order data (N, C, rest...), with
/// per-element tolerances for a T implementation derived from the rounding analysis below.
struct exact_backward {
    std::vector<double> dx, dx_tol, dw, db, dw_tol, db_tol;
};

/// Ours: the statistics (mean, invstd) are exact to double rounding (float) or within the
/// summation error of M values (double); the per-channel coefficients A, B, C0 of
/// dx = A dy + B (x - k) + C0 are each rounded once to T (0.5 u of each term), the evaluation rounds
/// x - k, two products and two sums (0.5 u each, of at most the sum of the terms' magnitudes): with
/// the coefficients' 1.5 u that is 4 u of t = |A dy| + |B (x - mean)| + |C0|; we allow 8 u for float.
/// For double the statistics' summation error (M values, random rounding ~ sqrt(M) u, amplified by
/// at most 2 through invstd) dominates: (8 + 4 sqrt(M)) u. dweight / dbias: the sums are in double
/// (M u_double of sum |terms|) and rounded once to T (0.5 u of the result), plus once more per
/// accumulation into T.
template <class T>
exact_backward exact(const std::vector<std::size_t>& shape, const std::vector<double>& x, const std::vector<double>& dy,
                     const std::vector<double>& w, bool batch_stats, const std::vector<double>& rm,
                     const std::vector<double>& rv, double eps) {
    const std::size_t n = shape[0], c = shape[1];
    std::size_t inner = 1;
    for (std::size_t i = 2; i < shape.size(); ++i) inner *= shape[i];
    const std::size_t m = n * inner;
    auto ch_of = [&](std::size_t i) { return (i / inner) % c; };
    std::vector<long double> mean(c, 0), var(c, 0), s1(c, 0), s2(c, 0), abs2(c, 0), invstd(c);
    for (std::size_t i = 0; i < x.size(); ++i) mean[ch_of(i)] += x[i];
    for (std::size_t ch = 0; ch < c; ++ch) mean[ch] /= static_cast<long double>(m);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const long double d = x[i] - mean[ch_of(i)];
        var[ch_of(i)] += d * d;
    }
    for (std::size_t ch = 0; ch < c; ++ch) {
        if (batch_stats) {
            var[ch] /= static_cast<long double>(m);
            invstd[ch] = 1.0L / std::sqrt(var[ch] + static_cast<long double>(eps));
        } else {
            mean[ch] = rm[ch];
            invstd[ch] = 1.0L / std::sqrt(static_cast<long double>(rv[ch]) + static_cast<long double>(eps));
        }
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = ch_of(i);
        s1[ch] += dy[i];
        s2[ch] += dy[i] * (x[i] - mean[ch]);
        abs2[ch] += std::abs(dy[i] * (x[i] - mean[ch]));
    }
    const double u = unit<T>;
    const double k = std::is_same_v<T, float> ? 8.0 : 8.0 + 4.0 * std::sqrt(static_cast<double>(m));
    exact_backward r;
    r.dx.resize(x.size());
    r.dx_tol.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = ch_of(i);
        const long double a = (w.empty() ? 1.0L : w[ch]) * invstd[ch];
        long double b = 0, c0 = 0;
        if (batch_stats) {
            b = -a * invstd[ch] * invstd[ch] * s2[ch] / m;
            c0 = -a * s1[ch] / m;
        }
        const long double xc = x[i] - mean[ch];
        r.dx[i] = static_cast<double>(a * dy[i] + b * xc + c0);
        r.dx_tol[i] = k * u * static_cast<double>(std::abs(a * dy[i]) + std::abs(b * xc) + std::abs(c0));
    }
    for (std::size_t ch = 0; ch < c; ++ch) {
        r.dw.push_back(static_cast<double>(s2[ch] * invstd[ch]));
        r.db.push_back(static_cast<double>(s1[ch]));
        const double sum_abs = static_cast<double>(abs2[ch] * invstd[ch]);
        // the statistics' error moves every term by at most k u of its size
        r.dw_tol.push_back(k * u * sum_abs + static_cast<double>(m) * unit<double> * sum_abs);
        double sum_dy = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (ch_of(i) == ch) sum_dy += std::abs(dy[i]);
        r.db_tol.push_back(u * std::abs(r.db.back()) + static_cast<double>(m) * unit<double> * sum_dy);
    }
    return r;
}

/// Largest |torch - exact| minus the tolerance we allow ourselves, per element, is PyTorch's own
/// error: ours is checked within (our tolerance) of the exact values, and within (our tolerance
/// + PyTorch's error there) of PyTorch's values.
std::vector<double> plus_error_of(const std::vector<double>& tol, const std::vector<double>& torch,
                                  const std::vector<double>& exact_values) {
    std::vector<double> t(tol.size());
    for (std::size_t i = 0; i < tol.size(); ++i) t[i] = tol[i] + std::abs(torch[i] - exact_values[i]);
    return t;
}

/// Checks element-wise tolerances (one per element), naming the worst element on failure.
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

std::vector<double> values_or_empty(const reference_file& r, const std::string& name) {
    return r.has_tensor(name) ? r.tensor(name).values : std::vector<double>{};
}

/// A sequence case: the layer runs every step (forward with saved statistics, backward) in the
/// layout LS (PyTorch's order) or Last (channels-last), the functional form on unaligned views in
/// the other; both are checked against PyTorch and the exact values.
template <class T, std::size_t Dims, class LS, class Last>
void run_sequence(const reference_file& r) {
    const bool affine = flag(r, "affine"), track = flag(r, "track_running_stats");
    const double eps = r.param_double("eps");
    const std::size_t steps = count_param(r, "steps");
    const std::string dt = sizeof(T) == 4 ? "float32" : "float64";
    for (int layout = 0; layout < 2; ++layout) {
        INFO("layout: " << (layout == 0 ? "PyTorch's axis order" : "channels-last"));
        nf::nn::batch_norm_options o;
        o.eps = eps;
        o.affine = affine;
        o.track_running_stats = track;
        const std::size_t c = r.tensor("input_1").shape[1];
        nf::nn::batch_norm<T, Dims> bn(c, o);
        if (affine) {
            fill(bn.weight(), r.tensor("weight"));
            fill(bn.bias(), r.tensor("bias"));
        }
        if (track) {
            fill(bn.running_mean(), r.tensor("running_mean_init"));
            fill(bn.running_var(), r.tensor("running_var_init"));
        }
        nf::nn::saved_statistics saved;
        std::vector<double> dw_tol(c, 0.0), db_tol(c, 0.0), dw_sum(c, 0.0), db_sum(c, 0.0);
        std::vector<double> rm = values_or_empty(r, "running_mean_init"), rv = values_or_empty(r, "running_var_init");
        for (std::size_t k = 1; k <= steps; ++k) {
            const std::string s = "_" + std::to_string(k);
            INFO("step " << k);
            const bool train = r.param("modes").substr(0, 0) == "" && [&] {
                std::string modes = r.param("modes") + ",";
                std::size_t pos = 0;
                for (std::size_t j = 1; j < k; ++j) pos = modes.find(',', pos) + 1;
                return modes.substr(pos, modes.find(',', pos) - pos) == "train";
            }();
            bn.train(train);
            const auto& in = r.tensor("input" + s);
            const auto x = make_logical<T, LS>(r.tensor("input" + s));
            const auto dy = make_logical<T, LS>(r.tensor("dy" + s));
            const auto logical = axis_names<nf::tensor<T, LS>>();
            const auto ex =
                exact<T>(in.shape, in.values, r.tensor("dy" + s).values,
                         affine ? r.tensor("weight").values : std::vector<double>{}, train || !track, rm, rv, eps);
            std::vector<double> got_dx;
            const T nan = std::numeric_limits<T>::quiet_NaN();
            if (layout == 0) {
                nf::tensor<T, LS> y(x.extents(), nan), dx(x.extents(), nan);
                bn.forward(x, y, saved);
                bn.backward(x, dy, dx, saved);
                got_dx = to_logical(dx, logical);
            } else {
                const auto xl = relayout<Last>(x);
                auto dyl = relayout<Last>(dy);
                nf::tensor<T, Last> y(xl.extents(), nan);
                bn.forward(xl, y, saved);
                bn.backward(xl, dyl, dyl, saved); // dx in place of dy
                got_dx = to_logical(dyl, logical);
            }
            CHECK(saved.size() == ((train || !track) ? c : 0));
            const auto& tdx = r.tensor("dx" + s).values;
            check_within(got_dx, ex.dx, ex.dx_tol, "dx vs exact", "BatchNorm backward dx " + dt + " vs exact");
            check_within(got_dx, tdx, plus_error_of(ex.dx_tol, tdx, ex.dx), "dx vs torch",
                         "BatchNorm backward dx " + dt + " vs torch");
            error_report::get().record("PyTorch BatchNorm backward dx " + dt + " vs exact",
                                       compare(tdx, ex.dx, 0).max_error, 0);
            if (affine) {
                // accumulated over the steps: each step's bound, plus one rounding to T per addition
                for (std::size_t ch = 0; ch < c; ++ch) {
                    dw_sum[ch] += ex.dw[ch];
                    db_sum[ch] += ex.db[ch];
                    dw_tol[ch] += ex.dw_tol[ch] + unit<T> * std::abs(dw_sum[ch]);
                    db_tol[ch] += ex.db_tol[ch] + unit<T> * std::abs(db_sum[ch]);
                }
                const auto gw = to_logical(bn.weight_grad(), {"C"});
                const auto gb = to_logical(bn.bias_grad(), {"C"});
                check_within(gw, dw_sum, dw_tol, "dweight vs exact", "BatchNorm backward dweight " + dt + " vs exact");
                check_within(gb, db_sum, db_tol, "dbias vs exact", "BatchNorm backward dbias " + dt + " vs exact");
                const auto& tw = r.tensor("dweight" + s).values;
                const auto& tb = r.tensor("dbias" + s).values;
                check_within(gw, tw, plus_error_of(dw_tol, tw, dw_sum), "dweight vs torch",
                             "BatchNorm backward dweight " + dt + " vs torch");
                check_within(gb, tb, plus_error_of(db_tol, tb, db_sum), "dbias vs torch",
                             "BatchNorm backward dbias " + dt + " vs torch");
            }
            if (track) {
                rm = r.tensor("running_mean" + s).values;
                rv = r.tensor("running_var" + s).values;
            }
        }
    }
}

void dispatch(const reference_file& r) {
    const std::string layer = r.param("layer");
    const bool f64 = r.param("dtype") == "float64";
    const std::size_t rank = r.tensor("input_1").rank();
    // float64 cases are BatchNorm2d's (see gen_reference.py): NCHW and NHWC take the two kernels
    // every layout folds into.
    if (layer == "BatchNorm2d")
        f64 ? run_sequence<double, 2, nf::shape<N<>, C<>, H<>, W<>>, nf::shape<N<>, H<>, W<>, C<>>>(r)
            : run_sequence<float, 2, nf::shape<N<>, C<>, H<>, W<>>, nf::shape<N<>, H<>, W<>, C<>>>(r);
    else if (f64)
        FAIL("no float64 runner for " << layer << ": add one");
    else if (layer == "BatchNorm1d" && rank == 2)
        run_sequence<float, 1, nf::shape<N<>, C<>>, nf::shape<C<>, N<>>>(r);
    else if (layer == "BatchNorm1d" && rank == 3)
        run_sequence<float, 1, nf::shape<N<>, C<>, L<>>, nf::shape<N<>, L<>, C<>>>(r);
    else if (layer == "BatchNorm3d")
        run_sequence<float, 3, nf::shape<N<>, C<>, D<>, H<>, W<>>, nf::shape<N<>, D<>, H<>, W<>, C<>>>(r);
    else
        FAIL("no runner for " << layer << " of rank " << rank);
}

} // namespace

TEST_CASE("batch_norm backward: the reference files are all there", "[backward][batch_norm]") {
    CHECK(case_names("backward_batchnorm").size() == 9);
}

TEST_CASE("batch_norm backward matches PyTorch autograd over train/eval sequences", "[backward][batch_norm]") {
    for (const auto& name : case_names("backward_batchnorm")) {
        INFO("case " << name);
        dispatch(nf_test::load_reference_case(name));
    }
}

namespace {
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using cvec = nf::tensor<float, nf::shape<C<>>>;
} // namespace

TEST_CASE("batch_norm backward at offsets 1e4 and 1e6: ours and PyTorch float32 against float64",
          "[backward][batch_norm]") {
    // dx = A dy + B (x - k) + C0 with k a float near the mean and the rest of the mean folded into
    // C0 (double): x - k is exact here (Sterbenz), so the tolerance of the O(1)-data analysis holds
    // (8 u of |A dy| + |B (x - mean)| + |C0|, see `exact`), offset or not. PyTorch float32 computes
    // x - mean with a float mean and is off by far more: its error is measured and reported.
    for (const char* name : {"backward_offset1e4_batchnorm2d_f32", "backward_offset1e6_batchnorm2d_f32"}) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        const auto& in = r.tensor("input");
        const std::size_t c = in.shape[1];
        const auto x = make_logical<float, nchw>(in);
        const auto dy = make_logical<float, nchw>(r.tensor("dy"));
        const auto ex = exact<float>(in.shape, in.values, r.tensor("dy").values, r.tensor("weight").values, true, {},
                                     {}, r.param_double("eps"));
        const std::string off = r.param("offset") == "10000.0" ? "1e4" : "1e6";
        for (int layout = 0; layout < 2; ++layout) {
            nf::nn::batch_norm2d<float> bn(c);
            fill(bn.weight(), r.tensor("weight"));
            fill(bn.bias(), r.tensor("bias"));
            nf::nn::saved_statistics saved;
            std::vector<double> got;
            if (layout == 0) {
                nf::tensor<float, nchw> y(x.extents()), dx(x.extents());
                bn.forward(x, y, saved);
                bn.backward(x, dy, dx, saved);
                got = to_logical(dx, {"N", "C", "H", "W"});
            } else {
                const auto xl = relayout<nhwc>(x);
                const auto dyl = relayout<nhwc>(dy);
                nf::tensor<float, nhwc> y(xl.extents()), dx(xl.extents());
                bn.forward(xl, y, saved);
                bn.backward(xl, dyl, dx, saved);
                got = to_logical(dx, {"N", "C", "H", "W"});
            }
            const auto& want = r.tensor("dx").values; // PyTorch float64 on the same data
            check_within(got, want, ex.dx_tol, "dx vs float64", "BatchNorm backward dx offset " + off + " vs f64");
            check_within(got, ex.dx, ex.dx_tol, "dx vs exact", "BatchNorm backward dx offset " + off + " vs exact");
            error_report::get().record("PyTorch f32 BatchNorm backward dx offset " + off + " vs f64",
                                       compare(r.tensor("torch_dx").values, want, 0).max_error,
                                       compare(r.tensor("torch_dx").values, want, 0).max_error / scale_of(want));
            const auto gw = to_logical(bn.weight_grad(), {"C"});
            std::vector<double> tol(c);
            for (std::size_t ch = 0; ch < c; ++ch) tol[ch] = ex.dw_tol[ch] + unit<float> * std::abs(ex.dw[ch]);
            check_within(gw, r.tensor("dweight").values, tol, "dweight vs float64",
                         "BatchNorm backward dweight offset " + off + " vs f64");
            error_report::get().record(
                "PyTorch f32 BatchNorm backward dweight offset " + off + " vs f64",
                compare(r.tensor("torch_dweight").values, r.tensor("dweight").values, 0).max_error, 0);
        }
    }
}

TEST_CASE("batch_norm backward: channel counts of every channels-last kernel, streaming stores",
          "[backward][batch_norm]") {
    // Channels-last rows of 4 to 128 channels take every path of slot_gradient.hpp on every
    // instruction set (sums of one register group of 1, 2 or 4 batches, several groups, rows tiled
    // when not a multiple of the width; dx of one group in registers, or the DSL assignment);
    // planes of 35 values take the scalar head and tail of a run. Each
    // shape runs with streaming stores off and forced on (every output above 0 bytes), and float and
    // double; checked against `exact` with its derived tolerances.
    const std::size_t saved_threshold = nf::streaming_threshold();
    struct restore {
        std::size_t bytes;
        ~restore() { nf::set_streaming_threshold(bytes); }
    } const restore_threshold{saved_threshold};
    auto one = [&]<class T>(T*, std::size_t c, bool stream) {
        INFO("C = " << c << (stream ? ", streaming stores" : "") << ", " << (sizeof(T) == 4 ? "float" : "double"));
        ref_tensor xr{{3, c, 5, 7}, {}, ""}, gr{{3, c, 5, 7}, {}, ""}, wr{{c}, {}, ""};
        for (std::size_t i = 0; i < 3 * c * 35; ++i) {
            xr.values.push_back(static_cast<T>(2.0 + 1.5 * std::sin(0.37 * static_cast<double>(i))));
            gr.values.push_back(static_cast<T>(std::cos(0.11 * static_cast<double>(i * i % 1013))));
        }
        for (std::size_t ch = 0; ch < c; ++ch) wr.values.push_back(0.5 + 0.25 * static_cast<double>(ch % 5));
        const auto ex = exact<T>(xr.shape, xr.values, gr.values, wr.values, true, {}, {}, 1e-5);
        nf::set_streaming_threshold(stream ? 0 : saved_threshold);
        for (int layout = 0; layout < 2; ++layout) {
            INFO((layout == 0 ? "NCHW" : "NHWC"));
            nf::nn::batch_norm2d<T> bn(c);
            fill(bn.weight(), wr);
            nf::nn::saved_statistics saved;
            std::vector<double> got;
            const auto x = make_logical<T, nchw>(xr);
            const auto dy = make_logical<T, nchw>(gr);
            if (layout == 0) {
                nf::tensor<T, nchw> y(x.extents()), dx(x.extents());
                bn.forward(x, y, saved);
                bn.backward(x, dy, dx, saved);
                got = to_logical(dx, {"N", "C", "H", "W"});
            } else {
                const auto xl = relayout<nhwc>(x);
                auto dyl = relayout<nhwc>(dy);
                nf::tensor<T, nhwc> y(xl.extents());
                bn.forward(xl, y, saved);
                bn.backward(xl, dyl, dyl, saved);
                got = to_logical(dyl, {"N", "C", "H", "W"});
            }
            check_within(got, ex.dx, ex.dx_tol, "dx vs exact", "BatchNorm backward dx, kernel paths");
            check_within(to_logical(bn.weight_grad(), {"C"}), ex.dw, ex.dw_tol, "dweight vs exact",
                         "BatchNorm backward dweight, kernel paths");
            check_within(to_logical(bn.bias_grad(), {"C"}), ex.db, ex.db_tol, "dbias vs exact",
                         "BatchNorm backward dbias, kernel paths");
        }
    };
    for (const bool stream : {false, true})
        for (const std::size_t c : {4, 8, 16, 32, 48, 64, 128}) {
            one(static_cast<float*>(nullptr), c, stream);
            one(static_cast<double*>(nullptr), c, stream);
        }
}

TEST_CASE("batch_norm backward, functional form: views, caller storage, overwrite and accumulate",
          "[backward][batch_norm]") {
    const auto r = nf_test::load_reference_case("backward_batchnorm2d_wide_f32");
    const auto& in = r.tensor("input_1");
    const std::size_t c = in.shape[1], n = in.numel();
    const auto x = relayout<nhwc>(make_logical<float, nchw>(in));
    const auto dy = relayout<nhwc>(make_logical<float, nchw>(r.tensor("dy_1")));
    cvec w(nf::extents<nf::shape<C<>>>::from_all({c})), b(w.extents()), rm(w.extents(), 0.0f), rv(w.extents(), 1.0f);
    fill(w, r.tensor("weight"));
    fill(b, r.tensor("bias"));
    const auto ex =
        exact<float>(in.shape, in.values, r.tensor("dy_1").values, r.tensor("weight").values, true, {}, {}, 1e-5);
    // Unaligned caller memory for x, dy, dx, and the saved statistics over caller storage.
    unaligned_buffer<float> xb(n, 1), dyb(n, 3), dxb(n, 5), yb(n, 7);
    std::copy(x.data(), x.data() + n, xb.data());
    std::copy(dy.data(), dy.data() + n, dyb.data());
    std::fill(dxb.data(), dxb.data() + n, 2.0f);
    const nf::view<const float, nhwc> xv(xb.data(), x.extents()), dyv(dyb.data(), x.extents());
    const nf::view<float, nhwc> dxv(dxb.data(), x.extents()), yv(yb.data(), x.extents());
    std::vector<double> mean(64), invstd(64);
    nf::nn::saved_statistics saved(mean, invstd);
    nf::nn::functional::batch_norm(xv, yv, rm, rv, w, b, true, 0.1, 1e-5, saved);
    REQUIRE(saved.size() == c);
    CHECK(saved.mean().data() == mean.data());
    cvec dw(w.extents(), 1.0f), db(w.extents(), 1.0f);
    // dx accumulated onto 2, the parameters' gradients overwritten.
    nf::nn::functional::batch_norm_backward(
        xv, dyv, dxv, w, std::nullopt, std::nullopt, saved, true, 1e-5, dw, db,
        nf::nn::backward_options{nf::nn::grad_write::accumulate, nf::nn::grad_write::overwrite});
    std::vector<double> want_dx = ex.dx, tol = ex.dx_tol;
    for (std::size_t i = 0; i < n; ++i) {
        want_dx[i] += 2.0;
        tol[i] += unit<float> * std::abs(want_dx[i]);
    }
    check_within(to_logical(dxv, {"N", "C", "H", "W"}), want_dx, tol, "dx accumulated", "functional");
    check_within(to_logical(dw, {"C"}), ex.dw, ex.dw_tol, "dweight overwritten", "functional");
    check_within(to_logical(db, {"C"}), ex.db, ex.db_tol, "dbias overwritten", "functional");
    // the defaults: dx overwritten, parameters accumulated (onto the values just written)
    nf::nn::functional::batch_norm_backward(xv, dyv, dxv, w, std::nullopt, std::nullopt, saved, true, 1e-5, dw, db);
    check_within(to_logical(dxv, {"N", "C", "H", "W"}), ex.dx, ex.dx_tol, "dx overwritten", "functional");
    std::vector<double> twice = ex.dw, twice_tol = ex.dw_tol;
    for (std::size_t ch = 0; ch < c; ++ch) {
        twice[ch] *= 2;
        twice_tol[ch] = 2 * twice_tol[ch] + unit<float> * std::abs(twice[ch]);
    }
    check_within(to_logical(dw, {"C"}), twice, twice_tol, "dweight accumulated", "functional");
    // eval: through the running statistics, saved not read (cleared by an eval forward)
    nf::nn::functional::batch_norm(xv, yv, rm, rv, w, b, false, 0.1, 1e-5, saved);
    CHECK(saved.empty());
    const auto rml = to_logical(rm, {"C"}), rvl = to_logical(rv, {"C"});
    const auto ee =
        exact<float>(in.shape, in.values, r.tensor("dy_1").values, r.tensor("weight").values, false, rml, rvl, 1e-5);
    nf::nn::functional::batch_norm_backward(xv, dyv, dxv, w, rm, rv, saved, false, 1e-5);
    check_within(to_logical(dxv, {"N", "C", "H", "W"}), ee.dx, ee.dx_tol, "eval dx", "functional");
}

TEST_CASE("batch_norm backward rejects bad calls before writing anything", "[backward][batch_norm]") {
    using T = float;
    nf::tensor<T, nhwc> x({2, 3, 4, 5}), y({2, 3, 4, 5});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>((i * 7919) % 101) / 50.0f;
    nf::nn::batch_norm2d<T> bn(5);
    nf::nn::saved_statistics saved;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    auto untouched = [&](const auto& a) {
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!std::isnan(a.data()[i])) return false;
        return true;
    };
    auto grads_zero = [&] {
        for (std::size_t ch = 0; ch < 5; ++ch)
            if (bn.weight_grad().data()[ch] != 0 || bn.bias_grad().data()[ch] != 0) return false;
        return true;
    };
    SECTION("no saved statistics in training") {
        nf::tensor<T, nhwc> dy(x.extents(), 1.0f), dx(x.extents(), nan);
        CHECK_THROWS_AS(bn.backward(x, dy, dx, saved), std::invalid_argument);
        CHECK(untouched(dx));
        CHECK(grads_zero());
    }
    bn.forward(x, y, saved);
    REQUIRE(saved.size() == 5);
    SECTION("dy with another extent") {
        nf::tensor<T, nhwc> dy({2, 3, 3, 5}, 1.0f), dx(x.extents(), nan);
        CHECK_THROWS_WITH(bn.backward(x, dy, dx, saved),
                          Catch::Contains("nn::batch_norm::backward: axis W has extent 4 in x and 3 in dy; nothing "
                                          "was written"));
        CHECK(untouched(dx));
        CHECK(grads_zero());
    }
    SECTION("dx with another extent") {
        nf::tensor<T, nhwc> dy(x.extents(), 1.0f), dx({1, 3, 4, 5}, nan);
        CHECK_THROWS_AS(bn.backward(x, dy, dx, saved), nf::extent_error);
        CHECK(untouched(dx));
        CHECK(grads_zero());
    }
    SECTION("statistics saved for another channel count") {
        nf::tensor<T, nf::shape<N<>, H<>, W<>, C<>>> x6({2, 3, 4, 6}, 1.0f), dy6(x6.extents(), 1.0f),
            dx6(x6.extents(), nan);
        nf::nn::batch_norm2d<T> bn6(6);
        CHECK_THROWS_AS(bn6.backward(x6, dy6, dx6, saved), std::invalid_argument);
        CHECK(untouched(dx6));
    }
    SECTION("caller storage too small for the forward") {
        std::vector<double> m(4), s(4);
        nf::nn::saved_statistics small(m, s);
        nf::tensor<T, nhwc> out(x.extents(), nan);
        CHECK_THROWS_AS(bn.forward(x, out, small), std::length_error);
        CHECK(untouched(out));
        CHECK(bn.num_batches_tracked() == 1);
    }
    SECTION("eval needs no saved statistics") {
        bn.eval();
        nf::nn::saved_statistics none;
        nf::tensor<T, nhwc> dy(x.extents(), 1.0f), dx(x.extents(), nan);
        bn.backward(x, dy, dx, none);
        CHECK(!untouched(dx));
    }
}

namespace {

/// InstanceNorm is BatchNorm per instance: the exact values and tolerances of `exact` on each
/// instance (1, C, H, W), dweight and dbias summed over the instances.
template <class T, class LS, class Last>
void run_instance(const reference_file& r) {
    const bool affine = flag(r, "affine"), track = flag(r, "track_running_stats");
    const double eps = r.param_double("eps");
    const std::size_t steps = count_param(r, "steps");
    const std::string dt = sizeof(T) == 4 ? "float32" : "float64";
    for (int layout = 0; layout < 2; ++layout) {
        INFO("layout: " << (layout == 0 ? "PyTorch's axis order" : "channels-last"));
        const std::size_t c = r.tensor("input_1").shape[1];
        nf::nn::instance_norm2d<T> in(c, {.eps = eps, .affine = affine, .track_running_stats = track});
        if (affine) {
            fill(in.weight(), r.tensor("weight"));
            fill(in.bias(), r.tensor("bias"));
        }
        if (track) {
            fill(in.running_mean(), r.tensor("running_mean_init"));
            fill(in.running_var(), r.tensor("running_var_init"));
        }
        nf::nn::saved_statistics saved, fsaved;
        std::vector<double> dw_sum(c, 0.0), db_sum(c, 0.0), dw_tol(c, 0.0), db_tol(c, 0.0);
        std::vector<double> rm = values_or_empty(r, "running_mean_init"), rv = values_or_empty(r, "running_var_init");
        // the functional forms on caller-owned buffers, run beside the layer in the channels-last layout
        using CV = nf::tensor<T, nf::shape<C<>>>;
        std::optional<CV> fw, fdw, fdb;
        if (affine) {
            fw.emplace(in.weight());
            fdw.emplace(CV({c}, T(0)));
            fdb.emplace(CV({c}, T(0)));
        }
        for (std::size_t k = 1; k <= steps; ++k) {
            INFO("step " << k);
            const std::string s = "_" + std::to_string(k);
            const bool train = k < 3; // the sequences are train, train, eval (or one train step)
            in.train(train);
            const auto& xin = r.tensor("input" + s);
            const auto& gin = r.tensor("dy" + s);
            const std::size_t n = xin.shape[0], per = xin.numel() / n;
            exact_backward ex;
            std::vector<double> w = affine ? r.tensor("weight").values : std::vector<double>{};
            std::vector<double> dw_step(c, 0.0), db_step(c, 0.0), dw_step_tol(c, 0.0), db_step_tol(c, 0.0);
            for (std::size_t i = 0; i < n; ++i) {
                std::vector<std::size_t> one = xin.shape;
                one[0] = 1;
                const std::vector<double> xs(xin.values.begin() + i * per, xin.values.begin() + (i + 1) * per);
                const std::vector<double> gs(gin.values.begin() + i * per, gin.values.begin() + (i + 1) * per);
                const auto e = exact<T>(one, xs, gs, w, train || !track, rm, rv, eps);
                ex.dx.insert(ex.dx.end(), e.dx.begin(), e.dx.end());
                ex.dx_tol.insert(ex.dx_tol.end(), e.dx_tol.begin(), e.dx_tol.end());
                for (std::size_t ch = 0; ch < c; ++ch) {
                    dw_step[ch] += e.dw[ch];
                    db_step[ch] += e.db[ch];
                    dw_step_tol[ch] += e.dw_tol[ch];
                    db_step_tol[ch] += e.db_tol[ch];
                }
            }
            const auto x = make_logical<T, LS>(xin);
            const auto dy = make_logical<T, LS>(gin);
            const auto logical = axis_names<nf::tensor<T, LS>>();
            std::vector<double> got;
            if (layout == 0) {
                nf::tensor<T, LS> y(x.extents()), dx(x.extents(), std::numeric_limits<T>::quiet_NaN());
                in.forward(x, y, saved);
                in.backward(x, dy, dx, saved);
                got = to_logical(dx, logical);
            } else {
                const auto xl = relayout<Last>(x);
                auto dyl = relayout<Last>(dy);
                nf::tensor<T, Last> y(xl.extents()), fdx(xl.extents(), std::numeric_limits<T>::quiet_NaN());
                const bool stats = train || !track;
                std::optional<CV> rmc, rvc; // eval: the layer's running statistics, read-only
                if (!stats) {
                    rmc.emplace(in.running_mean());
                    rvc.emplace(in.running_var());
                }
                nf::nn::functional::instance_norm(xl, y, std::as_const(rmc), std::as_const(rvc), std::as_const(fw),
                                                  std::nullopt, stats, 0.1, eps, fsaved);
                nf::nn::functional::instance_norm_backward(xl, dyl, fdx, std::as_const(fw), std::as_const(rmc),
                                                           std::as_const(rvc), fsaved, stats, eps, fdw, fdb);
                in.forward(xl, y, saved);
                in.backward(xl, dyl, dyl, saved);
                got = to_logical(dyl, logical);
                // the same body: the bits of the layer (which is checked against the references below)
                CHECK(to_logical(fdx, logical) == got);
                REQUIRE(fsaved.size() == saved.size());
                for (std::size_t i = 0; i < saved.size(); ++i) {
                    CHECK(fsaved.mean_data()[i] == saved.mean_data()[i]);
                    CHECK(fsaved.invstd_data()[i] == saved.invstd_data()[i]);
                }
                if (affine) {
                    CHECK(to_logical(*fdw, {"C"}) == to_logical(in.weight_grad(), {"C"}));
                    CHECK(to_logical(*fdb, {"C"}) == to_logical(in.bias_grad(), {"C"}));
                }
            }
            CHECK(saved.size() == ((train || !track) ? n * c : 0));
            const auto& tdx = r.tensor("dx" + s).values;
            check_within(got, ex.dx, ex.dx_tol, "dx vs exact", "InstanceNorm backward dx " + dt + " vs exact");
            check_within(got, tdx, plus_error_of(ex.dx_tol, tdx, ex.dx), "dx vs torch",
                         "InstanceNorm backward dx " + dt + " vs torch");
            if (affine) {
                for (std::size_t ch = 0; ch < c; ++ch) {
                    dw_sum[ch] += dw_step[ch];
                    db_sum[ch] += db_step[ch];
                    dw_tol[ch] += dw_step_tol[ch] + unit<T> * std::abs(dw_sum[ch]);
                    db_tol[ch] += db_step_tol[ch] + unit<T> * std::abs(db_sum[ch]);
                }
                const auto gw = to_logical(in.weight_grad(), {"C"});
                const auto gb = to_logical(in.bias_grad(), {"C"});
                const auto& tw = r.tensor("dweight" + s).values;
                const auto& tb = r.tensor("dbias" + s).values;
                check_within(gw, dw_sum, dw_tol, "dweight vs exact",
                             "InstanceNorm backward dweight " + dt + " vs exact");
                check_within(gb, db_sum, db_tol, "dbias vs exact", "InstanceNorm backward dbias " + dt + " vs exact");
                check_within(gw, tw, plus_error_of(dw_tol, tw, dw_sum), "dweight vs torch",
                             "InstanceNorm backward dweight " + dt + " vs torch");
                check_within(gb, tb, plus_error_of(db_tol, tb, db_sum), "dbias vs torch",
                             "InstanceNorm backward dbias " + dt + " vs torch");
            }
            if (track) {
                rm = r.tensor("running_mean" + s).values;
                rv = r.tensor("running_var" + s).values;
            }
        }
    }
}

} // namespace

TEST_CASE("batch_norm and instance_norm backward: the same bits on one thread and cut into pieces",
          "[backward][threads]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using CV = nf::tensor<float, nf::shape<C<>>>;
    nf::tensor<float, nchw> x({4, 6, 32, 32}), y(x.extents()), dy(x.extents());
    for (std::size_t i = 0; i < x.size(); ++i) {
        x.data()[i] = 3.0f + std::sin(0.37f * static_cast<float>(i));
        dy.data()[i] = std::cos(0.11f * static_cast<float>(i * i % 1013));
    }
    const CV w({6}, 1.5f);
    nf::nn::saved_statistics bs, is;
    nf::nn::functional::batch_norm(x, y, std::nullopt, std::nullopt, w, std::nullopt, true, 0.1, 1e-5, bs);
    nf::nn::functional::instance_norm(x, y, std::nullopt, std::nullopt, w, std::nullopt, true, 0.1, 1e-5, is);
    struct result {
        std::vector<float> bdx, idx, bdw, bdb, idw, idb;
    };
    auto run = [&] {
        nf::tensor<float, nchw> bdx(x.extents()), idx(x.extents());
        CV bdw({6}, 0.0f), bdb({6}, 0.0f), idw({6}, 0.0f), idb({6}, 0.0f);
        nf::nn::functional::batch_norm_backward(x, dy, bdx, w, std::nullopt, std::nullopt, bs, true, 1e-5, bdw, bdb);
        nf::nn::functional::instance_norm_backward(x, dy, idx, w, std::nullopt, std::nullopt, is, true, 1e-5, idw, idb);
        auto v = [](const auto& t) { return std::vector<float>(t.data(), t.data() + t.size()); };
        return result{v(bdx), v(idx), v(bdw), v(bdb), v(idw), v(idb)};
    };
    result one;
    {
        nf::scoped_parallel_for serial({}, 1);
        one = run();
    }
    // two pieces, run by the caller's parallel-for in reverse order: the per-slot sums must not
    // depend on how the slots are split or in which order the pieces run
    std::size_t calls = 0;
    nf::scoped_parallel_for pool(
        [&](std::size_t begin, std::size_t end, const nf::parallel_body& body) {
            ++calls;
            for (std::size_t k = end; k > begin; --k) body(k - 1, k);
        },
        2);
    const result two = run();
    CHECK(calls >= 2); // at least the two passes of per-slot sums were cut (the dx writes may be too)
    CHECK(two.bdx == one.bdx);
    CHECK(two.idx == one.idx);
    CHECK(two.bdw == one.bdw);
    CHECK(two.bdb == one.bdb);
    CHECK(two.idw == one.idw);
    CHECK(two.idb == one.idb);
}

TEST_CASE("functional::instance_norm_backward checks everything before writing", "[backward][instance_norm]") {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using CV = nf::tensor<float, nf::shape<C<>>>;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    nf::tensor<float, nchw> x({2, 3, 4, 5}), y(x.extents()), dy(x.extents(), 1.0f), dx(x.extents(), nan);
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::cos(0.7f * static_cast<float>(i));
    const CV w({3}, 2.0f);
    CV dw({3}, 0.0f), db({3}, 0.0f), dw4({4}, 0.0f);
    nf::nn::saved_statistics saved;
    nf::nn::functional::instance_norm(x, y, std::nullopt, std::nullopt, w, std::nullopt, true, 0.1, 1e-5, saved);
    CHECK(saved.size() == 6);
    auto untouched = [&] {
        for (std::size_t i = 0; i < dx.size(); ++i)
            if (!std::isnan(dx.data()[i])) return false;
        for (std::size_t i = 0; i < 3; ++i)
            if (dw.data()[i] != 0.0f || db.data()[i] != 0.0f) return false;
        return true;
    };
    nf::nn::saved_statistics wrong;
    CHECK_THROWS_WITH(
        nf::nn::functional::instance_norm_backward(x, dy, dx, w, std::nullopt, std::nullopt, wrong, true, 1e-5, dw, db),
        Catch::Contains("nn::functional::instance_norm_backward") &&
            Catch::Contains("saved statistics hold 0 instances, not 6"));
    CHECK(untouched());
    CHECK_THROWS_WITH(nf::nn::functional::instance_norm_backward(x, dy, dx, w, std::nullopt, std::nullopt, saved, true,
                                                                 1e-5, dw4, db),
                      Catch::Contains("dweight"));
    CHECK(untouched());
    CHECK_THROWS_WITH(nf::nn::functional::instance_norm_backward(x, dy, dx, w, std::nullopt, std::nullopt, saved, false,
                                                                 1e-5, dw, db),
                      Catch::Contains("running_mean and running_var must be given"));
    CHECK(untouched());
    // a constant dy: every instance's dx is zero up to rounding, dbias = the count per channel
    nf::nn::functional::instance_norm_backward(x, dy, dx, w, std::nullopt, std::nullopt, saved, true, 1e-5, dw, db);
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(std::abs(dx.data()[i]) < 1e-5f);
    for (std::size_t i = 0; i < 3; ++i) CHECK(db.data()[i] == 40.0f);
}

TEST_CASE("instance_norm backward matches PyTorch autograd over train/eval sequences", "[backward][instance_norm]") {
    const auto names = case_names("backward_instancenorm");
    CHECK(names.size() == 3);
    for (const auto& name : names) {
        INFO("case " << name);
        const auto r = nf_test::load_reference_case(name);
        using nchw_t = nf::shape<N<>, C<>, H<>, W<>>;
        using nhwc_t = nf::shape<N<>, H<>, W<>, C<>>;
        if (r.param("dtype") == "float64")
            run_instance<double, nchw_t, nhwc_t>(r);
        else
            run_instance<float, nchw_t, nhwc_t>(r);
    }
}
