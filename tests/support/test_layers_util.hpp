// tests/support/test_layers_util.hpp: what the layer and reduction tests share: the list of
// reference cases, logical <-> layout conversion by axis NAME, unaligned views, and tolerances
// derived from rounding units.
//
// Every value a test compares is read back in PyTorch's logical order by this header's own index
// math (axis names and row-major offsets), never through the library's transposing assignment, so
// a layout bug in the library cannot cancel out in the comparison.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/nn/common.hpp>

#include "support/reference_file.hpp"

namespace nf_layers {

using nf_test::ref_tensor;
using nf_test::reference_file;

// --- Reference cases ------------------------------------------------------------------------

/// Names (without ".ref") of the reference cases whose file name starts with `prefix`, sorted.
inline std::vector<std::string> case_names(std::string_view prefix) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(nf_test::reference_dir())) {
        const std::string file = entry.path().filename().string();
        if (entry.path().extension() == ".ref" && file.rfind(prefix, 0) == 0)
            names.push_back(file.substr(0, file.size() - 4));
    }
    std::sort(names.begin(), names.end());
    return names;
}

inline bool flag(const reference_file& r, const std::string& key) {
    return r.param(key) == "true";
}
inline std::size_t count_param(const reference_file& r, const std::string& key) {
    return static_cast<std::size_t>(r.param_double(key));
}

// --- Axis names and layouts -----------------------------------------------------------------

template <class... As>
std::vector<std::string_view> names_of(nf::axis_list<As...>) {
    return {std::string_view(As::name)...};
}

/// Names of the axes of an array type, in memory order.
template <class X>
std::vector<std::string_view> axis_names() {
    return names_of(typename X::axes{});
}

inline std::size_t position(const std::vector<std::string_view>& names, std::string_view n) {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == n) return i;
    FAIL("axis " << n << " not found");
    return 0;
}

/// The values of `x` (a tensor or view of any axis order) in the row-major order of the axes
/// `logical` (names), as double. Offsets are computed here from the extents, by name.
template <class X>
std::vector<double> to_logical(const X& x, const std::vector<std::string_view>& logical) {
    const auto mine = axis_names<X>();
    REQUIRE(mine.size() == logical.size());
    const std::size_t r = mine.size();
    std::vector<std::size_t> stride(r), lext(r), lstride(r);
    {
        std::size_t s = 1;
        for (std::size_t i = r; i-- > 0;) {
            stride[i] = s;
            s *= x.extent(i);
        }
    }
    for (std::size_t j = 0; j < r; ++j) {
        const std::size_t p = position(mine, logical[j]);
        lext[j] = x.extent(p);
        lstride[j] = stride[p];
    }
    std::vector<double> out(x.size());
    std::vector<std::size_t> idx(r, 0);
    for (std::size_t q = 0; q < out.size(); ++q) {
        std::size_t off = 0;
        for (std::size_t j = 0; j < r; ++j) off += idx[j] * lstride[j];
        out[q] = static_cast<double>(x.data()[off]);
        for (std::size_t j = r; j-- > 0;) {
            if (++idx[j] < lext[j]) break;
            idx[j] = 0;
        }
    }
    return out;
}

/// A tensor laid out as `Shape` (every axis dynamic, axes in PyTorch's order) holding `ref`.
template <class T, class Shape>
nf::tensor<T, Shape> make_logical(const ref_tensor& ref) {
    REQUIRE(ref.rank() == Shape::rank);
    std::array<std::size_t, Shape::rank> e{};
    for (std::size_t i = 0; i < Shape::rank; ++i) e[i] = ref.shape[i];
    nf::tensor<T, Shape> t(nf::extents<Shape>::from_all(e));
    for (std::size_t i = 0; i < ref.numel(); ++i) t.data()[i] = static_cast<T>(ref.values[i]);
    return t;
}

/// Fills a parameter (weight, bias, running stats: laid out as PyTorch lays them out) from `ref`.
template <class P>
void fill(P& p, const ref_tensor& ref) {
    REQUIRE(p.size() == ref.numel());
    using T = std::remove_cvref_t<decltype(*p.data())>;
    for (std::size_t i = 0; i < ref.numel(); ++i) p.data()[i] = static_cast<T>(ref.values[i]);
}

template <class... As>
auto extents_in(const auto& x, nf::axis_list<As...>) {
    return std::array<std::size_t, sizeof...(As)>{x.template extent<As>()...};
}

/// The same logical values as `x`, laid out as `Shape` (another order of the same axes). Built as
/// the brief of these tests prescribes, by assignment (`xl = x;`), then checked by name.
template <class Shape, class X>
nf::tensor<typename X::value_type, Shape> relayout(const X& x) {
    using T = typename X::value_type;
    nf::tensor<T, Shape> y(nf::extents<Shape>::from_all(extents_in(x, typename Shape::axes{})));
    y = x;
    REQUIRE(to_logical(y, axis_names<X>()) == to_logical(x, axis_names<X>()));
    return y;
}

