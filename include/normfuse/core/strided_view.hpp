// normfuse/core/strided_view.hpp: nf::strided_view, a read-only window over memory with named axes and per-axis strides (any sign).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

#include <normfuse/core/element.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor_fwd.hpp>

namespace nf {

/// A read-only view of memory laid out as `Shape` with a stride per axis, in elements, of any
/// sign: a reversed channel axis (`-1`, from the last channel's address: BGR read as RGB), rows
/// padded to a pitch (an OpenCV ROI), every other element. It is an operand of element-wise
/// expressions: `y = (nf::cast<float>(bgr_as_rgb) / 255.f - mean) / std;`. The loop stays SIMD
/// along the destination's innermost axis where the view's stride on it is 1; at a stride of 2,
/// 3 or 4 elements (a channel of interleaved pixels: BGR into planes) it loads whole batches and
/// permutes them (eval/bound.hpp: window_masks), at any other stride it reads element by element.
/// Reductions and layers take contiguous tensors and views only.
template <class T, class Shape>
class strided_view {
    static_assert(std::is_const_v<T>, "normfuse: nf::strided_view<T, Shape>: strided views are read-only in this "
                                      "version: T must be const (write into a contiguous nf::view or nf::tensor)");
    static_assert(Element<std::remove_const_t<T>>,
                  "normfuse: nf::strided_view<T, Shape>: T must be a const element type (float, double, nf::bf16, "
                  "nf::fp16, std::uint8_t, std::int8_t, std::uint16_t)");

public:
    using element_type = T;
    using value_type = std::remove_const_t<T>;
    using shape_type = Shape;
    using axes = typename Shape::axes;
    using extents_type = nf::extents<Shape>;
    using strides_type = std::array<std::ptrdiff_t, Shape::rank>;
    static constexpr std::size_t rank = Shape::rank;

    /// Over `data` (the element at index 0 of every axis) with the given extents and strides, in
    /// elements. A null pointer with elements is rejected.
    strided_view(T* data, const extents_type& e, const strides_type& strides)
        : data_(data), extents_(e), strides_(strides) {
        if (data_ == nullptr && extents_.size() != 0)
            detail::raise_extent("nf::strided_view: null pointer with " + std::to_string(extents_.size()) +
                                 " elements; pass the address of the element at index 0");
    }

    T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return extents_.size(); }
    const extents_type& extents() const noexcept { return extents_; }
    const strides_type& strides() const noexcept { return strides_; }
    std::size_t extent(std::size_t i) const { return extents_[i]; }

    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    T& operator()(I... i) const {
        const std::array<std::ptrdiff_t, rank> idx{static_cast<std::ptrdiff_t>(i)...};
        std::ptrdiff_t o = 0;
        for (std::size_t d = 0; d < rank; ++d) o += idx[d] * strides_[d];
        return data_[o];
    }

private:
    T* data_;
    extents_type extents_;
    strides_type strides_;
};

} // namespace nf
