// Guide, chapter 11: training: saved statistics, backward, accumulate versus overwrite, a training
// step. Checks the gradients against properties that hold exactly for BatchNorm's training backward
// (per channel, sum dx = 0 and sum dx * xhat = 0 without affine) and against a plain loop in double
// for LayerNorm; returns non-zero on a wrong value.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <optional>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

int main() {
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    nf::tensor<float, nhwc> x({4, 5, 5, 16}), y(x.extents()), dx(x.extents()), target(x.extents());
    for (std::size_t i = 0; i < x.size(); ++i) {
        x.data()[i] = 3.0f + std::sin(0.37f * static_cast<float>(i));
        target.data()[i] = std::cos(0.11f * static_cast<float>(i));
    }
    // clang-format off
    // [snippet saved]
    nf::nn::batch_norm2d<float> bn(16);
    nf::nn::saved_statistics saved; // per channel: mean and 1 / sqrt(var + eps), in double
    bn.forward(x, y, saved);        // training: batch statistics, kept in `saved` on the way
    // [/snippet]
    // clang-format on
    nf::tensor<float, nhwc> dy = y - target;
    // clang-format off
    // [snippet backward]
    bn.backward(x, dy, dx, saved);  // dx overwritten; weight_grad() and bias_grad() accumulated
    // [/snippet]
    // clang-format on

    // Per channel, sum dx = 0 (dx goes through the batch mean), and with weight 1,
    // sum dx * (x - mean) = invstd^3 eps sum dy * (x - mean) (through the batch variance: 0 if eps = 0).
    int failures = 0;
    for (std::size_t c = 0; c < 16; ++c) {
        double s = 0, t = 0, scale = 0, s2 = 0, scale2 = 0;
        for (std::size_t i = c; i < x.size(); i += 16) {
            const double d = x.data()[i] - saved.mean()[c];
            s += dx.data()[i];
            t += dx.data()[i] * d;
            s2 += dy.data()[i] * d;
            scale += std::abs(dx.data()[i]);
            scale2 += std::abs(dx.data()[i] * d);
        }
        const double is = saved.invstd()[c], want_t = is * is * is * 1e-5 * s2;
        if (std::abs(s) > 1e-5 * scale || std::abs(t - want_t) > 1e-5 * scale2) {
            std::cerr << "FAILED: batch_norm backward, channel " << c << "\n";
            ++failures;
        }
        double db = 0;
        for (std::size_t i = c; i < x.size(); i += 16) db += dy.data()[i];
        if (std::abs(bn.bias_grad()(c) - db) > 1e-4 * (1 + std::abs(db))) {
            std::cerr << "FAILED: bias_grad, channel " << c << "\n";
            ++failures;
        }
    }

    // clang-format off
    // [snippet step]
    const float lr = 0.1f;
    for (int step = 0; step < 3; ++step) {
        bn.zero_grad();                 // as optimizer.zero_grad(): .grad accumulates otherwise
        bn.forward(x, y, saved);
        dy = y - target;                // the gradient of 0.5 * ||y - target||^2
        bn.backward(x, dy, dx, saved);
        bn.weight() = bn.weight() - lr * bn.weight_grad();
        bn.bias() = bn.bias() - lr * bn.bias_grad();
    }
    // [/snippet]
    // clang-format on
    if (bn.num_batches_tracked() != 4) {
        std::cerr << "FAILED: num_batches_tracked\n";
        ++failures;
    }

    // clang-format off
    // [snippet functional]
    nf::tensor<float, nf::shape<C<>>> w({16}, 1.0f), b({16}, 0.0f), dw(w.extents()), db(w.extents());
    std::vector<double> mean(16), invstd(16);      // caller storage: the calls allocate nothing
    nf::nn::saved_statistics kept(mean, invstd);
    nf::nn::functional::batch_norm(x, y, std::nullopt, std::nullopt, w, b, true, 0.1, 1e-5, kept);
    nf::nn::functional::batch_norm_backward(x, dy, dx, w, std::nullopt, std::nullopt, kept, true, 1e-5, dw, db,
                                            {.input = nf::nn::grad_write::overwrite,
                                             .parameters = nf::nn::grad_write::overwrite});
    // [/snippet]
    // clang-format on
    if (kept.mean().data() != mean.data() || std::abs(mean[0] - saved.mean()[0]) > 1e-12) {
        std::cerr << "FAILED: caller storage\n";
        ++failures;
    }

    // clang-format off
    // [snippet layer_norm]
    using tokens = nf::shape<N<>, C<>>; // (tokens, hidden): the normalized axis C is trailing
    nf::tensor<float, tokens> t({8, 64}), dt({8, 64}), dtx({8, 64});
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({64});
    ln.backward(t, dt, dtx);            // each row's statistics recomputed while it is in L1
    // [/snippet]
    // clang-format on
    for (std::size_t i = 0; i < t.size(); ++i) {
        t.data()[i] = std::sin(0.3f * static_cast<float>(i)) + 2.0f;
        dt.data()[i] = std::cos(0.7f * static_cast<float>(i));
    }
    ln.zero_grad();
    ln.backward(t, dt, dtx);
    for (std::size_t r = 0; r < 8; ++r) {
        double m = 0, v = 0, sg = 0, sgx = 0;
        for (std::size_t j = 0; j < 64; ++j) m += t(r, j) / 64.0;
        for (std::size_t j = 0; j < 64; ++j) v += (t(r, j) - m) * (t(r, j) - m) / 64.0;
        const double rs = 1 / std::sqrt(v + 1e-5);
        for (std::size_t j = 0; j < 64; ++j) {
            sg += dt(r, j);
            sgx += dt(r, j) * (t(r, j) - m) * rs;
        }
        for (std::size_t j = 0; j < 64; ++j) {
            const double want = rs * (dt(r, j) - sg / 64 - (t(r, j) - m) * rs * sgx / 64);
            if (std::abs(dtx(r, j) - want) > 1e-5 * (1 + std::abs(want))) {
                std::cerr << "FAILED: layer_norm backward at (" << r << ", " << j << ")\n";
                return 1;
            }
        }
    }
    return failures == 0 ? 0 : 1;
}