/// Heap memory whose first element is deliberately NOT aligned to 16 bytes (hence not to any
/// SIMD width): `offset` elements past a 64-byte boundary, offset odd.
template <class T>
class unaligned_buffer {
public:
    unaligned_buffer(std::size_t n, std::size_t offset) : storage_(n + offset + 64 / sizeof(T)) {
        const auto base = reinterpret_cast<std::uintptr_t>(storage_.data());
        const std::size_t skip = ((64 - base % 64) % 64) / sizeof(T);
        data_ = storage_.data() + skip + offset;
        REQUIRE(reinterpret_cast<std::uintptr_t>(data_) % 16 != 0);
    }
    T* data() noexcept { return data_; }

private:
    std::vector<T> storage_;
    T* data_ = nullptr;
};

// --- Tolerances -----------------------------------------------------------------------------

/// The unit roundoff of T: 2^-24 for float, 2^-53 for double.
template <class T>
inline constexpr double unit = std::numeric_limits<T>::epsilon() / 2;

/// max |v| over the values (at least 1): the scale that rounding errors of a normalized output are
/// proportional to (the normalized values and the terms that add up to them are O(max|ref|)).
inline double scale_of(const std::vector<double>& v) {
    double m = 1.0;
    for (double a : v) m = std::max(m, std::abs(a));
    return m;
}

/// Output tolerance of a layer of element type T against PyTorch, `k * u * max(|ref|, 1)`.
///
/// float32, k = 16: PyTorch's own float32 error against float64 is at most 2.8e-7 * max|ref|
/// (spec section 7), i.e. 4.7 units of 2^-24. Ours: the statistics are exact to double rounding,
/// the coefficients (shift, scale, offset) are each rounded once to float (3 x 0.5 unit, relative
/// to terms of up to 2 * max|ref|: 3 units), the evaluation `(x - k) * scale + offset` rounds
/// three times (x - k, product, sum: <= 0.5 unit of 2 * max|ref| each: 3 units), LayerNorm's
/// element-wise affine adds two more (2 units). 4.7 + 8 = 12.7 <= 16.
///
/// float64, k = 64: PyTorch float64 is within 5.2e-16 * max|ref| (4.7 units of 2^-53) of an
/// 80-bit computation. Ours has the same 8 units from the coefficients and the evaluation, plus
/// the statistics: with M <= 480 values per slot the summation error of the mean and variance is
/// below sqrt(M) ~ 22 units in practice (random rounding), amplified at most 2x by 1/sqrt(var)
/// for O(1) data: 4.7 + 8 + 44 < 64. That is 7e-15 relative: far tighter than float's 9.5e-7.
template <class T>
inline double output_tolerance(double scale) {
    return (std::is_same_v<T, float> ? 16.0 : 64.0) * unit<T> * scale;
}

/// Distance to the next representable T above |v|.
template <class T>
inline double ulp(double v) {
    const T a = static_cast<T>(std::abs(v));
    return static_cast<double>(std::nextafter(a, std::numeric_limits<T>::infinity()) - a);
}

/// Running statistics, float: 2 ulps of the value. We evaluate `(1 - f) * old + f * batch_stat` in
/// double with the batch statistic exact to double rounding, and round once to T, as spec 2.4
/// says PyTorch does. The reference data do not quite bear that out: recomputing that formula
/// from the files' inputs differs from PyTorch's stored float32 values by up to 2 ulps (e.g.
/// batchnorm1d_NC_large_train_f32, running_var[0], on the very first step), while evaluating the
/// update in float32 arithmetic comes within 1 ulp. So one correctly rounded double update and
/// PyTorch's are 2 ulps apart at most (measured over every batchnorm*_f32 file, each step restarted
/// from PyTorch's state; carrying our own state through the 3-step sequences measured 2 ulps too).
/// Double: the batch statistics' summation error dominates: 64 units of 2^-53 of the data scale
/// (see output_tolerance).
template <class T>
inline double running_tolerance(double ref, double data_scale) {
    return 2 * ulp<T>(ref) + 64 * unit<double> * std::max(data_scale, std::abs(ref));
}

// --- Comparison and the error report ----------------------------------------------------------

/// Largest |a[i] - b[i]|, its index, and whether every element is within `tol` (NaN never is).
struct diff {
    double max_error = 0;
    std::size_t worst = 0;
    bool ok = true;
};
inline diff compare(const std::vector<double>& got, const std::vector<double>& want, double tol) {
    REQUIRE(got.size() == want.size());
    diff d;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double e = std::abs(got[i] - want[i]);
        if (!(e <= tol)) d.ok = false;
        if (!(e <= d.max_error)) {
            d.max_error = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
            d.worst = i;
        }
    }
    return d;
}

