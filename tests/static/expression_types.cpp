// Static tests (compiling is the test): the axes and element type of expressions (broadcasting by
// name, the order of the result's axes, static extents winning over dynamic ones), and the
// Expression / Operand concepts.
#include <type_traits>
#include <utility>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

namespace {

template <class T, class... As>
using t = nf::tensor<T, nf::shape<As...>>;

using x_nchw = t<float, N<>, C<3>, H<>, W<>>;
using x_nhwc = t<float, N<>, H<>, W<>, C<3>>;
using x_dyn = t<float, N<>, C<>, H<>, W<>>;
using per_c = t<float, C<3>>;
using per_c_dyn = t<float, C<>>;
using per_nc = t<float, N<>, C<>>;
using per_hw = t<float, H<>, W<>>;
using vx = nf::view<float, nf::shape<N<>, C<3>, H<>, W<>>>;
using cvx = nf::view<const float, nf::shape<N<>, C<3>, H<>, W<>>>;

template <class E, class... As>
inline constexpr bool has_axes = std::is_same_v<nf::axes_of<E>, nf::axis_list<As...>>;

template <class X>
X& lv() {
    return std::declval<X&>();
}

} // namespace

// --- Result axes: the left operand's axes, then those only the right one has ----------------------
static_assert(has_axes<decltype(lv<x_nchw>() - lv<per_c>()), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(lv<per_c>() - lv<x_nchw>()), C<3>, N<>, H<>, W<>>);
static_assert(has_axes<decltype(lv<x_nhwc>() * lv<per_c>()), N<>, H<>, W<>, C<3>>);
static_assert(has_axes<decltype(lv<x_nhwc>() + lv<x_nchw>()), N<>, H<>, W<>, C<3>>);
static_assert(has_axes<decltype(lv<x_nchw>() + lv<x_nhwc>()), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(lv<per_nc>() + lv<per_hw>()), N<>, C<>, H<>, W<>>);
static_assert(has_axes<decltype(lv<per_hw>() + lv<per_nc>()), H<>, W<>, N<>, C<>>);
static_assert(has_axes<decltype((lv<x_nchw>() - lv<per_c>()) / lv<per_c>()), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(lv<per_c>() / nf::sqrt(lv<per_c>() + 1e-5f)), C<3>>);

// A static extent wins over a dynamic one, on either side.
static_assert(has_axes<decltype(lv<per_c_dyn>() * lv<per_c>()), C<3>>);
static_assert(has_axes<decltype(lv<per_c>() * lv<per_c_dyn>()), C<3>>);
static_assert(has_axes<decltype(lv<x_dyn>() - lv<per_c>()), N<>, C<3>, H<>, W<>>);

// Numbers add no axes, on either side; unary operations and functions keep the axes.
static_assert(has_axes<decltype(lv<x_nchw>() * 2.f), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(2 * lv<x_nchw>()), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(-lv<per_nc>()), N<>, C<>>);
static_assert(has_axes<decltype(nf::exp(lv<per_hw>())), H<>, W<>>);
static_assert(has_axes<decltype(nf::clamp(lv<per_hw>(), lv<per_c>(), 1.f)), H<>, W<>, C<3>>);
static_assert(has_axes<decltype(nf::min(0.f, lv<per_hw>())), H<>, W<>>);

// Views are operands like tensors.
static_assert(has_axes<decltype(lv<cvx>() - lv<per_c>()), N<>, C<3>, H<>, W<>>);
static_assert(has_axes<decltype(lv<per_c>() * lv<vx>()), C<3>, N<>, H<>, W<>>);

// --- Element types ----------------------------------------------------------------------------------
// A number takes the element type of the array operand.
static_assert(std::is_same_v<nf::element_t<decltype(lv<x_nchw>() * 2.0)>, float>);
static_assert(std::is_same_v<nf::element_t<decltype(1 + lv<x_nchw>())>, float>);
static_assert(std::is_same_v<nf::element_t<decltype(lv<t<double, C<>>>() * 2.f)>, double>);
static_assert(std::is_same_v<nf::element_t<cvx>, float>);

// --- Concepts ---------------------------------------------------------------------------------------
static_assert(nf::Expression<decltype(lv<x_nchw>() - lv<per_c>())>);
static_assert(nf::Expression<decltype(nf::sqrt(lv<per_c>()))>);
static_assert(!nf::Expression<x_nchw>); // an array is an operand, not yet an expression
static_assert(!nf::Expression<float>);

static_assert(nf::Operand<x_nchw&> && nf::Operand<const x_nchw&> && nf::Operand<x_nchw&&>);
static_assert(nf::Operand<vx> && nf::Operand<cvx&>);
static_assert(nf::Operand<float> && nf::Operand<int> && nf::Operand<double&>);
static_assert(nf::Operand<decltype(lv<x_nchw>() * 2.f)>);
static_assert(nf::ArrayOperand<x_nchw&> && nf::ArrayOperand<cvx>);
static_assert(!nf::ArrayOperand<float>);
static_assert(nf::BinaryOperands<x_nchw&, float> && nf::BinaryOperands<float, x_nchw&>);

static_assert(nf::Element<float> && nf::Element<const double>);
static_assert(nf::is_tensor_v<x_nchw> && !nf::is_tensor_v<vx>);
static_assert(nf::is_view_v<cvx> && !nf::is_view_v<x_nchw>);

// What a tensor accepts.
static_assert(std::is_constructible_v<x_nchw, decltype(lv<x_nchw>() * 2.f)>); // from an expression
static_assert(std::is_assignable_v<x_nchw&, decltype(lv<x_nchw>() * 2.f)>);
static_assert(std::is_assignable_v<x_nhwc&, x_nchw&>);                        // layout conversion by assignment
static_assert(std::is_assignable_v<x_nchw&, float>);                          // fill
static_assert(std::is_assignable_v<const vx&, decltype(lv<x_nchw>() * 2.f)>); // a view writes through
static_assert(std::is_convertible_v<vx, cvx>);
static_assert(std::is_convertible_v<x_nchw&, vx> && std::is_convertible_v<const x_nchw&, cvx>);
static_assert(std::is_nothrow_move_constructible_v<x_nchw>);
