// normfuse/core/shape.hpp: shape<Axes...> (ordered named axes = row-major memory layout) and its run-time extents.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/errors.hpp>

namespace nf {

namespace detail {
struct shape_call {
    static constexpr std::string_view name = "nf::shape";
};
template <class List>
constexpr message duplicate_message() {
    using A = axis_at_t<duplicate_position<List>, List>;
    return missing_axis_message<shape_call, A>(" appears twice", "; every axis of a shape must be distinct");
}
/// Instantiates the diagnostic for a repeated axis; returns whether the list is a valid shape.
template <class List>
constexpr bool report_duplicate_axis() {
    if constexpr (has_duplicate_axis<List>) {
        using A = axis_at_t<duplicate_position<List>, List>;
        (void)sizeof(error::duplicate_axis<duplicate_message<List>(), shape_call, A, List>);
    }
    return true;
}
} // namespace detail

/// The shape of a tensor: its named axes in memory order, the last one contiguous. Each axis
/// carries a static extent (`C<3>`) or a dynamic one (`H<>`).
template <Axis... As>
struct shape {
    using axes = axis_list<As...>;
    static constexpr std::size_t rank = sizeof...(As);
    static constexpr std::array<std::size_t, rank> static_extents{As::extent...};
    static constexpr std::size_t dynamic_count = ((As::is_static ? 0u : 1u) + ... + 0u);
    static constexpr bool valid = !has_duplicate_axis<axes>;

private:
    static_assert(detail::report_duplicate_axis<axes>());
};

namespace detail {
template <class List>
struct shape_of_list;
template <class... As>
struct shape_of_list<axis_list<As...>> {
    using type = shape<As...>;
};
} // namespace detail

/// The shape whose axes are the list `L`.
template <class L>
using shape_from = typename detail::shape_of_list<L>::type;

/// The run-time extents of every axis of a shape, static ones included.
template <class Shape>
class extents {
public:
    static constexpr std::size_t rank = Shape::rank;

private:
    static constexpr bool static_product_fits() {
        bool overflow = false;
        std::array<std::size_t, rank> v{};
        for (std::size_t i = 0; i < rank; ++i)
            v[i] = Shape::static_extents[i] == dynamic_extent ? 0 : Shape::static_extents[i];
        (void)detail::nonzero_product(v, overflow);
        return !overflow;
    }
    static_assert(static_product_fits(), "normfuse: nf::extents: the product of the shape's static extents overflows "
                                         "std::size_t; no array of this shape can exist");

public:
    /// Static axes take their declared extent; dynamic ones start at 0.
    constexpr extents() {
        for (std::size_t i = 0; i < rank; ++i)
            values_[i] = Shape::static_extents[i] == dynamic_extent ? 0 : Shape::static_extents[i];
    }

    /// From the dynamic extents alone, in axis order: `extents<shape<N<>, C<3>, H<>>>({2, 5})`.
    extents(std::initializer_list<std::size_t> dynamic_values) : extents() {
        if (dynamic_values.size() == Shape::dynamic_count) {
            auto it = dynamic_values.begin();
            for (std::size_t i = 0; i < rank; ++i)
                if (Shape::static_extents[i] == dynamic_extent) values_[i] = *it++;
        } else if (dynamic_values.size() == rank && rank != Shape::dynamic_count) {
            // Every extent given: the static ones must match their declaration.
            auto it = dynamic_values.begin();
            for (std::size_t i = 0; i < rank; ++i, ++it) {
                if (Shape::static_extents[i] != dynamic_extent && *it != Shape::static_extents[i])
                    detail::raise_static_extent(names()[i], Shape::static_extents[i], *it);
                values_[i] = *it;
            }
        } else {
            detail::raise_extent_count(Shape::dynamic_count, rank, dynamic_values.size());
        }
        check_product();
    }

    /// From every extent, in axis order (static ones must match their declaration).
    static extents from_all(const std::array<std::size_t, rank>& all) {
        extents e;
        for (std::size_t i = 0; i < rank; ++i) {
            if (Shape::static_extents[i] != dynamic_extent && all[i] != Shape::static_extents[i])
                detail::raise_static_extent(names()[i], Shape::static_extents[i], all[i]);
            e.values_[i] = all[i];
        }
        e.check_product();
        return e;
    }

    constexpr std::size_t operator[](std::size_t i) const { return values_[i]; }
    constexpr const std::array<std::size_t, rank>& values() const { return values_; }

    /// Extent of the axis `A` (any extent of the tag: `e.of<C<>>()`).
    template <Axis A>
    constexpr std::size_t of() const {
        static_assert(contains<A, typename Shape::axes>, "normfuse: extents::of<A>: the shape has no axis A");
        return values_[index_of<A, typename Shape::axes>];
    }

    /// Number of elements.
    constexpr std::size_t size() const {
        std::size_t n = 1;
        for (auto v : values_) n *= v;
        return n;
    }

    /// Name of the i-th axis, for messages.
    static std::string axis_name(std::size_t i) { return std::string(names()[i]); }
    /// Names of the axes in order, for messages.
    static constexpr std::array<std::string_view, rank> names() { return names_of(typename Shape::axes{}); }

    friend constexpr bool operator==(const extents&, const extents&) = default;

private:
    /// Rejects extents whose element count overflows std::size_t (e.g. 2^32 x 2^32, which would
    /// wrap to 0), before anything is allocated: std::length_error. Zero extents are left out of
    /// the product, so that every partial product the library forms (strides, slot counts, run
    /// lengths) fits as well.
    void check_product() const {
        bool overflow = false;
        (void)detail::nonzero_product(values_, overflow);
        if (overflow) {
            const auto n = names();
            detail::raise_length("extents " + detail::describe_extents(n.data(), values_.data(), rank) +
                                 ": the number of elements overflows std::size_t; nothing was allocated");
        }
    }

    template <class... As>
    static constexpr std::array<std::string_view, rank> names_of(axis_list<As...>) {
        return {As::name...};
    }
    std::array<std::size_t, rank> values_{};
};

} // namespace nf
