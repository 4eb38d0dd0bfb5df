// normfuse/core/tensor_fwd.hpp: forward declarations of nf::tensor, nf::view and nf::strided_view and traits recognising them.
#pragma once

#include <type_traits>

#include <normfuse/core/element.hpp>

namespace nf {

template <class T, class Shape>
class tensor;

template <class T, class Shape>
class view;

template <class T, class Shape>
class strided_view;

template <class X>
inline constexpr bool is_tensor_v = false;
template <class T, class S>
inline constexpr bool is_tensor_v<tensor<T, S>> = true;

template <class X>
inline constexpr bool is_view_v = false;
template <class T, class S>
inline constexpr bool is_view_v<view<T, S>> = true;

template <class X>
inline constexpr bool is_strided_view_v = false;
template <class T, class S>
inline constexpr bool is_strided_view_v<strided_view<T, S>> = true;

} // namespace nf
