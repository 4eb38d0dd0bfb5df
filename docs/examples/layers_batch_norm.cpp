// Guide, chapter 6: BatchNorm with PyTorch 1.13 semantics: training with batch statistics, the
// running statistics (momentum and momentum=None), eval mode, layouts and in-place use. Every
// value is compared with a plain loop in double; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <optional>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}
bool near(double got, double want, double tolerance) {
    return std::abs(got - want) <= tolerance * (1 + std::abs(want));
}

/// Per-channel mean, biased and unbiased variance of an NCHW tensor, in double.
struct channel_stats {
    std::vector<double> mean, biased, unbiased;
};
channel_stats stats_of(const nf::tensor<float, nchw>& x) {
    const std::size_t n = x.extent<N<>>(), c = x.extent<C<>>(),
                      hw = x.extent<H<>>() * x.extent<W<>>();
    channel_stats s{std::vector<double>(c), std::vector<double>(c), std::vector<double>(c)};
    for (std::size_t ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < hw; ++j) sum += x.data()[(i * c + ch) * hw + j];
        const double m = sum / double(n * hw);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < hw; ++j)
                sq += std::pow(x.data()[(i * c + ch) * hw + j] - m, 2);
        s.mean[ch] = m;
        s.biased[ch] = sq / double(n * hw);
        s.unbiased[ch] = sq / double(n * hw - 1);
    }
    return s;
}

/// y == (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c] for every element of an NCHW pair.
bool normalized(const nf::tensor<float, nchw>& y, const nf::tensor<float, nchw>& x,
                const std::vector<double>& mean, const std::vector<double>& var,
                const std::vector<double>& w, const std::vector<double>& b) {
    const std::size_t c = x.extent<C<>>(), hw = x.extent<H<>>() * x.extent<W<>>();
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t ch = (i / hw) % c;
        const double want = (x.data()[i] - mean[ch]) / std::sqrt(var[ch] + 1e-5) * w[ch] + b[ch];
        if (!near(y.data()[i], want, 1e-5)) return false;
    }
    return true;
}
} // namespace

int main() {
    nf::tensor<float, nchw> x({4, 3, 5, 6});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = 2.f * std::sin(0.3f * static_cast<float>(i)) + 0.5f;
    const channel_stats batch = stats_of(x);
    const std::vector<double> one(3, 1.0), zero(3, 0.0);

    // clang-format off
    // [snippet train]
    // nn.BatchNorm2d(3): eps 1e-5, momentum 0.1, affine, tracking
    nf::nn::batch_norm2d<float> bn(3);
    nf::tensor<float, nchw> y = bn(x); // training mode: batch mean and biased variance

    // running_mean = 0.9 * 0 + 0.1 * mean, running_var = 0.9 * 1 + 0.1 * unbiased variance
    std::cout << bn.running_mean() << '\n' << bn.running_var() << '\n';
    std::cout << "num_batches_tracked: " << bn.num_batches_tracked() << '\n'; // 1
    // [/snippet]
    // clang-format on
    expect(normalized(y, x, batch.mean, batch.biased, one, zero), "training output");
    bool ok = bn.num_batches_tracked() == 1;
    for (std::size_t c = 0; c < 3; ++c)
        ok = ok && near(bn.running_mean()(c), 0.1 * batch.mean[c], 1e-6) &&
             near(bn.running_var()(c), 0.9 + 0.1 * batch.unbiased[c], 1e-6);
    expect(ok, "running statistics after one step");

    // clang-format off
    // [snippet eval]
    bn.weight()(1) = 2.f; // learnable parameters: set elements...
    bn.bias() = 0.5f;     // ...or every element at once
    bn.eval();            // module.eval(): normalize with the running statistics
    y = bn(x);            // nothing is updated
    // [/snippet]
    // clang-format on
    std::vector<double> rm(3), rv(3);
    for (std::size_t c = 0; c < 3; ++c) {
        rm[c] = bn.running_mean()(c);
        rv[c] = bn.running_var()(c);
    }
    expect(normalized(y, x, rm, rv, {1.0, 2.0, 1.0}, {0.5, 0.5, 0.5}), "eval output");
    expect(bn.num_batches_tracked() == 1, "eval does not count batches");

    // clang-format off
    // [snippet cumulative]
    nf::nn::batch_norm2d<float> cumulative(3, {.momentum = std::nullopt}); // momentum=None
    nf::tensor<float, nchw> x2({4, 3, 5, 6}, 1.f);
    cumulative(x);
    cumulative(x2);
    // running_mean is now the plain average of the two batch means (factor 1 / num_batches_tracked)
    // [/snippet]
    // clang-format on
    const channel_stats batch2 = stats_of(x2);
    ok = cumulative.num_batches_tracked() == 2;
    for (std::size_t c = 0; c < 3; ++c)
        ok = ok && near(cumulative.running_mean()(c), (batch.mean[c] + batch2.mean[c]) / 2, 1e-6) &&
             near(cumulative.running_var()(c), (batch.unbiased[c] + batch2.unbiased[c]) / 2, 1e-6);
    expect(ok, "momentum=None: cumulative average");

    // clang-format off
    // [snippet layouts]
    nf::nn::batch_norm2d<float> layer(3);
    nf::tensor<float, nhwc> y_last({4, 5, 6, 3});
    layer.forward(x, y_last); // NCHW in, NHWC out: any layouts of the same axes

    std::vector<float> memory(x.begin(), x.end());
    nf::view<float, nchw> in_memory(memory.data(), {4, 3, 5, 6});
    nf::nn::batch_norm2d<float> other(3);
    other(in_memory, nf::nn::in_place); // in place, in memory the program owns
    // [/snippet]
    // clang-format on
    ok = true;
    nf::tensor<float, nchw> back({4, 3, 5, 6});
    back = y_last;
    expect(normalized(back, x, batch.mean, batch.biased, one, zero), "NCHW in, NHWC out");
    back = in_memory;
    expect(normalized(back, x, batch.mean, batch.biased, one, zero), "in place through a view");

    nf::tensor<float, nf::shape<N<>, C<3>, L<>>> seq({4, 30});
    for (std::size_t i = 0; i < seq.size(); ++i) seq.data()[i] = x.data()[i];

    // clang-format off
    // [snippet no_tracking]
    nf::nn::batch_norm1d<float, 3> plain(3, {.affine = false, .track_running_stats = false});
    // without running statistics, eval uses the batch's too
    plain.eval();
    nf::tensor<float, nf::shape<N<>, C<3>, L<>>> seq_out = plain(seq); // seq: (N, C, L)
    // [/snippet]
    // clang-format on
    nf::tensor<float, nchw> seq_as_nchw({4, 3, 5, 6});
    for (std::size_t i = 0; i < seq_out.size(); ++i) seq_as_nchw.data()[i] = seq_out.data()[i];
    expect(normalized(seq_as_nchw, x, batch.mean, batch.biased, one, zero),
           "batch_norm1d without tracking in eval");
    return failures == 0 ? 0 : 1;
}
