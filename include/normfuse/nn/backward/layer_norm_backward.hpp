// normfuse/nn/backward/layer_norm_backward.hpp: LayerNorm's and RMSNorm's backward (dx, dweight, dbias) over rows of trailing named axes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/nn/backward/row_gradient.hpp>
#include <normfuse/nn/backward/saved_statistics.hpp>
#include <normfuse/nn/common.hpp>

namespace nf::nn::detail {

/// Throws unless x has the normalized extents on the normalized axes.
template <class NS, class X>
void check_row_extents(std::string_view call, const X& x, const nf::extents<NS>& ns) {
    bool ok = true;
    [&]<class... As>(axis_list<As...>) {
        std::size_t i = 0;
        ((ok = ok && x.template extent<As>() == ns.values()[i++]), ...);
    }(typename NS::axes{});
    if (!ok) {
        constexpr auto names = nf::extents<NS>::names();
        nf::detail::raise_extent(std::string(call) + ": the normalized shape is " +
                                 nf::detail::describe_extents(names.data(), ns.values().data(), names.size()) +
                                 " but x is " + describe(x) + "; nothing was written");
    }
}

/// A parameter (weight) or parameter gradient (dweight, dbias; `gradient`: must be writable) that
/// is given has the normalized extents, axis by axis.
template <class NS, class T>
void check_row_parameter(std::string_view call, const char* name, const param_ref<T>& p, const nf::extents<NS>& ns,
                         bool gradient) {
    if (!p.present) return;
    bool ok = p.size == ns.size();
    for (std::size_t i = 0; ok && p.extents && i < NS::rank; ++i) ok = p.extents[i] == ns.values()[i];
    if (!ok) {
        constexpr auto names = nf::extents<NS>::names();
        nf::detail::raise_extent(std::string(call) + ": " + name + " has " + std::to_string(p.size) +
                                 " elements, not the extents of the normalized shape " +
                                 nf::detail::describe_extents(names.data(), ns.values().data(), names.size()) +
                                 "; nothing was written");
    }
    if (gradient && !p.writable)
        nf::detail::raise_invalid(std::string(call) + ": " + name +
                                  " is read-only (a view of const elements); pass a writable one, or std::nullopt");
}

/// The body of the LayerNorm (`Centered`) and RMSNorm backward on views whose normalized axes are
/// their trailing axes: checks everything, then the rows one after another (row_norm_backward).
template <class Arch, bool Centered, class NS, class X, class DY, class DX, class T>
void row_norm_backward_views(std::string_view call, const X& x, const DY& dy, const DX& dx, const nf::extents<NS>& ns,
                             param_ref<T> w, double eps, param_ref<T> dw, param_ref<T> db, backward_options options) {
    check_row_extents(call, x, ns);
    check_gradient_extents(call, "dy", x, dy);
    check_gradient_extents(call, "dx", x, dx);
    check_row_parameter(call, "weight", w, ns, false);
    check_row_parameter(call, "dweight", dw, ns, true);
    check_row_parameter(call, "dbias", db, ns, true);
    const std::size_t n = ns.size();
    const std::size_t rows = n ? x.size() / n : 0;
    const bool params = dw.present || db.present;
    gradient_scratch<T> buf(params ? 2 * n : 0, 0);
    double* dw_sum = params ? buf.doubles() : nullptr;
    double* db_sum = db.present ? buf.doubles() + n : nullptr;
    if (params) std::fill_n(buf.doubles(), 2 * n, 0.0);
    if (x.size() != 0)
        row_norm_backward<Arch, Centered>(x.data(), dy.data(), dx.data(), rows, n, w.present ? w.data : nullptr, eps,
                                          dw_sum, db_sum, options.input,
                                          x.size() * sizeof(T) >= nf::streaming_threshold() &&
                                              reinterpret_cast<std::uintptr_t>(dx.data()) % sizeof(T) == 0);
    if (dw.present) store_column_sums(dw.writable, dw_sum, n, options.parameters);
    if (db.present) store_column_sums(db.writable, db_sum, n, options.parameters);
}

/// The compile-time rules of a row backward: dy and dx laid out as x, the normalized axes trailing.
template <class NormAxes, class X, class DY, class DX>
constexpr bool row_backward_ok = gradient_axes_ok<X, DY, DX>&&
trailing_rows<NormAxes, typename X::axes, typename X::axes>();

} // namespace nf::nn::detail

