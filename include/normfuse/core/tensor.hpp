// normfuse/core/tensor.hpp: nf::tensor, an owning, 64-byte-aligned array whose named axes are part of its type.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/aligned_buffer.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor_fwd.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/assign.hpp>
#include <normfuse/expr/expression.hpp>

namespace nf {

namespace detail {
struct construction_call {
    static constexpr std::string_view name = "tensor construction";
};
template <class Shape, class E, class... As>
std::array<std::size_t, Shape::rank> extents_from(const E& e, axis_list<As...>) {
    return {e.template extent<As>()...};
}
} // namespace detail

/// An owning tensor of elements `T` (core/element.hpp) laid out as `Shape` (row-major in axis order).
///
/// `nf::tensor<float, nf::shape<N<>, C<3>, H<>, W<>>> x({n, h, w});` takes the dynamic extents in
/// axis order and starts zero-filled; a rank-1 tensor can be given its values directly:
/// `nf::tensor<float, nf::shape<C<3>>> mean{0.45f, 0.52f, 0.48f};`. Assigning an expression runs one
/// fused loop: `y = (x - mean) / std;`.
template <class T, class Shape>
class tensor {
    static_assert(Element<T> && !std::is_const_v<T>,
                  "normfuse: nf::tensor<T, Shape>: T must be an element type (float, double, nf::bf16, nf::fp16, "
                  "std::uint8_t, std::int8_t, std::uint16_t), not const (use a view of const T for read-only "
                  "memory)");

public:
    using value_type = T;
    using shape_type = Shape;
    using axes = typename Shape::axes;
    using extents_type = nf::extents<Shape>;
    static constexpr std::size_t rank = Shape::rank;

    /// Static extents as declared, dynamic ones 0.
    tensor() : extents_(), buffer_(extents_.size()) {}
    /// With the given extents, zero-filled.
    explicit tensor(const extents_type& e) : extents_(e), buffer_(e.size()) {}
    /// With the given extents, every element `fill`.
    tensor(const extents_type& e, T fill) : tensor(e) { std::fill_n(data(), size(), fill); }
    /// With the dynamic extents in axis order: `tensor<float, shape<N<>, C<3>, L<>>> x({2, 10});`.
    tensor(std::initializer_list<std::size_t> dynamic_extents) requires(rank != 1)
        : tensor(extents_type(dynamic_extents)) {}
    /// A rank-1 tensor from its values (a static extent must match the count).
    tensor(std::initializer_list<T> values) requires(rank == 1) : tensor(values_extents(values.size())) {
        std::copy(values.begin(), values.end(), data());
    }
    // Every member that evaluates SIMD code takes the xsimd architecture as a template parameter,
    // so that its mangled name says which instruction set it holds (docs/dispatch.md, "The ODR
    // rule"); the default is the one the translation unit is compiled for.

    /// Evaluates an expression that has every axis of the tensor (extents are taken from it).
    template <Expression E, class Arch = xsimd::default_arch>
    tensor(const E& e) : tensor(deduce_extents(e)) {
        assign<Arch>(e);
    }

    /// A copy of a tensor or view of another layout (or a const view): values move by axis name.
    template <class X, class Arch = xsimd::default_arch>
        requires((is_tensor_v<std::remove_cvref_t<X>> ||
                  is_view_v<std::remove_cvref_t<X>>)&&!std::is_same_v<std::remove_cvref_t<X>, tensor>)
    explicit tensor(const X& x) : tensor(deduce_extents(as_expression(x))) { assign<Arch>(x); }

    tensor(const tensor&) = default;
    tensor& operator=(const tensor&) = default;
    /// A moved-from tensor is left empty-but-valid: its extents always describe its storage
    /// (a shape with only static extents gets fresh zeroed storage, so that move may allocate).
    tensor(tensor&& other) noexcept(Shape::dynamic_count > 0) : tensor() { swap(other); }
    tensor& operator=(tensor&& other) noexcept {
        swap(other);
        return *this;
    }
    void swap(tensor& other) noexcept {
        std::swap(extents_, other.extents_);
        buffer_.swap(other.buffer_);
    }

    /// Evaluates `x` (expression, view or tensor of another layout) into this tensor. The extents
    /// must match; on a mismatch `nf::extent_error` is thrown and nothing is written.
    template <class X, class Arch = xsimd::default_arch>
        requires(ArrayOperand<X> && !std::is_same_v<std::remove_cvref_t<X>, tensor>)
    tensor& operator=(X&& x) {
        assign<Arch>(std::forward<X>(x));
        return *this;
    }
    /// Sets every element.
    tensor& operator=(T value) {
        std::fill_n(data(), size(), value);
        return *this;
    }

    /// The assignment with an explicit xsimd architecture.
    template <class Arch = xsimd::default_arch, class X>
    void assign(X&& x) {
        assign_expression<Arch>(data(), extents_.values(), as_expression(std::forward<X>(x)), axes{});
    }

    T* data() noexcept { return buffer_.data(); }
    const T* data() const noexcept { return buffer_.data(); }
    std::size_t size() const noexcept { return buffer_.size(); }
    const extents_type& extents() const noexcept { return extents_; }
    /// Extent of an axis: `x.extent<C<>>()`.
    template <Axis A>
    std::size_t extent() const {
        return extents_.template of<A>();
    }
    std::size_t extent(std::size_t i) const { return extents_[i]; }

    /// Element at the given index, one per axis in axis order (unchecked).
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    T& operator()(I... i) { return data()[offset(i...)]; }
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    const T& operator()(I... i) const { return data()[offset(i...)]; }
    T* begin() noexcept { return data(); }
    T* end() noexcept { return data() + size(); }
    const T* begin() const noexcept { return data(); }
    const T* end() const noexcept { return data() + size(); }

    /// A mutable view of the whole tensor.
    view<T, Shape> as_view() { return view<T, Shape>(data(), extents_); }
    /// A read-only view of the whole tensor.
    view<const T, Shape> as_view() const { return view<const T, Shape>(data(), extents_); }
    operator view<T, Shape>() { return as_view(); }
    operator view<const T, Shape>() const { return as_view(); }

private:
    template <class... I>
    std::size_t offset(I... i) const {
        const std::array<std::size_t, rank> idx{static_cast<std::size_t>(i)...};
        std::size_t o = 0;
        for (std::size_t d = 0; d < rank; ++d) o = o * extents_[d] + idx[d];
        return o;
    }
    static extents_type values_extents(std::size_t count) {
        return extents_type::from_all(std::array<std::size_t, 1>{count});
    }
    template <class E>
    static extents_type deduce_extents(const E& e) {
        static_assert(is_subset<axes, typename E::axes> || std::is_same_v<E, invalid_expression>,
                      "normfuse: tensor construction from an expression: the expression lacks an axis "
                      "of the tensor, so its extent is unknown. Fix: construct the tensor with its "
                      "extents, then assign the expression (it broadcasts along the missing axis).");
        if constexpr (is_subset<axes, typename E::axes>)
            return extents_type::from_all(detail::extents_from<Shape>(e, axes{}));
        else
            return extents_type{};
    }

    extents_type extents_;
    detail::aligned_buffer<T> buffer_;
};

} // namespace nf
