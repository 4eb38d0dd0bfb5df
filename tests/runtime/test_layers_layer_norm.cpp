// Runtime tests of nf::nn::layer_norm against PyTorch 1.13 (tests/reference/data/layernorm_*.ref
// and offset1e6_layernorm_*.ref). PyTorch normalizes over the trailing dims; here they are NAMED:
// an [N, C, L] input with normalized_shape [C, L] is nf::nn::layer_norm<T, nf::shape<C<>, L<>>>,
// and the same layer must then work on any layout of the input (NLC, NHWC ...).
#include <catch2/catch.hpp>

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/layer_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

/// "5,7" -> {5, 7}.
std::vector<std::size_t> parse_list(const std::string& text) {
    std::vector<std::size_t> v;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) v.push_back(std::stoul(item));
    return v;
}

template <class T, class NS>
nf::nn::layer_norm<T, NS> make_layer(const reference_file& r) {
    const auto dims = parse_list(r.param("normalized_shape"));
    REQUIRE(dims.size() == NS::rank);
    std::array<std::size_t, NS::rank> e{};
    std::copy(dims.begin(), dims.end(), e.begin());
    nf::nn::layer_norm_options o;
    o.eps = r.param_double("eps");
    o.elementwise_affine = flag(r, "affine");
    nf::nn::layer_norm<T, NS> ln(nf::extents<NS>::from_all(e), o);
    if (o.elementwise_affine) {
        CHECK(to_logical(ln.weight(), axis_names<nf::tensor<T, NS>>()) == std::vector<double>(ln.weight().size(), 1.0));
        CHECK(to_logical(ln.bias(), axis_names<nf::tensor<T, NS>>()) == std::vector<double>(ln.bias().size(), 0.0));
        fill(ln.weight(), r.tensor("weight")); // laid out as normalized_shape, as NS is
        fill(ln.bias(), r.tensor("bias"));
    } else {
        CHECK_THROWS_AS(ln.weight(), std::logic_error);
        CHECK_THROWS_AS(ln.bias(), std::logic_error);
    }
    return ln;
}

/// One case: `LS` is PyTorch's order of the input's axes, `Last` another order of them, `NS` the
/// normalized axes (PyTorch's trailing dims, named). `exact` names the tensor to compare against.
template <class T, class LS, class Last, class NS>
void run_case(const reference_file& r, const std::string& want_name, double tolerance, const std::string& key) {
    for (const variant v : all_variants) {
        INFO("variant: " << name_of(v));
        auto ln = make_layer<T, NS>(r);
        const auto x = make_logical<T, LS>(r.tensor("input"));
        const auto& want = r.tensor(want_name).values;
        const double tol = tolerance > 0 ? tolerance : output_tolerance<T>(scale_of(want));
        check_values(forward_as<Last>(v, ln, x), want, tol, want_name, key);
        // The mode has no effect (spec 4).
        ln.eval();
        check_values(forward_as<Last>(v, ln, x), want, tol, want_name + " in eval mode", key);
    }
}

template <class T>
void dispatch(const reference_file& r, const std::string& want_name = "output", double tolerance = 0,
              const std::string& key = "") {
    const std::string k =
        key.empty() ? std::string("LayerNorm ") + (sizeof(T) == 4 ? "float32" : "float64") + " vs torch" : key;
    const std::size_t rank = r.tensor("input").rank();
    const std::size_t dims = parse_list(r.param("normalized_shape")).size();
    using nc = nf::shape<N<>, C<>>;
    using cn = nf::shape<C<>, N<>>;
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    if (rank == 2 && dims == 1)
        run_case<T, nc, cn, nf::shape<C<>>>(r, want_name, tolerance, k);
    else if (rank == 3 && dims == 1)
        run_case<T, ncl, nlc, nf::shape<L<>>>(r, want_name, tolerance, k);
    else if (rank == 3 && dims == 2)
        run_case<T, ncl, nlc, nf::shape<C<>, L<>>>(r, want_name, tolerance, k);
    else if (rank == 4 && dims == 2)
        run_case<T, nchw, nhwc, nf::shape<H<>, W<>>>(r, want_name, tolerance, k);
    else if (rank == 4 && dims == 3)
        run_case<T, nchw, nhwc, nf::shape<C<>, H<>, W<>>>(r, want_name, tolerance, k);
    else
        FAIL("no runner for LayerNorm on rank " << rank << " with " << dims << " normalized dims: add one");
}

} // namespace

TEST_CASE("layer_norm: the reference files are all there", "[layers][layer_norm]") {
    CHECK(case_names("layernorm_").size() == 14);
    CHECK(case_names("offset1e6_layernorm").size() == 1);
}

TEST_CASE("layer_norm: matches PyTorch 1.13 on every layernorm_*.ref case", "[layers][layer_norm]") {
    const std::string name = GENERATE(from_range(case_names("layernorm_")));
    CAPTURE(name);
    const auto r = nf_test::load_reference_case(name);
    REQUIRE(r.param("layer") == "LayerNorm");
    if (r.param("dtype") == "float64")
        dispatch<double>(r);
    else
        dispatch<float>(r);
}

TEST_CASE("layer_norm: within 1e-5 of float64 at offset 1e6, where PyTorch float32 is off by > 1e-2",
          "[layers][layer_norm]") {
    const std::string name = GENERATE(from_range(case_names("offset1e6_layernorm")));
    CAPTURE(name);
    const auto r = nf_test::load_reference_case(name);
    REQUIRE(r.param("dtype") == "float32");
    REQUIRE(r.tensor("output").dtype == "float64");
    // PyTorch's CPU LayerNorm accumulates in float32 (spec 4): its error at this offset.
    const diff torch_error = compare(r.tensor("torch_output").values, r.tensor("output").values, 0);
    error_report::get().record("LayerNorm offset1e6 torch vs float64", torch_error.max_error, 0);
    CHECK(torch_error.max_error > 1e-2);
    dispatch<float>(r, "output", 1e-5, "LayerNorm offset1e6 ours vs float64");
}

TEST_CASE("layer_norm: the order of the normalized axes in the layer's type does not matter", "[layers][layer_norm]") {
    // normalized_shape [5, 7] over (C, L) of an [N, C, L] input, declared as (L, C): the weight is
    // then laid out (L, C), and is set by assigning PyTorch's (C, L) weight to it by name.
    const auto r = nf_test::load_reference_case("layernorm_2dim_f32");
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using cl = nf::shape<C<>, L<>>;
    using lc = nf::shape<L<>, C<>>;
    nf::nn::layer_norm<float, lc> ln({7, 5}, {.eps = r.param_double("eps")});
    ln.weight() = make_logical<float, cl>(r.tensor("weight"));
    ln.bias() = make_logical<float, cl>(r.tensor("bias"));
    CHECK(to_logical(ln.weight(), {"C", "L"}) == r.tensor("weight").values);
    const auto x = make_logical<float, ncl>(r.tensor("input"));
    const auto& want = r.tensor("output").values;
    for (const variant v : all_variants) {
        INFO("variant: " << name_of(v));
        check_values(forward_as<nlc>(v, ln, x), want, output_tolerance<float>(scale_of(want)), "output",
                     "LayerNorm float32 vs torch");
    }
}
