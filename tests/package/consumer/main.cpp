// Uses an installed normfuse through the umbrella header: builds a per-channel tensor and reads
// it back.
#include <normfuse/normfuse.hpp>

int main() {
    nf::tensor<float, nf::shape<nf::axes::C<3>>> t{1.f, 2.f, 3.f};
    return t.data()[1] == 2.f ? 0 : 1;
}
