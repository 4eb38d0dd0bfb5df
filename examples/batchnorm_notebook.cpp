// The seed notebook's second part in normfuse: nn.BatchNorm1d(16) on a batch of 100 "images" of 16
// channels and 28x28 pixels flattened to 784, uniform random values in [0, 1), one forward in
// training mode. Prints running_mean, running_var, weight and bias as the notebook does, then the
// layer's state (the notebook's vars(layer_1d)).
//
// Expected, as in the notebook: running_mean = 0.9 * 0 + 0.1 * 0.5 = 0.05 and running_var =
// 0.9 * 1 + 0.1 * (1/12) = 0.9083 for every channel (mean and variance of U[0, 1)); weight 1,
// bias 0. The program checks these, the exact update against a float64 computation from the same
// data, and that the output has mean 0 and variance 1 per channel; it returns non-zero otherwise.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {
/// A 16-vector as PyTorch prints it: "tensor([0.0498, 0.0500, ...])" with 9 values per line, or
/// "tensor([1., 1., ...])" on one line for whole numbers (`decimals` = 0).
std::string torch_style(const nf::tensor<float, nf::shape<C<>>>& t, int decimals) {
    std::string s = "tensor([";
    char cell[32];
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (i != 0) s += (decimals != 0 && i % 9 == 0) ? ",\n        " : ", ";
        std::snprintf(cell, sizeof cell, decimals != 0 ? "%.*f" : "%.*f.", decimals,
                      static_cast<double>(t(i)));
        s += cell;
    }
    return s + "]";
}
std::string torch_size(const nf::tensor<float, nf::shape<C<>>>& t) {
    return "torch.Size([" + std::to_string(t.extent<C<>>()) + "])";
}
} // namespace

int main() {
    // data_1d = torch.rand(100, 16, 784)
    using ncl = nf::shape<N<>, C<16>, L<>>;
    nf::tensor<float, ncl> data_1d({100, 784});
    std::mt19937 rng(2024);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    for (float& v : data_1d) v = uniform(rng);

    // layer_1d = nn.BatchNorm1d(16); out = layer_1d(data_1d)
    nf::nn::batch_norm1d<float> layer_1d(16);
    const nf::tensor<float, ncl> out = layer_1d(data_1d);

    std::cout << "layer.running_mean: " << torch_style(layer_1d.running_mean(), 4)
              << ") with shape of: " << torch_size(layer_1d.running_mean()) << '\n';
    std::cout << "layer.running_var: " << torch_style(layer_1d.running_var(), 4)
              << ") with shape of: " << torch_size(layer_1d.running_var()) << '\n';
    std::cout << "layer.weight: Parameter containing:\n"
              << torch_style(layer_1d.weight(), 0)
              << ",\n       requires_grad=True) with shape of: " << torch_size(layer_1d.weight())
              << '\n';
    std::cout << "layer.bias: Parameter containing:\n"
              << torch_style(layer_1d.bias(), 0)
              << ",\n       requires_grad=True) with shape of: " << torch_size(layer_1d.bias())
              << '\n';
    std::cout << "---------------------------------------------------------------------------------"
                 "-------------\n";
    const auto& options = layer_1d.options();
    std::cout << "{'training': " << (layer_1d.training() ? "True" : "False")
              << ", 'num_features': " << layer_1d.num_features() << ", 'eps': " << options.eps
              << ", 'momentum': " << *options.momentum
              << ", 'affine': " << (options.affine ? "True" : "False")
              << ", 'track_running_stats': " << (options.track_running_stats ? "True" : "False")
              << ", 'num_batches_tracked': " << layer_1d.num_batches_tracked() << "}\n";

    // --- Checks
    // -----------------------------------------------------------------------------------
    int failures = 0;
    auto expect = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::cerr << "FAILED: " << what << '\n';
            ++failures;
        }
    };
    const std::size_t n = 100, c = 16, l = 784;
    const double m = double(n * l);
    for (std::size_t ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) sum += data_1d(i, ch, j);
        const double mean = sum / m;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) sq += std::pow(data_1d(i, ch, j) - mean, 2);
        const double unbiased = sq / (m - 1);
        const double rm = layer_1d.running_mean()(ch), rv = layer_1d.running_var()(ch);
        const std::string at = " (channel " + std::to_string(ch) + ")";

        // Bounds from the distribution: about 10 standard deviations of the estimates.
        expect(std::abs(rm - 0.05) < 1e-3, "running_mean near 0.05" + at);
        expect(std::abs(rv - (0.9 + 0.1 / 12)) < 5e-4, "running_var near 0.9083" + at);
        // PyTorch's update, exactly: momentum 0.1, unbiased variance, rounded once to float.
        expect(std::abs(rm - 0.1 * mean) <= 1e-7, "running_mean == 0.1 * batch mean" + at);
        expect(std::abs(rv - (0.9 + 0.1 * unbiased)) <= 1e-6,
               "running_var == 0.9 + 0.1 * unbiased variance" + at);
        expect(layer_1d.weight()(ch) == 1.f && layer_1d.bias()(ch) == 0.f,
               "weight 1 and bias 0" + at);

        // The output: mean 0 and (biased) variance 1 - eps / (var + eps), per channel.
        double osum = 0, osq = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) osum += out(i, ch, j);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < l; ++j) osq += std::pow(out(i, ch, j) - osum / m, 2);
        const double biased = sq / m;
        expect(std::abs(osum / m) < 1e-5, "output mean 0" + at);
        expect(std::abs(osq / m - biased / (biased + 1e-5)) < 1e-5, "output variance 1" + at);
    }
    expect(layer_1d.num_batches_tracked() == 1 && layer_1d.training(), "one training step tracked");
    return failures == 0 ? 0 : 1;
}
