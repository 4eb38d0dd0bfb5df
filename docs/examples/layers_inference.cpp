// Guide, chapter 6: inference. A const layer shared by request threads, the stateless functional
// API over weights the program already holds, eval BatchNorm folded into a scale and a shift, and
// the explicit-architecture call. Every value is compared with a plain loop in double; returns
// non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

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

/// y == (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c] for every element of an NCHW pair.
bool eval_output(const nf::tensor<float, nchw>& y, const nf::tensor<float, nchw>& x,
                 const std::vector<float>& mean, const std::vector<float>& var,
                 const std::vector<float>& w, const std::vector<float>& b) {
    const std::size_t c = x.extent<C<>>(), hw = x.extent<H<>>() * x.extent<W<>>();
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = (i / hw) % c;
        const double want =
            (x.data()[i] - double(mean[ch])) / std::sqrt(double(var[ch]) + 1e-5) * w[ch] + b[ch];
        if (std::abs(y.data()[i] - want) > 1e-5 * (1 + std::abs(want))) return false;
    }
    return true;
}
} // namespace

int main() {
    // Parameters as a program holds them after reading a checkpoint.
    const std::vector<float> mean{0.1f, -0.2f, 0.3f}, var{1.5f, 0.5f, 2.0f}, gamma{1.f, 2.f, 0.5f},
        beta{0.f, 0.1f, -0.1f};
    std::vector<nf::tensor<float, nchw>> requests;
    for (int r = 0; r < 4; ++r) {
        requests.emplace_back(nf::extents<nchw>({2, 3, 4, 5}));
        for (std::size_t i = 0; i < requests.back().size(); ++i)
            requests.back().data()[i] =
                std::sin(0.1f * static_cast<float>(i) + static_cast<float>(r));
    }

    // clang-format off
    // [snippet shared]
    nf::nn::batch_norm2d<float> trained(3);
    std::copy(mean.begin(), mean.end(), trained.running_mean().begin());
    std::copy(var.begin(), var.end(), trained.running_var().begin());
    std::copy(gamma.begin(), gamma.end(), trained.weight().begin());
    std::copy(beta.begin(), beta.end(), trained.bias().begin());
    trained.eval();

    const auto& model = trained; // inference: a const layer, shared by every thread
    std::vector<nf::tensor<float, nchw>> results(requests.size());
    std::vector<std::thread> workers;
    for (std::size_t r = 0; r < requests.size(); ++r)
        workers.emplace_back([&, r] { results[r] = model(requests[r]); });
    for (auto& w : workers) w.join();
    // [/snippet]
    // clang-format on
    for (std::size_t r = 0; r < requests.size(); ++r)
        expect(eval_output(results[r], requests[r], mean, var, gamma, beta), "shared const layer");

    // clang-format off
    // [snippet training_const]
    nf::nn::batch_norm2d<float> fresh(3); // training mode, with running statistics
    try {
        std::as_const(fresh)(requests[0]); // would update the running statistics
    } catch (const std::logic_error& e) {
        std::cout << e.what() << '\n';
    }
    // [/snippet]
    // clang-format on
    expect(fresh.num_batches_tracked() == 0, "a rejected const call changes nothing");

    // clang-format off
    // [snippet functional]
    namespace F = nf::nn::functional;
    using channels = nf::view<const float, nf::shape<C<>>>; // read-only, no copy
    const channels m(mean.data(), {3}), v(var.data(), {3}), g(gamma.data(), {3}), b(beta.data(), {3});

    nf::tensor<float, nchw> y(requests[0].extents());
    // torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training=False)
    F::batch_norm(requests[0], y, m, v, g, b);
    F::batch_norm(requests[0], y, m, v, std::nullopt, std::nullopt); // no affine parameters

    // Training updates running statistics through writable views of the program's memory.
    std::vector<float> run_mean(3, 0.f), run_var(3, 1.f);
    F::batch_norm(requests[0], y, nf::view<float, nf::shape<C<>>>(run_mean.data(), {3}),
                  nf::view<float, nf::shape<C<>>>(run_var.data(), {3}), g, b, /*training=*/true,
                  /*momentum=*/0.1, /*eps=*/1e-5);

    // The other layers: layer_norm, group_norm, instance_norm, rms_norm, normalize.
    F::group_norm(requests[0], y, /*num_groups=*/3, g, b);
    F::layer_norm(requests[0], y, nf::extents<nf::shape<H<>, W<>>>({4, 5})); // no affine parameters
    // [/snippet]
    // clang-format on
    {
        double sum[3] = {0, 0, 0};
        const auto& x = requests[0];
        for (std::size_t i = 0; i < x.size(); ++i) sum[(i / 20) % 3] += x.data()[i];
        bool ok = true;
        for (std::size_t c = 0; c < 3; ++c)
            ok = ok && std::abs(run_mean[c] - 0.1 * sum[c] / 40) < 1e-6;
        expect(ok, "functional training updates the running mean");
        nf::tensor<float, nchw> ye(x.extents());
        F::batch_norm(x, ye, m, v, g, b);
        expect(eval_output(ye, x, mean, var, gamma, beta), "functional eval");
    }

    // clang-format off
    // [snippet fold]
    // Eval BatchNorm as one multiply-add per element, e.g. to merge into the preceding convolution.
    auto [scale, shift] = nf::nn::fold_batch_norm(model); // tensors over C
    nf::tensor<float, nchw> z = requests[1] * scale + shift;
    // [/snippet]
    // clang-format on
    expect(eval_output(z, requests[1], mean, var, gamma, beta), "folded BatchNorm");

    // clang-format off
    // [snippet arch]
    // In a kernel compiled for one instruction set, name it: the call's mangled name carries it.
    model.template forward<xsimd::default_arch>(requests[2], y);
    // [/snippet]
    // clang-format on
    expect(eval_output(y, requests[2], mean, var, gamma, beta), "explicit architecture");
    return failures == 0 ? 0 : 1;
}
