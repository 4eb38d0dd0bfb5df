// Static tests of nf::gradient (grad/): compiling is the test. The derived gradients are
// expressions with the axes and element type of the arrays named in nf::wrt, in the order the
// wrt's are given, whatever the layout of dy; nothing is evaluated.
#include <type_traits>

#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>
#include <normfuse/reduce/reductions.hpp>

using namespace nf::axes;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

template <class E, class... As>
constexpr bool has_axes = E::axes::size == sizeof...(As) && (nf::contains<As, typename E::axes> && ...);

[[maybe_unused]] void gradients_have_the_axes_of_their_arrays(const nf::tensor<double, nchw>& x,
                                                              const nf::tensor<double, nf::shape<C<>>>& gamma,
                                                              const nf::tensor<double, nhwc>& dy) {
    const auto y = (x - nf::mean<N, H, W>(x)) * nf::rsqrt(nf::var<N, H, W>(x) + 1e-5) * gamma;
    auto [dgamma, dx] = nf::gradient(y, dy, nf::wrt(gamma), nf::wrt(x));
    using DG = decltype(dgamma);
    using DX = decltype(dx);
    // a per-channel parameter's gradient is summed over the axes it lacks
    static_assert(has_axes<DG, C<>>);
    static_assert(has_axes<DX, N<>, C<>, H<>, W<>>);
    static_assert(nf::Expression<DG> && nf::Expression<DX>);
    static_assert(std::is_same_v<DG::element_type, double> && std::is_same_v<DX::element_type, double>);
}

// Misuse: a number where nf::wrt(x) belongs; nf::gradient takes only the arrays named by nf::wrt.
template <class T>
concept gradient_with_respect_to_a_number = requires(T& t) {
    nf::gradient(t, t, 1.0f);
};
static_assert(!gradient_with_respect_to_a_number<nf::tensor<float, nchw>>);

} // namespace
