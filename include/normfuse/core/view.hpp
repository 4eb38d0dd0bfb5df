// normfuse/core/view.hpp: nf::view, a non-owning window over user memory with named axes (mutable or const, any alignment).
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor_fwd.hpp>
#include <normfuse/eval/assign.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf {

/// A view of contiguous row-major memory laid out as `Shape`; `T` may be const. The pointer need
/// not be aligned. Copying a view copies the pointer; assigning to a view writes elements:
/// `yv = (xv - mean) / std;` evaluates into the memory `yv` points to.
template <class T, class Shape>
class view {
    static_assert(Element<T>, "normfuse: nf::view<T, Shape>: T must be an element type (float, double, nf::bf16, "
                              "nf::fp16, std::uint8_t, std::int8_t, std::uint16_t) or a const one of them");

public:
    using element_type = T;
    using value_type = std::remove_const_t<T>;
    using shape_type = Shape;
    using axes = typename Shape::axes;
    using extents_type = nf::extents<Shape>;
    static constexpr std::size_t rank = Shape::rank;

    /// Over `data` with the given extents. A null pointer with elements is rejected.
    view(T* data, const extents_type& e) : data_(data), extents_(e) {
        // No object holds more bytes than max_array_elements allows: extents beyond it describe
        // memory that cannot exist, and byte counts over them would wrap.
        if (extents_.size() > detail::max_array_elements(sizeof(T)))
            detail::raise_too_many_bytes("nf::view", extents_.size(), sizeof(T));
        if (data_ == nullptr && extents_.size() != 0)
            detail::raise_extent("nf::view: null pointer with " + std::to_string(extents_.size()) +
                                 " elements; pass the address of the data or extents with a zero");
    }
    /// Over `data` with the dynamic extents in axis order: `view<float, nhwc>(p, {n, h, w})`.
    view(T* data, std::initializer_list<std::size_t> dynamic_extents) : view(data, extents_type(dynamic_extents)) {}
    /// Over `data` when every extent is static.
    explicit view(T* data) requires(Shape::dynamic_count == 0) : view(data, extents_type()) {}

    view(const view&) = default;
    /// A mutable view converts to a const one.
    template <class U>
        requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
    view(const view<U, Shape>& other) : data_(other.data()), extents_(other.extents()) {}

    /// Writes the values of `x` (an expression, tensor or view) into the viewed memory. Extents must
    /// match; on a mismatch `nf::extent_error` is thrown and nothing is written.
    template <class X, class Arch = xsimd::default_arch>
        requires(ArrayOperand<X> && !std::is_const_v<T>)
    const view& operator=(X&& x) const {
        assign<Arch>(std::forward<X>(x));
        return *this;
    }
    /// Element-wise copy from another view of the same type. Same axes in the same order: once the
    /// extents are checked this is a plain copy of the elements (memmove, so overlapping views are
    /// copied as if through a temporary), with no SIMD code of normfuse's own in this member, which
    /// cannot be a template on the architecture (docs/dispatch.md, "The ODR rule").
    const view& operator=(const view& other) const requires(!std::is_const_v<T>) {
        if (other.extents_.values() != extents_.values())
            detail::check_extents<axes>(as_expression(other), extents_.values(), "assignment"); // throws
        if (size() != 0 && other.data_ != data_) std::memmove(data_, other.data_, size() * sizeof(T));
        return *this;
    }
    /// Sets every element.
    const view& operator=(value_type v) const requires(!std::is_const_v<T>) {
        for (std::size_t i = 0; i < size(); ++i) data_[i] = v;
        return *this;
    }

    template <class Arch = xsimd::default_arch, class X>
    void assign(X&& x) const {
        static_assert(!std::is_const_v<T>, "normfuse: assignment to a view of const elements");
        assign_expression<Arch>(data_, extents_.values(), as_expression(std::forward<X>(x)), axes{});
    }

    T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return extents_.size(); }
    const extents_type& extents() const noexcept { return extents_; }
    template <Axis A>
    std::size_t extent() const {
        return extents_.template of<A>();
    }
    std::size_t extent(std::size_t i) const { return extents_[i]; }

    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    T& operator()(I... i) const {
        const std::array<std::size_t, rank> idx{static_cast<std::size_t>(i)...};
        std::size_t o = 0;
        for (std::size_t d = 0; d < rank; ++d) o = o * extents_[d] + idx[d];
        return data_[o];
    }

private:
    T* data_;
    extents_type extents_;
};

} // namespace nf
