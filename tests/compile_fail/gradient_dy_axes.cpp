// expect: nf::gradient: dy must have the axes \(and static extents\) of y|gradient_adjoint<.*>::must_have_the_axes_of_y
// Misuse: a dy over (N, L) for a y over (N, C): the adjoint must have y's axes (any order).
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>

using namespace nf::axes;

void misuse(const nf::tensor<float, nf::shape<N<>, C<>>>& x, const nf::tensor<float, nf::shape<N<>, L<>>>& dy) {
    auto y = x * 2.f;
    auto [dx] = nf::gradient(y, dy, nf::wrt(x)); // <- rejected here
    (void)dx;
}
