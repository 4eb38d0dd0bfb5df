// expect: nf::gradient: nf::cast has no derivative rule|gradient_through<nf::op::cast_to<nf::bf16, ?true> ?>::has_no_derivative_rule
// Misuse: differentiating through nf::cast<nf::bf16>, which rounds and changes the element type.
// nf::gradient has rules for + - * /, the element functions, sum, mean and var; an operation
// without one must be named at the user's call, not fail deep in the rules.
#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>

using namespace nf::axes;

void misuse(const nf::tensor<float, nf::shape<N<>, C<>>>& x, const nf::tensor<nf::bf16, nf::shape<N<>, C<>>>& dy) {
    auto y = nf::cast<nf::bf16>(x) * 2.f;
    auto [dx] = nf::gradient(y, dy, nf::wrt(x)); // <- rejected here
    (void)dx;
}
