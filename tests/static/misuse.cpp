// Static tests (compiling is the test): misuses that are rejected by a constraint, so that they can
// be checked with concepts and requires-expressions. Each negative check names the misuse. (Misuses
// reported by a normfuse diagnostic, such as a static extent mismatch, are compile-fail tests.)
#include <cstddef>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/normalize.hpp>

using namespace nf::axes;

namespace {
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
using tensor = nf::tensor<float, nchw>;
using mview = nf::view<float, nchw>;
using cview = nf::view<const float, nchw>;
} // namespace

// The checks need requires-expressions over template parameters: outside a template an invalid
// expression in a requires-expression is a hard error rather than `false`.
template <class A>
concept nf_sqrt = requires(A a) {
    nf::sqrt(a);
};
template <class A>
concept nf_exp = requires(A a) {
    nf::exp(a);
};
template <class A, class B>
concept nf_min = requires(A a, B b) {
    nf::min(a, b);
};
template <class A, class B, class C>
concept nf_clamp = requires(A a, B b, C c) {
    nf::clamp(a, b, c);
};
template <class A, class B>
concept addable = requires(A a, B b) {
    a + b;
};
template <class A, class B>
concept subtractable = requires(A a, B b) {
    a - b;
};
template <class A, class B>
concept multipliable = requires(A a, B b) {
    a* b;
};
template <class V, class X>
concept assignable_from_expression = requires(V v, X& x) {
    v = x * 2.f;
};
template <class X, class... I>
concept indexable = requires(X& x, I... i) {
    x(i...);
};
template <class Layer, class X>
concept in_place_on_expression = requires(const Layer& n, X& x) {
    n(x * 2.f, nf::nn::in_place);
};

// The positive forms, so that the negative ones below fail for the stated reason only.
static_assert(nf::BinaryOperands<tensor&, float> && nf::BinaryOperands<float, tensor&>);
static_assert(nf::BinaryOperands<tensor&, cview> && nf::ArrayOperand<tensor&>);
static_assert(nf_sqrt<tensor&> && nf_exp<cview> && nf_min<tensor&, float> && nf_clamp<tensor&, float, float>);
static_assert(addable<tensor&, float> && subtractable<float, tensor&> && multipliable<tensor&, cview&>);
static_assert(assignable_from_expression<mview, tensor>);
static_assert(indexable<tensor, int, unsigned, long, std::size_t>);

// Two plain numbers: nf's operators and functions must never take over built-in arithmetic. The
// operators' constraints are checked as concepts (calling `nf::operator+(1.f, 2.f)` explicitly is
// rejected by clang 14 before the constraints are looked at, which proves nothing).
static_assert(!nf::BinaryOperands<float, float>); // binary + - * / between two numbers
static_assert(!nf::BinaryOperands<double, int>);
static_assert(!nf::BinaryOperands<float&, const double&>);
static_assert(!nf::ArrayOperand<float>); // unary - and + on a number
static_assert(!nf_sqrt<float>);
static_assert(!nf_exp<double>);
static_assert(!nf_min<float, float>);
static_assert(!nf_clamp<float, float, float>);
static_assert(!nf::BinaryOperands<float, double>);

// Something that is neither an array nor a number in an expression.
static_assert(!addable<tensor&, std::string>);
static_assert(!multipliable<tensor&, std::vector<float>&>);
static_assert(!subtractable<tensor&, float*>);
static_assert(!nf_sqrt<std::vector<float>&>);
static_assert(!nf::Operand<std::string>);
static_assert(!nf::Operand<float*>);
static_assert(!nf::Operand<std::vector<float>>);

// Element types other than float and double.
static_assert(!nf::Element<int>);
static_assert(!nf::Element<long double>);
static_assert(!nf::Element<float*>);

// Writing through a view of const elements.
static_assert(!assignable_from_expression<cview, tensor>);
static_assert(!std::is_assignable_v<const cview&, const tensor&>);
static_assert(!std::is_assignable_v<cview&, float>);
// A mutable view over const data.
static_assert(!std::is_constructible_v<mview, const float*, nf::extents<nchw>>);
// A const view converted back to a mutable one.
static_assert(!std::is_convertible_v<cview, mview>);
static_assert(!std::is_constructible_v<mview, cview>);
// A mutable view of a const tensor.
static_assert(!std::is_convertible_v<const tensor&, mview>);
// The pointer-only view constructor when some extent is dynamic (the extents would be unknown).
static_assert(!std::is_constructible_v<mview, float*>);
static_assert(std::is_constructible_v<nf::view<float, nf::shape<C<3>, H<4>>>, float*>);

// Element access with the wrong number of indices, or with indices that are not integers.
static_assert(!indexable<tensor, int, int>);
static_assert(!indexable<tensor, int, int, int, int, int>);
static_assert(!indexable<tensor, double, int, int, int>);
static_assert(!indexable<mview, float, int, int, int>);

// Values given as an initializer list to a tensor of rank other than 1.
static_assert(!std::is_constructible_v<tensor, std::initializer_list<float>>);
// Implicitly turning extents into a tensor (allocation must be explicit).
static_assert(!std::is_convertible_v<nf::extents<nchw>, tensor>);
// An element type mismatch is not hidden by an implicit conversion of whole tensors.
static_assert(!std::is_convertible_v<nf::tensor<double, nchw>, tensor>);

// The in-place form of a layer on an expression, which has no storage to overwrite.
static_assert(!in_place_on_expression<nf::nn::normalize<float>, tensor>);
