// Runtime tests of nf::nn::rms_norm against the RMSNorm reference (tests/reference/data/
// rmsnorm_*.ref: y = x * rsqrt(mean(x^2, last dim) + eps) * weight, evaluated with torch ops in the
// case's dtype, eps from the file), in every layout and storage.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

/// `LS`: PyTorch's order of the input's axes, the last one normalized (it is `Norm`); `Last`
/// another order of them.
template <class T, class LS, class Last, class Norm>
void run_case(const reference_file& r) {
    const std::string key = std::string("RMSNorm ") + (sizeof(T) == 4 ? "float32" : "float64") + " vs torch";
    const auto& in = r.tensor("input");
    REQUIRE(r.param_double("normalized_shape") == static_cast<double>(in.shape.back()));
    REQUIRE(flag(r, "affine"));
    for (const variant v : all_variants) {
        INFO("variant: " << name_of(v));
        nf::nn::rms_norm<T, nf::shape<Norm>> rn({in.shape.back()}, {.eps = r.param_double("eps")});
        CHECK(rn.eps() == r.param_double("eps"));
        CHECK(to_logical(rn.weight(), {Norm::name}) == std::vector<double>(in.shape.back(), 1.0));
        fill(rn.weight(), r.tensor("weight"));
        const auto x = make_logical<T, LS>(in);
        const auto& want = r.tensor("output").values;
        check_values(forward_as<Last>(v, rn, x), want, output_tolerance<T>(scale_of(want)), "output", key);
    }
}

void dispatch(const reference_file& r) {
    REQUIRE(r.param("layer") == "RMSNorm");
    const bool f64 = r.param("dtype") == "float64";
    const std::size_t rank = r.tensor("input").rank();
    using nc = nf::shape<N<>, C<>>;
    using cn = nf::shape<C<>, N<>>;
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    if (rank == 2)
        f64 ? run_case<double, nc, cn, C<>>(r) : run_case<float, nc, cn, C<>>(r);
    else if (rank == 3)
        f64 ? run_case<double, ncl, nlc, L<>>(r) : run_case<float, ncl, nlc, L<>>(r);
    else
        FAIL("no runner for RMSNorm of rank " << rank << ": add one");
}

} // namespace

TEST_CASE("rms_norm: the reference files are all there", "[layers][rms_norm]") {
    CHECK(case_names("rmsnorm_").size() == 4);
}

TEST_CASE("rms_norm: matches the reference on every rmsnorm_*.ref case", "[layers][rms_norm]") {
    const std::string name = GENERATE(from_range(case_names("rmsnorm_")));
    CAPTURE(name);
    dispatch(nf_test::load_reference_case(name));
}

TEST_CASE("rms_norm: eps defaults to the machine epsilon of T; no weight without affine", "[layers][rms_norm]") {
    nf::nn::rms_norm<float, nf::shape<L<>>> f({8});
    CHECK(f.eps() == static_cast<double>(std::numeric_limits<float>::epsilon()));
    nf::nn::rms_norm<double, nf::shape<L<>>> d({8});
    CHECK(d.eps() == std::numeric_limits<double>::epsilon());
    nf::nn::rms_norm<float, nf::shape<L<>>> plain({8}, {.elementwise_affine = false});
    CHECK_THROWS_AS(plain.weight(), std::logic_error);
}

TEST_CASE("rms_norm without weight, on rows and across them, against float64", "[layers][rms_norm]") {
    // (N, L) over L: every slot is a contiguous row (the one-pass path); (L, N) over L: it is not.
    const std::size_t n = 5, l = 70;
    std::vector<float> x(n * l);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(static_cast<int>(i * 37 % 23) - 11) / 8.0f + (i % l == 0 ? 100.0f : 0.0f);
    const double eps = 1e-5;
    std::vector<double> want(n * l); // logical (N, L)
    for (std::size_t r = 0; r < n; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < l; ++j) s += static_cast<double>(x[r * l + j]) * x[r * l + j];
        const double inv = 1 / std::sqrt(s / static_cast<double>(l) + eps);
        for (std::size_t j = 0; j < l; ++j) want[r * l + j] = x[r * l + j] * inv;
    }
    // |y| < sqrt(l) = 8.4; the scale in double rounded to float, then one product: 2 units of max|y|
    const double tolerance = 2 * 0x1p-24 * 8.4;
    nf::nn::rms_norm<float, nf::shape<L<>>> layer({l}, {.eps = eps, .elementwise_affine = false});
    {
        const nf::view<const float, nf::shape<N<>, L<>>> xv(x.data(), {n, l});
        nf::tensor<float, nf::shape<N<>, L<>>> y({n, l});
        layer.forward(xv, y);
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(std::abs(y.data()[i] - want[i]) <= tolerance);
    }
    {
        std::vector<float> xt(n * l); // the same values stored (L, N)
        for (std::size_t r = 0; r < n; ++r)
            for (std::size_t j = 0; j < l; ++j) xt[j * n + r] = x[r * l + j];
        const nf::view<const float, nf::shape<L<>, N<>>> xv(xt.data(), {l, n});
        nf::tensor<float, nf::shape<L<>, N<>>> y({l, n});
        layer.forward(xv, y);
        for (std::size_t r = 0; r < n; ++r)
            for (std::size_t j = 0; j < l; ++j) CHECK(std::abs(y.data()[j * n + r] - want[r * l + j]) <= tolerance);
    }
}
