// expect: operand types are .*nf::view<const float|is_const_v<const float>. evaluated to false
// Rule: a view of const elements is read-only; it cannot be the destination of an assignment.
// (Rejected by the constraint of view::operator=, so the diagnostic is the compiler's.)
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

void misuse() {
    const float memory[6] = {};
    nf::tensor<float, nf::shape<N<>, C<3>>> x({2});
    nf::view<const float, nf::shape<N<>, C<3>>> v(memory, {2});
    v = x * 2.f; // <- rejected here
}
