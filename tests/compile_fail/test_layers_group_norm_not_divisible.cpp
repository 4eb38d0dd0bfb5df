// expect: num_channels must be divisible by num_groups
// Misuse: a GroupNorm whose static channel count (6) is not a multiple of its static number of
// groups (4). PyTorch raises "num_channels must be divisible by num_groups" in the constructor;
// with both numbers in the type, normfuse rejects it at compile time with the same words.
#include <normfuse/nn/group_norm.hpp>

void misuse() {
    nf::nn::group_norm<float, 4, 6> gn; // <- rejected here
    (void)gn;
}
