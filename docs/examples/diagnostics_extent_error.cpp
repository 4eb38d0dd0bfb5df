// Guide, chapter 5: run-time extents are checked before anything is written, and a mismatch
// throws nf::extent_error. Returns non-zero if a message or the untouched destination is wrong.
#include <cstddef>
#include <iostream>
#include <string>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
} // namespace

int main() {
    // clang-format off
    // [snippet extent_error]
    nf::tensor<float, nchw> x({2, 3, 4, 4}, 1.f);
    nf::tensor<float, nchw> y({2, 3, 5, 5}, -1.f); // H and W differ from x
    nf::tensor<float, nf::shape<C<>>> gamma{1.f, 2.f, 3.f};

    try {
        y = x * gamma; // checked before the loop starts
    } catch (const nf::extent_error& e) {
        std::cout << e.what() << '\n';
        // normfuse: assignment: axis H has extent 5 in the destination and 4 in an operand;
        // nothing was written
    }
    // y still holds -1 everywhere
    // [/snippet]
    // clang-format on
    std::string message;
    try {
        y = x * gamma;
    } catch (const nf::extent_error& e) {
        message = e.what();
    }
    expect(message == "normfuse: assignment: axis H has extent 5 in the destination and 4 in an "
                      "operand; nothing "
                      "was written",
           "assignment message");
    bool untouched = true;
    for (float v : y) untouched = untouched && v == -1.f;
    expect(untouched, "nothing written after a failed assignment");

    // clang-format off
    // [snippet operands]
    nf::tensor<float, nf::shape<C<>>> four_channels{1.f, 2.f, 3.f, 4.f};
    try {
        auto e = x - four_channels; // operands are compared when the node is built
        (void)e;
    } catch (const nf::extent_error& e) {
        std::cout << e.what() << '\n';
        // normfuse: operator-: axis C has extent 3 on the left and 4 on the right
    }
    // [/snippet]
    // clang-format on
    message.clear();
    try {
        auto e = x - four_channels;
        (void)e;
    } catch (const nf::extent_error& e) {
        message = e.what();
    }
    expect(message == "normfuse: operator-: axis C has extent 3 on the left and 4 on the right",
           "operand message");

    // clang-format off
    // [snippet layer]
    nf::nn::batch_norm2d<float> bn(4); // 4 channels, x has 3
    try {
        bn(x, nf::nn::in_place);
    } catch (const nf::extent_error& e) {
        std::cout << e.what() << '\n';
        // normfuse: nn::batch_norm: running_mean should contain 3 elements not 4
    }
    // x, bn.running_mean() and bn.num_batches_tracked() are unchanged
    // [/snippet]
    // clang-format on
    message.clear();
    try {
        bn(x, nf::nn::in_place);
    } catch (const nf::extent_error& e) {
        message = e.what();
    }
    expect(message == "normfuse: nn::batch_norm: running_mean should contain 3 elements not 4",
           "layer message");
    bool x_untouched = true;
    for (float v : x) x_untouched = x_untouched && v == 1.f;
    expect(x_untouched && bn.num_batches_tracked() == 0 && bn.running_mean()(0) == 0.f,
           "layer state untouched after a failed forward");
    return failures == 0 ? 0 : 1;
}
