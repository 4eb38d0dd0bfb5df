// normfuse/core/tensor_fwd.hpp: forward declarations of nf::tensor and nf::view and traits recognising them.
#pragma once

#include <type_traits>

namespace nf {

template <class T, class Shape>
class tensor;

template <class T, class Shape>
class view;

template <class X>
inline constexpr bool is_tensor_v = false;
template <class T, class S>
inline constexpr bool is_tensor_v<tensor<T, S>> = true;

template <class X>
inline constexpr bool is_view_v = false;
template <class T, class S>
inline constexpr bool is_view_v<view<T, S>> = true;

/// Element type accepted by tensors and views.
template <class T>
concept Element = std::is_same_v < std::remove_const_t<T>,
float > || std::is_same_v<std::remove_const_t<T>, double>;

} // namespace nf