/// The message of a row backward whose x has the normalized axes elsewhere than trailing.
#define NF_ROW_BACKWARD_RULE(call)                                                                                     \
    "normfuse: " call ": the normalized axes must be the trailing axes of x, in the order of the normalized shape "    \
    "(each normalized slot one contiguous row, as [tokens, hidden]), and dy and dx laid out as x; other layouts are "  \
    "not implemented for the backward; fix: relayout x and dy (nf::tensor<T, S> xr = x;)"

namespace nf::nn::functional {

/// The backward of `functional::layer_norm`: from x, dy and the forward's parameters, writes dx
/// and, if given, the gradients of weight and bias (laid out as the normalized shape, or
/// std::nullopt). The normalized axes must be x's trailing axes (rows); the statistics are
/// recomputed from each row while it is in L1 (the same passes over memory as with saved ones).
/// dx overwritten, dweight and dbias accumulated by default (`options`). dx may be dy.
template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX, class NS, class W = const std::nullopt_t&,
          class DW = const std::nullopt_t&, class DB = const std::nullopt_t&>
auto layer_norm_backward(const X& x, const DY& dy, DX&& dx, const nf::extents<NS>& normalized_shape,
                         W&& weight = std::nullopt, double eps = 1e-5, DW&& dweight = std::nullopt,
                         DB&& dbias = std::nullopt, backward_options options = {}) {
    using T = typename X::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::layer_norm_backward"));
    using PL = typename NS::axes;
    constexpr bool ok = nf::nn::detail::row_backward_ok<PL, X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>;
    static_assert(ok, NF_ROW_BACKWARD_RULE("nn::functional::layer_norm_backward"));
    if constexpr (nf::nn::detail::backward_element_ok<T> && ok)
        nf::nn::detail::row_norm_backward_views<Arch, true>(
            "nn::functional::layer_norm_backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
            nf::nn::detail::output_view(dx), normalized_shape, nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
            eps, nf::nn::detail::param_of<T, PL>(std::forward<DW>(dweight)),
            nf::nn::detail::param_of<T, PL>(std::forward<DB>(dbias)), options);
}

/// The backward of `functional::rms_norm` (y = x / sqrt(mean(x^2) + eps) * weight over the
/// normalized axes, trailing in x): dx and, if given, dweight. eps as the forward's (default: the
/// machine epsilon of T, as PyTorch's RMSNorm).
template <class Arch = xsimd::default_arch, Array X, Array DY, Array DX, class NS, class W = const std::nullopt_t&,
          class DW = const std::nullopt_t&>
auto rms_norm_backward(const X& x, const DY& dy, DX&& dx, const nf::extents<NS>& normalized_shape,
                       W&& weight = std::nullopt, std::optional<double> eps = std::nullopt, DW&& dweight = std::nullopt,
                       backward_options options = {}) {
    using T = typename X::value_type;
    static_assert(nf::nn::detail::backward_element_ok<T>,
                  NF_BACKWARD_ELEMENT_RULE("nn::functional::rms_norm_backward"));
    using PL = typename NS::axes;
    constexpr bool ok = nf::nn::detail::row_backward_ok<PL, X, std::remove_cvref_t<DY>, std::remove_cvref_t<DX>>;
    static_assert(ok, NF_ROW_BACKWARD_RULE("nn::functional::rms_norm_backward"));
    if constexpr (nf::nn::detail::backward_element_ok<T> && ok)
        nf::nn::detail::row_norm_backward_views<Arch, false>(
            "nn::functional::rms_norm_backward", nf::nn::detail::input_view(x), nf::nn::detail::input_view(dy),
            nf::nn::detail::output_view(dx), normalized_shape, nf::nn::detail::param_of<T, PL>(std::forward<W>(weight)),
            eps ? *eps : static_cast<double>(std::numeric_limits<T>::epsilon()),
            nf::nn::detail::param_of<T, PL>(std::forward<DW>(dweight)), nf::nn::detail::param_ref<T>{}, options);
}

} // namespace nf::nn::functional
