// Runtime tests of nf::nn::instance_norm{1,2,3}d against PyTorch 1.13 (tests/reference/data/
// instancenorm*.ref): affine and tracking variants, unbatched inputs given as arrays WITHOUT an N
// axis, running statistics (batch average of per-instance unbiased variances) after every step,
// num_batches_tracked that stays 0, eval after training; in every layout and storage.
#include <catch2/catch.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/instance_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

template <class T, std::size_t Dims>
nf::nn::instance_norm<T, Dims> make_layer(const reference_file& r) {
    nf::nn::instance_norm_options o;
    o.eps = r.param_double("eps");
    REQUIRE(r.param("momentum") != "none"); // PyTorch rejects momentum=None for InstanceNorm
    o.momentum = r.param_double("momentum");
    o.affine = flag(r, "affine");
    o.track_running_stats = flag(r, "track_running_stats");
    nf::nn::instance_norm<T, Dims> in(count_param(r, "num_features"), o);
    CHECK(in.training());
    if (o.affine) {
        fill(in.weight(), r.tensor("weight"));
        fill(in.bias(), r.tensor("bias"));
    } else {
        CHECK_THROWS_AS(in.weight(), std::logic_error);
        CHECK_THROWS_AS(in.bias(), std::logic_error);
    }
    if (o.track_running_stats) {
        CHECK(to_logical(in.running_mean(), {"C"}) == std::vector<double>(in.num_features(), 0.0));
        CHECK(to_logical(in.running_var(), {"C"}) == std::vector<double>(in.num_features(), 1.0));
        fill(in.running_mean(), r.tensor("running_mean_init"));
        fill(in.running_var(), r.tensor("running_var_init"));
        CHECK(r.tensor("num_batches_tracked_init").values[0] == 0);
    } else {
        CHECK_THROWS_AS(in.running_mean(), std::logic_error);
        CHECK_THROWS_AS(in.running_var(), std::logic_error);
    }
    CHECK(in.num_batches_tracked() == 0);
    if (!flag(r, "training")) in.eval();
    return in;
}

template <class T, std::size_t Dims, class LS, class Last>
void run_case(const reference_file& r) {
    const std::string key = std::string("InstanceNorm ") + (sizeof(T) == 4 ? "float32" : "float64") + " vs torch";
    const bool tracking = flag(r, "track_running_stats");
    const std::size_t steps = count_param(r, "steps");
    REQUIRE((steps == 0 || steps == 1 || steps == 3));
    for (const variant v : all_variants) {
        INFO("variant: " << name_of(v));
        auto in = make_layer<T, Dims>(r);
        auto forward = [&](const std::string& input, const std::string& output) {
            const auto x = make_logical<T, LS>(r.tensor(input));
            const auto y = forward_as<Last>(v, in, x);
            const auto& want = r.tensor(output).values;
            check_values(y, want, output_tolerance<T>(scale_of(want)), output, key + " output");
            return scale_of(r.tensor(input).values);
        };
        auto state = [&] {
            std::vector<double> s;
            if (tracking) {
                s = to_logical(in.running_mean(), {"C"});
                const auto v2 = to_logical(in.running_var(), {"C"});
                s.insert(s.end(), v2.begin(), v2.end());
            }
            return s;
        };
        auto check_running = [&](const std::string& sfx, double data_scale) {
            for (const std::string what : {"running_mean", "running_var"}) {
                const auto got = to_logical(what == "running_mean" ? in.running_mean() : in.running_var(), {"C"});
                const auto& want = r.tensor(what + sfx);
                REQUIRE(got.size() == want.numel());
                for (std::size_t c = 0; c < got.size(); ++c) {
                    const double err = std::abs(got[c] - want.values[c]);
                    const double tol = running_tolerance<T>(want.values[c], data_scale);
                    error_report::get().record(key + " " + what, err, err / ulp<T>(want.values[c]));
                    INFO(what << sfx << "[" << c << "]: got " << got[c] << ", want " << want.values[c] << ", tolerance "
                              << tol);
                    CHECK(err <= tol);
                }
            }
            // InstanceNorm never counts batches (spec 3), in the file and here.
            CHECK(r.tensor(sfx.empty() ? "num_batches_tracked" : "nbt" + sfx).values[0] == 0);
            CHECK(in.num_batches_tracked() == 0);
        };

        if (steps == 0) {
            const auto before = state();
            forward("input", "output");
            CHECK(state() == before);
        } else {
            for (std::size_t k = 1; k <= steps; ++k) {
                const std::string sfx = steps == 1 ? "" : "_" + std::to_string(k);
                const double scale = forward("input" + sfx, "output" + sfx);
                if (tracking) check_running(sfx, scale);
            }
            in.eval();
            const auto before = state();
            forward("eval_input", "eval_output");
            CHECK(state() == before);
        }
        CHECK(in.num_batches_tracked() == 0);
    }
}

