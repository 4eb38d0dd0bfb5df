// expect: nf::gradient: no operand of the expression has the type and shape of the array named in nf::wrt|gradient_with_respect_to<nf::tensor<float, ?nf::shape<nf::axes::L<[0-9]+> ?> ?> ?>::an_array_that_is_not_an_operand_of_the_expression
// Misuse: nf::wrt names an array (over L) of a type and shape that no operand of y has, so the
// gradient is not defined; known at compile time, rejected there.
#include <normfuse/core/tensor.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/grad/gradient.hpp>

using namespace nf::axes;

void misuse(const nf::tensor<float, nf::shape<N<>, C<>>>& x, const nf::tensor<float, nf::shape<C<>>>& gamma,
            const nf::tensor<float, nf::shape<L<>>>& other, const nf::tensor<float, nf::shape<N<>, C<>>>& dy) {
    auto y = x * gamma;
    auto [d] = nf::gradient(y, dy, nf::wrt(other)); // <- rejected here
    (void)d;
}
