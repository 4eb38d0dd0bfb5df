// Static tests (compiling is the test): axis tags and their identity, user-defined axes, shapes'
// rank, dynamic count and static extents, and the type-level algebra of axis lists.
#include <cstddef>
#include <string_view>
#include <type_traits>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>

using namespace nf::axes;

// --- Axis tags ------------------------------------------------------------------------------------
static_assert(nf::Axis<C<3>>);
static_assert(nf::Axis<C<>>);
static_assert(C<>::extent == nf::dynamic_extent);
static_assert(!C<>::is_static);
static_assert(C<3>::is_static && C<3>::extent == 3);
static_assert(C<3>::name == "C" && N<>::name == "N" && W<1>::name == "W");
static_assert(std::is_base_of_v<nf::axis_tag<3>, C<3>>);

// Identity ignores the extent: C<3>, C<16> and C<> are one axis; C and H are not, whatever the extent.
static_assert(nf::same_axis<C<3>, C<>>);
static_assert(nf::same_axis<C<3>, C<16>>);
static_assert(nf::same_axis<C<>, C<>>);
static_assert(!nf::same_axis<C<3>, H<3>>);
static_assert(!nf::same_axis<N<>, K<>>);
static_assert(std::is_same_v<nf::axis_id<C<3>>, C<>>);
static_assert(std::is_same_v<C<3>::rebind<7>, C<7>>);

// Not axes: a number, the bare base (no name, no rebind), a look-alike without the base.
struct looks_like_an_axis {
    static constexpr std::size_t extent = 3;
    static constexpr std::string_view name = "F";
    template <std::size_t E>
    using rebind = looks_like_an_axis;
};
static_assert(!nf::Axis<int>);
static_assert(!nf::Axis<nf::axis_tag<3>>);
static_assert(!nf::Axis<looks_like_an_axis>);

// --- A user-defined axis in one line ---------------------------------------------------------------
namespace user {
NF_AXIS(T);
} // namespace user

static_assert(nf::Axis<user::T<8>>);
static_assert(user::T<8>::name == "T");
static_assert(user::T<>::extent == nf::dynamic_extent);
static_assert(nf::same_axis<user::T<8>, user::T<>>);
static_assert(!nf::same_axis<user::T<>, N<>>);
using with_user_axis = nf::shape<N<>, user::T<8>, C<>>;
static_assert(with_user_axis::rank == 3 && with_user_axis::dynamic_count == 2);
static_assert(nf::index_of<user::T<>, with_user_axis::axes> == 1);
static_assert(std::is_same_v<nf::tensor<float, with_user_axis>::axes, nf::axis_list<N<>, user::T<8>, C<>>>);

// --- Shapes ---------------------------------------------------------------------------------------
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
static_assert(nchw::rank == 4);
static_assert(nchw::dynamic_count == 3);
static_assert(nchw::static_extents[0] == nf::dynamic_extent && nchw::static_extents[1] == 3);
static_assert(nchw::valid);
static_assert(std::is_same_v<nchw::axes, nf::axis_list<N<>, C<3>, H<>, W<>>>);

using fully_static = nf::shape<C<3>, H<4>, W<5>>;
static_assert(fully_static::rank == 3 && fully_static::dynamic_count == 0);
static_assert(nf::extents<fully_static>().size() == 60);
static_assert(nf::extents<fully_static>().of<H<>>() == 4);

using fully_dynamic = nf::shape<N<>, C<>, D<>, H<>, W<>>;
static_assert(fully_dynamic::rank == 5 && fully_dynamic::dynamic_count == 5);

static_assert(nf::shape<>::rank == 0 && nf::shape<>::dynamic_count == 0);
static_assert(nf::shape<L<17>>::rank == 1 && nf::shape<L<17>>::dynamic_count == 0);

// Layout is the order of the axes: NCHW and NHWC are different shapes of the same axes.
using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
static_assert(!std::is_same_v<nchw, nhwc>);
static_assert(nf::is_subset<nchw::axes, nhwc::axes> && nf::is_subset<nhwc::axes, nchw::axes>);

// The duplicate check, as a trait (instantiating such a shape is a compile-fail test).
static_assert(nf::has_duplicate_axis<nf::axis_list<C<3>, H<>, C<>>>);
static_assert(nf::duplicate_position<nf::axis_list<C<3>, H<>, C<>>> == 2);
static_assert(!nf::has_duplicate_axis<nchw::axes>);

// --- Axis list algebra ----------------------------------------------------------------------------
static_assert(nf::index_of<C<>, nchw::axes> == 1);
static_assert(nf::index_of<W<99>, nchw::axes> == 3);
static_assert(nf::contains<H<2>, nchw::axes>);
static_assert(!nf::contains<D<>, nchw::axes>);
static_assert(std::is_same_v<nf::axis_at_t<1, nchw::axes>, C<3>>);
static_assert(std::is_same_v<nf::find_axis_t<C<>, nchw::axes>, C<3>>);

// Union: the left list's order, then the right's new axes; a static extent wins over a dynamic one.
static_assert(std::is_same_v<nf::axis_union<nf::axis_list<C<3>>, nchw::axes>, nf::axis_list<C<3>, N<>, H<>, W<>>>);
static_assert(std::is_same_v<nf::axis_union<nf::axis_list<N<>, C<>>, nf::axis_list<H<>, W<>>>,
                             nf::axis_list<N<>, C<>, H<>, W<>>>);
static_assert(std::is_same_v<nf::axis_union<nf::axis_list<N<>, C<>>, nf::axis_list<C<3>>>, nf::axis_list<N<>, C<3>>>);
static_assert(std::is_same_v<nf::axis_remove<nchw::axes, nf::axis_list<C<>, W<>>>, nf::axis_list<N<>, H<>>>);
static_assert(std::is_same_v<nf::axis_restrict<nhwc::axes, nf::axis_list<C<>, N<>>>, nf::axis_list<N<>, C<3>>>);
static_assert(nf::mismatch_position<nf::axis_list<N<>, C<3>>, nf::axis_list<C<16>>> == 1);
static_assert(nf::mismatch_position<nf::axis_list<N<>, C<3>>, nf::axis_list<C<>>> == nf::detail::npos);