void dispatch(const reference_file& r) {
    const std::string layer = r.param("layer");
    const bool f64 = r.param("dtype") == "float64";
    const std::size_t rank = r.tensor(r.has_tensor("input") ? "input" : "input_1").rank();
    // Batched inputs, then unbatched ones as arrays without N (not as N = 1).
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using cl = nf::shape<C<>, L<>>;
    using lc = nf::shape<L<>, C<>>;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    using chw = nf::shape<C<>, H<>, W<>>;
    using hwc = nf::shape<H<>, W<>, C<>>;
    using ncdhw = nf::shape<N<>, C<>, D<>, H<>, W<>>;
    using ndhwc = nf::shape<N<>, D<>, H<>, W<>, C<>>;
    using cdhw = nf::shape<C<>, D<>, H<>, W<>>;
    using dhwc = nf::shape<D<>, H<>, W<>, C<>>;
    // Only the (layer, rank, dtype) combinations the data has are compiled, to keep the build
    // short; a new combination in the data fails below instead of passing unseen.
    if (layer == "InstanceNorm1d" && rank == 3 && !f64)
        run_case<float, 1, ncl, nlc>(r);
    else if (layer == "InstanceNorm1d" && rank == 3 && f64)
        run_case<double, 1, ncl, nlc>(r);
    else if (layer == "InstanceNorm1d" && rank == 2 && !f64)
        run_case<float, 1, cl, lc>(r);
    else if (layer == "InstanceNorm2d" && rank == 4 && !f64)
        run_case<float, 2, nchw, nhwc>(r);
    else if (layer == "InstanceNorm2d" && rank == 4 && f64)
        run_case<double, 2, nchw, nhwc>(r);
    else if (layer == "InstanceNorm2d" && rank == 3 && !f64)
        run_case<float, 2, chw, hwc>(r);
    else if (layer == "InstanceNorm3d" && rank == 5 && !f64)
        run_case<float, 3, ncdhw, ndhwc>(r);
    else if (layer == "InstanceNorm3d" && rank == 4 && f64)
        run_case<double, 3, cdhw, dhwc>(r);
    else
        FAIL("no runner for " << layer << " of rank " << rank << " in " << r.param("dtype") << ": add one");
}

} // namespace

TEST_CASE("instance_norm: the reference files are all there", "[layers][instance_norm]") {
    CHECK(case_names("instancenorm1d_").size() == 6);
    CHECK(case_names("instancenorm2d_").size() == 11);
    CHECK(case_names("instancenorm3d_").size() == 3);
}

TEST_CASE("instance_norm: matches PyTorch 1.13 on every instancenorm*.ref case", "[layers][instance_norm]") {
    const std::string name = GENERATE(from_range(case_names("instancenorm")));
    CAPTURE(name);
    dispatch(nf_test::load_reference_case(name));
}

TEST_CASE("instance_norm: defaults are PyTorch's (no affine, no tracking)", "[layers][instance_norm]") {
    nf::nn::instance_norm2d<float> in(3);
    CHECK(in.options().eps == 1e-5);
    CHECK(in.options().momentum == 0.1);
    CHECK_FALSE(in.options().affine);
    CHECK_FALSE(in.options().track_running_stats);
    CHECK_THROWS_AS(in.weight(), std::logic_error);
    CHECK_THROWS_AS(in.running_mean(), std::logic_error);
}
