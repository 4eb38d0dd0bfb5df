// Guide, chapter 2: operators and element functions. Every result is compared with a plain loop
// in double; returns non-zero on a wrong value.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <iostream>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;

namespace {
int failures = 0;

/// Compares every element of `y` with `f(x)` computed in double, to a relative tolerance.
void expect_elementwise(const nf::tensor<float, nchw>& y, const nf::tensor<float, nchw>& x,
                        const std::function<double(double)>& f, double tolerance,
                        const char* what) {
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double want = f(static_cast<double>(x.data()[i]));
        if (!(std::abs(static_cast<double>(y.data()[i]) - want) <=
              tolerance * (1 + std::abs(want)))) {
            std::cerr << "FAILED: " << what << " at " << i << ": " << y.data()[i] << " vs " << want
                      << '\n';
            ++failures;
            return;
        }
    }
}
double sigmoid(double v) {
    return 1 / (1 + std::exp(-v));
}
} // namespace

int main() {
    nf::tensor<float, nchw> x(
        {2, 5, 7}); // 7 is not a multiple of any SIMD width: tails are tested too
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = 3.f * std::sin(0.37f * static_cast<float>(i));

    // clang-format off
    // [snippet operators]
    nf::tensor<float, nchw> y = x * 2 - 1; // numbers take the element type of the array (float)
    y = -x / 4.0 + x * x;                  // + - * / and unary minus; / is a true division
    // [/snippet]
    // clang-format on
    expect_elementwise(
        y, x, [](double v) { return -v / 4 + v * v; }, 1e-6, "operators");

    // clang-format off
    // [snippet functions]
    y = nf::sqrt(nf::abs(x)) + nf::rsqrt(nf::square(x) + 1.f);
    y = nf::exp(-nf::square(x)) * nf::log(1.f + nf::abs(x));
    y = nf::sigmoid(x) - nf::tanh(x) + nf::relu(x);
    y = nf::clamp(x, -1.f, 1.f) + nf::min(x, 0.f) * nf::max(x, 0.5f);
    // [/snippet]
    // clang-format on
    expect_elementwise(
        y, x,
        [](double v) {
            return std::min(std::max(v, -1.0), 1.0) + std::min(v, 0.0) * std::max(v, 0.5);
        },
        1e-6, "clamp, min, max");
    y = nf::sqrt(nf::abs(x)) + nf::rsqrt(nf::square(x) + 1.f);
    expect_elementwise(
        y, x, [](double v) { return std::sqrt(std::abs(v)) + 1 / std::sqrt(v * v + 1); }, 1e-6,
        "sqrt, abs, rsqrt, square");
    y = nf::exp(-nf::square(x)) * nf::log(1.f + nf::abs(x));
    expect_elementwise(
        y, x, [](double v) { return std::exp(-v * v) * std::log(1 + std::abs(v)); }, 1e-6,
        "exp, log");
    y = nf::sigmoid(x) - nf::tanh(x) + nf::relu(x);
    expect_elementwise(
        y, x, [](double v) { return sigmoid(v) - std::tanh(v) + std::max(v, 0.0); }, 1e-6,
        "sigmoid, tanh, relu");

    // clang-format off
    // [snippet generic]
    // A function of any operand (tensor, view or expression), returning an expression.
    auto soft_clip = []<nf::ArrayOperand X>(X&& v, float limit) {
        return nf::tanh(std::forward<X>(v) / limit) * limit;
    };

    y = soft_clip(x, 2.f);              // a soft clip of x itself
    y = soft_clip(x * 0.5f + 1.f, 2.f); // or of an expression: still one loop
    // [/snippet]
    // clang-format on
    expect_elementwise(
        y, x, [](double v) { return std::tanh((v * 0.5 + 1) / 2) * 2; }, 1e-6, "soft_clip");

    return failures == 0 ? 0 : 1;
}
