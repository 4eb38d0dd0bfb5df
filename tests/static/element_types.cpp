// Static tests (compiling is the test): the element types (core/element.hpp), nf::bf16 and
// nf::fp16 (core/half.hpp, usable in constant expressions), and the element and compute types of
// expressions over them, nf::cast (expr/cast.hpp) and the store rules (eval/assign.hpp).
#include <cstdint>
#include <type_traits>
#include <utility>

#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

namespace {

using nhwc = nf::shape<N<>, H<>, W<>, C<3>>;
using u8_view = nf::view<const std::uint8_t, nhwc>;
using bf16_view = nf::view<const nf::bf16, nhwc>;
using fp16_tensor = nf::tensor<nf::fp16, nhwc>;
using f_tensor = nf::tensor<float, nhwc>;
using d_tensor = nf::tensor<double, nhwc>;

template <class X>
using expr_of = std::remove_cvref_t<decltype(std::declval<X>())>;
template <class E>
using element_of = typename expr_of<E>::element_type;
template <class E>
using value_of = typename expr_of<E>::value_type;

// The storage types: two bytes, trivially copyable, standard layout.
static_assert(sizeof(nf::bf16) == 2 && sizeof(nf::fp16) == 2);
static_assert(std::is_trivially_copyable_v<nf::bf16> && std::is_trivially_copyable_v<nf::fp16>);
static_assert(std::is_trivially_default_constructible_v<nf::bf16>);
static_assert(std::is_standard_layout_v<nf::fp16>);
// A float does not become a 16-bit value by accident (the conversion rounds: it is explicit).
static_assert(!std::is_convertible_v<float, nf::bf16> && !std::is_convertible_v<nf::fp16, float>);

// Conversions in constant expressions (landmarks of the formats).
static_assert(nf::bf16(1.0f).bits == 0x3F80);
static_assert(nf::bf16(-0.0f).bits == 0x8000);
static_assert(nf::bf16(3.4028235e38f).bits == 0x7F80); // rounds to Inf
static_assert(static_cast<float>(nf::bf16::from_bits(0x4049)) == 3.140625f);
static_assert(nf::fp16(65504.0f).bits == 0x7BFF);
static_assert(nf::fp16(65520.0f).bits == 0x7C00); // the tie above the largest half: Inf
static_assert(nf::fp16(0x1p-24f).bits == 0x0001); // the smallest subnormal
static_assert(nf::fp16(0x1p-25f).bits == 0x0000); // half of it: a tie, to the even zero
static_assert(static_cast<float>(nf::fp16::from_bits(0x3555)) == 0x1.554p-2f);

// Element types and their compute types.
static_assert(nf::Element<nf::bf16> && nf::Element<const nf::fp16> && nf::Element<std::uint8_t> &&
              nf::Element<std::int8_t> && nf::Element<std::uint16_t>);
static_assert(!nf::Element<int> && !nf::Element<std::int16_t> && !nf::Element<std::uint32_t> && !nf::Element<char>);
static_assert(nf::FloatingElement<nf::bf16> && !nf::FloatingElement<std::uint8_t>);
static_assert(std::is_same_v<nf::compute_t<std::uint8_t>, float> && std::is_same_v<nf::compute_t<nf::fp16>, float> &&
              std::is_same_v<nf::compute_t<double>, double>);

// Leaves stand for their element type and compute in its compute type.
static_assert(std::is_same_v<nf::element_t<u8_view>, std::uint8_t>);
static_assert(std::is_same_v<value_of<nf::expression_t<u8_view>>, float>);
static_assert(std::is_same_v<nf::element_t<bf16_view>, nf::bf16>);

// nf::cast changes the element type; a cast to a 16-bit type keeps computing in float.
using widened = decltype(nf::cast<float>(std::declval<u8_view>()));
static_assert(std::is_same_v<element_of<widened>, float> && std::is_same_v<value_of<widened>, float>);
using to_double = decltype(nf::cast<double>(std::declval<u8_view>()));
static_assert(std::is_same_v<element_of<to_double>, double> && std::is_same_v<value_of<to_double>, double>);
using rounded = decltype(nf::cast<nf::fp16>(std::declval<f_tensor&>() * 2.f));
static_assert(std::is_same_v<element_of<rounded>, nf::fp16> && std::is_same_v<value_of<rounded>, float>);

// An expression over bf16 keeps the element type bf16 (and computes in float); a number takes it.
using bf16_expr = decltype(std::declval<bf16_view>() * 0.5f + std::declval<bf16_view>());
static_assert(std::is_same_v<element_of<bf16_expr>, nf::bf16> && std::is_same_v<value_of<bf16_expr>, float>);
using bf16_mean = decltype(nf::mean<H, W>(std::declval<bf16_view>()));
static_assert(std::is_same_v<element_of<bf16_mean>, nf::bf16> && std::is_same_v<value_of<bf16_mean>, float>);
using image = decltype((nf::cast<float>(std::declval<u8_view>()) / 255.f - 0.5f) / 0.25f);
static_assert(std::is_same_v<element_of<image>, float>);

// Stores: a floating destination takes any floating expression of its compute type (16-bit
// floats into float, float into 16-bit floats); an integer destination only its own type.
static_assert(nf::detail::storable<nf::fp16, nf::expression_t<f_tensor&>>);
static_assert(nf::detail::storable<float, bf16_expr>);
static_assert(!nf::detail::storable<double, nf::expression_t<f_tensor&>>); // nf::cast<double> says so
static_assert(!nf::detail::storable<float, nf::expression_t<d_tensor&>>);
static_assert(!nf::detail::storable<float, nf::expression_t<u8_view>>);       // nf::cast<float> first
static_assert(!nf::detail::storable<std::uint8_t, widened>);                  // no conversion into integers
static_assert(nf::detail::storable<std::uint8_t, nf::expression_t<u8_view>>); // a copy

} // namespace