/// Measured errors by key (e.g. "BatchNorm float32 vs torch"), printed at exit when the
/// environment variable NF_LAYERS_REPORT is set: the figures quoted in reports come from runs.
class error_report {
public:
    static error_report& get() {
        static error_report r;
        return r;
    }
    void record(const std::string& key, double abs_error, double rel_error) {
        std::lock_guard<std::mutex> lock(m_);
        auto& e = table_[key];
        e[0] = std::max(e[0], abs_error);
        e[1] = std::max(e[1], rel_error);
    }
    ~error_report() {
        if (!std::getenv("NF_LAYERS_REPORT")) return;
        for (const auto& [key, e] : table_)
            std::fprintf(stderr, "[nf-layers] %-48s max abs %.3g  max rel-to-scale %.3g\n", key.c_str(), e[0], e[1]);
    }

private:
    std::mutex m_;
    std::map<std::string, std::array<double, 2>> table_;
};

/// Checks `got` (logical order) against `want` within `tol`, naming the worst element on failure,
/// and records the error under `key` (relative to max(|want|, 1)).
inline void check_values(const std::vector<double>& got, const std::vector<double>& want, double tol,
                         const std::string& what, const std::string& key) {
    const diff d = compare(got, want, tol);
    error_report::get().record(key, d.max_error, d.max_error / scale_of(want));
    INFO(what << ": max error " << d.max_error << " at logical index " << d.worst << " (got "
              << (got.empty() ? 0.0 : got[d.worst]) << ", want " << (want.empty() ? 0.0 : want[d.worst])
              << "), tolerance " << tol);
    CHECK(d.ok);
}

// --- Running one forward in every layout and storage ------------------------------------------

/// How a forward is fed: owning tensors in PyTorch's axis order or in the channels-last order,
/// views over unaligned user memory in either order, or in place on a channels-last tensor.
enum class variant { tensor_logical, tensor_last, view_logical, view_last, in_place_last };
inline constexpr std::array<variant, 5> all_variants{variant::tensor_logical, variant::tensor_last,
                                                     variant::view_logical, variant::view_last, variant::in_place_last};
inline const char* name_of(variant v) {
    switch (v) {
    case variant::tensor_logical:
        return "tensor, PyTorch axis order";
    case variant::tensor_last:
        return "tensor, channels-last order";
    case variant::view_logical:
        return "unaligned view, PyTorch axis order";
    case variant::view_last:
        return "unaligned view, channels-last order";
    case variant::in_place_last:
        return "in place, channels-last tensor";
    }
    return "?";
}

/// Runs `layer.forward` on `x` (logical order `LS`) as variant `v`, with `Last` the channels-last
/// order of the same axes; returns the output in logical order. The output starts NaN-filled, so
/// an element the layer does not write fails the comparison; the input must come out unchanged.
template <class Last, class Layer, class T, class LS>
std::vector<double> forward_as(variant v, Layer& layer, const nf::tensor<T, LS>& x) {
    const auto logical = axis_names<nf::tensor<T, LS>>();
    const auto before = to_logical(x, logical);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<double> result;
    switch (v) {
    case variant::tensor_logical: {
        nf::tensor<T, LS> y(x.extents(), nan);
        layer.forward(x, y);
        result = to_logical(y, logical);
        break;
    }
    case variant::tensor_last: {
        const auto xl = relayout<Last>(x);
        nf::tensor<T, Last> y(xl.extents(), nan);
        layer.forward(xl, y);
        CHECK(to_logical(xl, logical) == before);
        result = to_logical(y, logical);
        break;
    }
    case variant::view_logical:
    case variant::view_last: {
        auto run = [&]<class S>(const nf::tensor<T, S>& src) {
            unaligned_buffer<T> in(src.size(), 1), out(src.size(), 3);
            std::copy(src.data(), src.data() + src.size(), in.data());
            std::fill(out.data(), out.data() + src.size(), nan);
            const nf::view<const T, S> xv(in.data(), src.extents());
            const nf::view<T, S> yv(out.data(), src.extents());
            layer.forward(xv, yv);
            CHECK(to_logical(xv, logical) == before);
            return to_logical(yv, logical);
        };
        result = v == variant::view_logical ? run(x) : run(relayout<Last>(x));
        break;
    }
    case variant::in_place_last: {
        auto xl = relayout<Last>(x);
        auto& r = layer(xl, nf::nn::in_place);
        CHECK(&r == &xl);
        result = to_logical(xl, logical);
        break;
    }
    }
    return result;
}

} // namespace nf_layers
