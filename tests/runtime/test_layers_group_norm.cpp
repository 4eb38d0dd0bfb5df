// Runtime tests of nf::nn::group_norm against PyTorch 1.13 (tests/reference/data/groupnorm_*.ref,
// G = 1, 2, 3, 6 of C = 6, NCL and NCHW, and offset1e6_groupnorm_*.ref), in every layout and
// storage: the groups are contiguous blocks of channels whatever the memory order of C.
#include <catch2/catch.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/group_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

template <class T>
nf::nn::group_norm<T> make_layer(const reference_file& r) {
    nf::nn::group_norm_options o;
    o.eps = r.param_double("eps");
    o.affine = flag(r, "affine");
    nf::nn::group_norm<T> gn(count_param(r, "num_groups"), count_param(r, "num_channels"), o);
    CHECK(gn.num_groups() == count_param(r, "num_groups"));
    CHECK(gn.num_channels() == count_param(r, "num_channels"));
    if (o.affine) {
        CHECK(to_logical(gn.weight(), {"C"}) == std::vector<double>(gn.num_channels(), 1.0));
        CHECK(to_logical(gn.bias(), {"C"}) == std::vector<double>(gn.num_channels(), 0.0));
        fill(gn.weight(), r.tensor("weight"));
        fill(gn.bias(), r.tensor("bias"));
    } else {
        CHECK_THROWS_AS(gn.weight(), std::logic_error);
        CHECK_THROWS_AS(gn.bias(), std::logic_error);
    }
    return gn;
}

template <class T, class LS, class Last>
void run_case(const reference_file& r, const std::string& want_name, double tolerance, const std::string& key) {
    for (const variant v : all_variants) {
        INFO("variant: " << name_of(v));
        auto gn = make_layer<T>(r);
        const auto x = make_logical<T, LS>(r.tensor("input"));
        const auto& want = r.tensor(want_name).values;
        const double tol = tolerance > 0 ? tolerance : output_tolerance<T>(scale_of(want));
        check_values(forward_as<Last>(v, gn, x), want, tol, want_name, key);
        gn.eval(); // the mode has no effect (spec 5)
        check_values(forward_as<Last>(v, gn, x), want, tol, want_name + " in eval mode", key);
    }
}

template <class T>
void dispatch(const reference_file& r, const std::string& want_name = "output", double tolerance = 0,
              const std::string& key = "") {
    REQUIRE(r.param("layer") == "GroupNorm");
    const std::string k =
        key.empty() ? std::string("GroupNorm ") + (sizeof(T) == 4 ? "float32" : "float64") + " vs torch" : key;
    const std::size_t rank = r.tensor("input").rank();
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    if (rank == 3)
        run_case<T, ncl, nlc>(r, want_name, tolerance, k);
    else if (rank == 4)
        run_case<T, nchw, nhwc>(r, want_name, tolerance, k);
    else
        FAIL("no runner for GroupNorm of rank " << rank << ": add one");
}

} // namespace

TEST_CASE("group_norm: the reference files are all there", "[layers][group_norm]") {
    CHECK(case_names("groupnorm_NCL_").size() == 9);
    CHECK(case_names("groupnorm_NCHW_").size() == 10);
    CHECK(case_names("offset1e6_groupnorm").size() == 1);
}

TEST_CASE("group_norm: matches PyTorch 1.13 on every groupnorm_*.ref case", "[layers][group_norm]") {
    const std::string name = GENERATE(from_range(case_names("groupnorm_")));
    CAPTURE(name);
    const auto r = nf_test::load_reference_case(name);
    if (r.param("dtype") == "float64")
        dispatch<double>(r);
    else
        dispatch<float>(r);
}

TEST_CASE("group_norm: within 1e-5 of float64 at offset 1e6, where PyTorch float32 is off by > 1e-2",
          "[layers][group_norm]") {
    const std::string name = GENERATE(from_range(case_names("offset1e6_groupnorm")));
    CAPTURE(name);
    const auto r = nf_test::load_reference_case(name);
    REQUIRE(r.param("dtype") == "float32");
    REQUIRE(r.tensor("output").dtype == "float64");
    const diff torch_error = compare(r.tensor("torch_output").values, r.tensor("output").values, 0);
    error_report::get().record("GroupNorm offset1e6 torch vs float64", torch_error.max_error, 0);
    CHECK(torch_error.max_error > 1e-2);
    dispatch<float>(r, "output", 1e-5, "GroupNorm offset1e6 ours vs float64");
}

TEST_CASE("group_norm: static groups and channels", "[layers][group_norm]") {
    // group_norm<float, 2, 6> fixes G and C in the type; it must agree with the dynamic layer.
    const auto r = nf_test::load_reference_case("groupnorm_NCL_G2_f32");
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    nf::nn::group_norm<float, 2, 6> gn;
    CHECK(gn.num_groups() == 2);
    CHECK(gn.num_channels() == 6);
    fill(gn.weight(), r.tensor("weight"));
    fill(gn.bias(), r.tensor("bias"));
    const auto x = make_logical<float, ncl>(r.tensor("input"));
    const auto& want = r.tensor("output").values;
    check_values(forward_as<nlc>(variant::tensor_logical, gn, x), want, output_tolerance<float>(scale_of(want)),
                 "output", "GroupNorm float32 vs torch");
    check_values(forward_as<nlc>(variant::tensor_last, gn, x), want, output_tolerance<float>(scale_of(want)), "output",
                 "GroupNorm float32 vs torch");
    CHECK_THROWS_AS((nf::nn::group_norm<float, 2, 6>(3, 6)), std::invalid_argument);
}
