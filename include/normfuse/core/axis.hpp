// normfuse/core/axis.hpp: named axis tags (N, C, H, W, D, L, G, S), the Axis concept and NF_AXIS for user axes.
#pragma once

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include <normfuse/core/config.hpp>

namespace nf {

/// Common base of every axis tag: carries the extent (static value or `dynamic_extent`).
template <std::size_t Extent>
struct axis_tag {
    static constexpr std::size_t extent = Extent;
    static constexpr bool is_static = Extent != dynamic_extent;
};

/// An axis tag: a class template instance `Name<E>` derived from `axis_tag<E>`, with a printable
/// `name` and `rebind<E2>` giving the same axis with another extent.
template <class A>
concept Axis = requires {
    { A::extent } -> std::convertible_to<std::size_t>;
    { A::name } -> std::convertible_to<std::string_view>;
    typename A::template rebind<dynamic_extent>;
}
&&std::derived_from<A, axis_tag<A::extent>>;

/// The identity of an axis, independent of its extent: `axis_id<C<3>>` is `C<dynamic_extent>`.
template <Axis A>
using axis_id = typename A::template rebind<dynamic_extent>;

/// True when two axis tags name the same axis (whatever their extents).
template <class A, class B>
inline constexpr bool same_axis = std::is_same_v<axis_id<A>, axis_id<B>>;

} // namespace nf

/// Declares a new axis tag in the current namespace: `NF_AXIS(T);` then use `T<8>` or `T<>`.
#define NF_AXIS(Name)                                                                                                  \
    template <std::size_t Extent = ::nf::dynamic_extent>                                                               \
    struct Name : ::nf::axis_tag<Extent> {                                                                             \
        static constexpr std::string_view name = #Name;                                                                \
        template <std::size_t E2>                                                                                      \
        using rebind = Name<E2>;                                                                                       \
    }

namespace nf::axes {
/// Batch.
NF_AXIS(N);
/// Channels.
NF_AXIS(C);
/// Depth (3-d data).
NF_AXIS(D);
/// Height.
NF_AXIS(H);
/// Width.
NF_AXIS(W);
/// Length (1-d sequence data).
NF_AXIS(L);
/// Group (GroupNorm splits C into G groups of C/G channels).
NF_AXIS(G);
/// Channels within a group (GroupNorm).
NF_AXIS(K);
} // namespace nf::axes
