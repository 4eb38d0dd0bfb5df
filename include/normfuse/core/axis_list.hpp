// normfuse/core/axis_list.hpp: type-level algebra on ordered lists of axes (lookup, union, removal, checks).
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include <boost/hana/basic_tuple.hpp>
#include <boost/hana/type.hpp>

#include <normfuse/core/axis.hpp>

namespace nf {

/// An ordered list of axis tags. The order is the memory order of a shape (last is fastest).
template <Axis... As>
struct axis_list {
    static constexpr std::size_t size = sizeof...(As);
    /// The list as a Boost.Hana sequence of types, for algorithms that read better there.
    static constexpr auto types = boost::hana::make_basic_tuple(boost::hana::type_c<As>...);
};

namespace detail {
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

template <class List>
struct list_traits;
template <class... As>
struct list_traits<axis_list<As...>> {
    static constexpr std::array<std::size_t, sizeof...(As) + 1> extents{As::extent..., 0};
};
} // namespace detail

/// Position of the axis with the same identity as `A` in `List`, or `detail::npos`.
template <class A, class List>
inline constexpr std::size_t index_of = detail::npos;
template <class A, class... As>
inline constexpr std::size_t index_of<A, axis_list<As...>> = [] {
    constexpr bool match[] = {same_axis<A, As>..., false};
    for (std::size_t i = 0; i < sizeof...(As); ++i)
        if (match[i]) return i;
    return detail::npos;
}();

/// True when `List` has an axis with the identity of `A`.
template <class A, class List>
inline constexpr bool contains = index_of<A, List> != detail::npos;

/// The `I`-th axis of a list.
template <std::size_t I, class List>
struct axis_at;
template <std::size_t I, class A0, class... As>
struct axis_at<I, axis_list<A0, As...>> : axis_at<I - 1, axis_list<As...>> {};
template <class A0, class... As>
struct axis_at<0, axis_list<A0, As...>> {
    using type = A0;
};
template <std::size_t I, class List>
using axis_at_t = typename axis_at<I, List>::type;

namespace detail {
template <class... As>
constexpr std::size_t first_duplicate() {
    constexpr std::size_t first_index[] = {index_of<As, axis_list<As...>>..., 0};
    for (std::size_t i = 0; i < sizeof...(As); ++i)
        if (first_index[i] != i) return i;
    return npos;
}
template <class List>
struct duplicate_of;
template <class... As>
struct duplicate_of<axis_list<As...>> {
    static constexpr std::size_t position = first_duplicate<As...>();
};
} // namespace detail

/// Position of the second occurrence of a repeated axis in `List`, or `detail::npos`.
template <class List>
inline constexpr std::size_t duplicate_position = detail::duplicate_of<List>::position;

/// True when some axis appears twice in `List`.
template <class List>
inline constexpr bool has_duplicate_axis = duplicate_position<List> != detail::npos;

/// The axis of `Haystack` with the identity of `A` (keeps Haystack's extent).
template <class A, class Haystack>
using find_axis_t = axis_at_t<index_of<A, Haystack>, Haystack>;

/// Keeps the more informative extent of two tags of one axis: a static extent wins over dynamic.
template <class A, class B>
using refine_axis = std::conditional_t<A::is_static, A, B>;

namespace detail {
template <class Out, class In>
struct union_impl {
    using type = Out;
};
template <class... Os, class I0, class... Is>
struct union_impl<axis_list<Os...>, axis_list<I0, Is...>> {
    using next = std::conditional_t<contains<I0, axis_list<Os...>>,
                                    axis_list<std::conditional_t<same_axis<Os, I0>, refine_axis<Os, I0>, Os>...>,
                                    axis_list<Os..., I0>>;
    using type = typename union_impl<next, axis_list<Is...>>::type;
};

template <class Out, class In, class Remove>
struct remove_impl {
    using type = Out;
};
template <class... Os, class I0, class... Is, class Remove>
struct remove_impl<axis_list<Os...>, axis_list<I0, Is...>, Remove> {
    using next = std::conditional_t<contains<I0, Remove>, axis_list<Os...>, axis_list<Os..., I0>>;
    using type = typename remove_impl<next, axis_list<Is...>, Remove>::type;
};

template <class Out, class Order, class Keep>
struct restrict_impl {
    using type = Out;
};
// Axes of `Order` that `Keep` also has, in Order's order, with the better-known extent of the two.
template <bool Keeps, class Out, class I0, class Keep>
struct restrict_step {
    using type = Out;
};
template <class... Os, class I0, class Keep>
struct restrict_step<true, axis_list<Os...>, I0, Keep> {
    using type = axis_list<Os..., refine_axis<I0, find_axis_t<I0, Keep>>>;
};
template <class... Os, class I0, class... Is, class Keep>
struct restrict_impl<axis_list<Os...>, axis_list<I0, Is...>, Keep> {
    using next = typename restrict_step<contains<I0, Keep>, axis_list<Os...>, I0, Keep>::type;
    using type = typename restrict_impl<next, axis_list<Is...>, Keep>::type;
};
} // namespace detail

/// Axes of `L` followed by the axes of `R` that L lacks; shared axes keep the static extent.
template <class L, class R>
using axis_union = typename detail::union_impl<L, R>::type;

/// Axes of `L` that are not in `Remove`, in L's order.
template <class L, class Remove>
using axis_remove = typename detail::remove_impl<axis_list<>, L, Remove>::type;

/// Axes of `Order` that `Keep` has, in Order's order (how a per-channel value is laid out inside a
/// destination).
template <class Order, class Keep>
using axis_restrict = typename detail::restrict_impl<axis_list<>, Order, Keep>::type;

/// True when every axis of `Sub` is in `Super`.
template <class Sub, class Super>
inline constexpr bool is_subset = false;
template <class... Ss, class Super>
inline constexpr bool is_subset<axis_list<Ss...>, Super> = (contains<Ss, Super> && ...);

namespace detail {
/// First axis of L whose static extent disagrees with R's tag of the same axis; `npos` if none.
template <class L, class R>
struct first_mismatch;
template <class... Ls, class R>
struct first_mismatch<axis_list<Ls...>, R> {
    template <class A>
    static constexpr bool conflicts() {
        if constexpr (contains<A, R>) {
            using B = find_axis_t<A, R>;
            return A::is_static && B::is_static && A::extent != B::extent;
        } else {
            return false;
        }
    }
    static constexpr std::size_t position = [] {
        constexpr bool bad[] = {conflicts<Ls>()..., false};
        for (std::size_t i = 0; i < sizeof...(Ls); ++i)
            if (bad[i]) return i;
        return npos;
    }();
};
} // namespace detail

/// Position (in L) of the first axis whose static extents in L and R differ, or `detail::npos`.
template <class L, class R>
inline constexpr std::size_t mismatch_position = detail::first_mismatch<L, R>::position;

} // namespace nf
