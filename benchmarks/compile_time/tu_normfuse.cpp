// benchmarks/compile_time/tu_normfuse.cpp: every normfuse layer on NCHW and NHWC: the compile-time cost of the library.
//
// The same work as tu_loops.cpp (plain loops) and tu_eigen.cpp (Eigen Tensor): Normalize,
// BatchNorm2d (training and eval), LayerNorm over (C, H, W), GroupNorm, InstanceNorm2d and RMSNorm
// over C, each on both layouts, with run-time extents. main() runs it once on a small input, so
// the object is a real program, not dead code.
#include <array>
#include <cstddef>
#include <cstdio>
#include <span>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

template <class S>
void all_layers(const float* x, float* y, const std::array<std::size_t, 4>& ext, std::size_t c, std::size_t h,
                std::size_t w, std::size_t groups) {
    const nf::view<const float, S> xv(x, nf::extents<S>::from_all(ext));
    const nf::view<float, S> yv(y, nf::extents<S>::from_all(ext));
    const std::vector<double> mean(c, 0.5), stdv(c, 0.25);

    nf::nn::normalize<float> normalize{std::span<const double>(mean), std::span<const double>(stdv)};
    normalize.forward(xv, yv);

    nf::nn::batch_norm2d<float> batch_norm(c);
    batch_norm.forward(xv, yv); // training
    batch_norm.eval();
    batch_norm.forward(xv, yv);

    nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> layer_norm({c, h, w});
    layer_norm.forward(xv, yv);

    nf::nn::group_norm<float> group_norm(groups, c);
    group_norm.forward(xv, yv);

    nf::nn::instance_norm2d<float> instance_norm(c);
    instance_norm.forward(xv, yv);

    nf::nn::rms_norm<float, nf::shape<C<>>> rms_norm({c});
    rms_norm.forward(xv, yv);
}

void run(const float* x, float* y, std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::size_t groups) {
    all_layers<nchw>(x, y, {n, c, h, w}, c, h, w, groups);
    all_layers<nhwc>(x, y, {n, h, w, c}, c, h, w, groups);
}

int main() {
    const std::size_t n = 2, c = 8, h = 5, w = 5;
    std::vector<float> x(n * c * h * w), y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.25f;
    run(x.data(), y.data(), n, c, h, w, 4);
    double sum = 0;
    for (float v : y) sum += v;
    std::printf("%g\n", sum);
}
