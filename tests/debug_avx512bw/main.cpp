// Compiled at -O0 for skylake-avx512 with g++ (see CMakeLists.txt): every element function, the
// reductions and a layer, float and double, must compile there; where the CPU has AVX-512BW the
// results are checked against the C library (exit 77, skipped, elsewhere).
#include <cmath>
#include <cstdio>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {

template <class T>
bool run() {
    const double u = std::is_same_v<T, float> ? 0x1p-24 : 0x1p-53;
    nf::tensor<T, nf::shape<N<>, C<>>> x({3, 37}), y({3, 37});
    std::size_t i = 0;
    for (auto& v : x) v = static_cast<T>(0.25 + 0.125 * static_cast<double>(i++ % 23)); // exact in T
    // xsimd's functions are within a few units of the correctly rounded value; 16 units of each
    // term's magnitude is far from any other function's value.
    y = nf::log(x) + nf::exp(x) + nf::tanh(x) + nf::sigmoid(x) + nf::sqrt(x) + nf::rsqrt(x) + nf::abs(-x) +
        nf::relu(x) + nf::square(x) + nf::min(x, T(1)) + nf::max(x, T(1));
    bool ok = true;
    i = 0;
    for (const T v : x) {
        const double a = static_cast<double>(v);
        const double terms[] = {
            std::log(a), std::exp(a), std::tanh(a), 1 / (1 + std::exp(-a)), std::sqrt(a),    1 / std::sqrt(a),
            a,           a,           a * a,        std::min(a, 1.0),       std::max(a, 1.0)};
        double want = 0, scale = 0;
        for (double t : terms) {
            want += t;
            scale += std::abs(t);
        }
        const double got = static_cast<double>(y.data()[i++]);
        if (!(std::abs(got - want) <= 16 * u * scale)) {
            std::printf("x = %g: got %.17g, want %.17g\n", a, got, want);
            ok = false;
        }
    }
    const auto [mean, var] = nf::moments<N>(x);
    nf::nn::batch_norm1d<T> bn(37);
    const nf::tensor<T, nf::shape<N<>, C<>>> z = bn(x); // training
    bn.eval();
    const nf::tensor<T, nf::shape<N<>, C<>>> w = bn(x);
    ok = ok && mean.size() == 37 && var.size() == 37 && z.size() == x.size() && w.size() == x.size();
    return ok;
}

} // namespace

int main() {
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512cd")) {
        std::puts("no AVX-512BW/DQ/VL/CD on this CPU: compiled only");
        return 77;
    }
    const bool ok = run<float>() && run<double>();
    std::puts(ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
