// expect: nn::layer_norm::backward: backward passes take float or double data
// Rule: the backward passes compute on float or double; a bf16 layer runs forward only, and its
// training copy is float (nf::cast<float>), so a backward on bf16 data is rejected at compile time.
#include <normfuse/nn/layer_norm.hpp>

using namespace nf::axes;

void misuse() {
    using S = nf::shape<N<>, C<8>>;
    nf::tensor<nf::bf16, S> x({4}), dy({4}), dx({4});
    nf::nn::layer_norm<nf::bf16, nf::shape<C<8>>> ln;
    ln.backward(x, dy, dx); // <- rejected here
}
