// ThreadSanitizer test: one layer shared by 4 threads. Each layer kind is built once and put in
// eval mode; 4 threads then call its forward at the same time, each on its own input, two of them
// through a `const` reference and two through the mutable layer (an eval forward must not touch
// the layer either way). Every result must equal, bit for bit, the result of the same call made
// alone before the threads start (same code path, same data: the arithmetic is deterministic).
//
// Built alone with -fsanitize=thread by the `tsan` configuration of scripts/test.sh
// (NORMFUSE_TSAN_ONLY), without OpenMP (libgomp is not instrumented). A race is reported by TSan,
// which makes the program exit with a non-zero status; a wrong value is reported here.
#include <array>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>

using namespace nf::axes;

namespace {

constexpr std::size_t threads = 4;
constexpr int rounds = 2;
int failures = 0;

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

/// Deterministic data, different per `seed`, away from zero.
template <class T, class S>
nf::tensor<T, S> input(const nf::extents<S>& e, std::size_t seed) {
    nf::tensor<T, S> x(e);
    std::size_t state = seed * 2654435761u + 12345;
    for (std::size_t i = 0; i < x.size(); ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x.data()[i] = static_cast<T>(static_cast<double>((state >> 33) % 2000) / 250.0 - 3.9 + 0.1 * seed);
    }
    return x;
}

/// Runs `layer.forward` on 4 different inputs from 4 threads at once (rounds times each) and
/// compares every output with the single-threaded one.
template <class T, class S, class Layer>
void shared(const char* name, Layer& layer, const nf::extents<S>& e) {
    std::vector<nf::tensor<T, S>> xs, want, got;
    for (std::size_t t = 0; t < threads; ++t) {
        xs.push_back(input<T, S>(e, t + 1));
        want.emplace_back(e);
        got.emplace_back(e);
        std::as_const(layer).forward(xs[t], want[t]);
    }
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                if (t % 2 == 0)
                    std::as_const(layer).forward(xs[t], got[t]);
                else
                    layer.forward(xs[t], got[t]);
            }
        });
    for (auto& th : pool) th.join();
    for (std::size_t t = 0; t < threads; ++t)
        if (std::memcmp(got[t].data(), want[t].data(), want[t].size() * sizeof(T)) != 0) {
            std::fprintf(stderr, "FAILED: %s: thread %zu differs from the single-threaded result\n", name, t);
            ++failures;
        }
    std::printf("%-48s ok\n", name);
}

/// nf::nn::functional::batch_norm in eval with the parameters as read-only views.
template <class T>
struct functional_bn {
    std::vector<T> mean, var, weight;
    template <class X, class Y>
    void forward(const X& x, Y& y) const {
        using P = nf::view<const T, nf::shape<C<>>>;
        nf::nn::functional::batch_norm(x, y, P(mean.data(), {6}), P(var.data(), {6}), P(weight.data(), {6}),
                                       std::nullopt, false, 0.1, 1e-3);
    }
};

/// nf::nn::functional::group_norm with 2 groups and a read-only weight.
template <class T>
struct functional_gn {
    std::vector<T> weight;
    template <class X, class Y>
    void forward(const X& x, Y& y) const {
        nf::nn::functional::group_norm(x, y, 2, nf::view<const T, nf::shape<C<>>>(weight.data(), {6}));
    }
};

template <class T>
void all_layers() {
    const nf::extents<nchw> small({2, 6, 5, 7});
    const nf::extents<nhwc> small_last({2, 5, 7, 6});
    // Big enough for the block-by-block paths (inputs above 256 KiB of floats).
    const nf::extents<nchw> big({4, 32, 24, 24});

    nf::nn::normalize<T> norm({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {1.5, 2.0, 0.5, 1.0, 3.0, 0.25});
    shared<T>("normalize NCHW", norm, small);

    nf::nn::batch_norm2d<T> bn(6);
    for (std::size_t c = 0; c < 6; ++c) {
        bn.running_mean()(c) = T(0.1) * static_cast<T>(c);
        bn.running_var()(c) = T(1) + T(0.5) * static_cast<T>(c);
        bn.weight()(c) = T(1) - T(0.1) * static_cast<T>(c);
        bn.bias()(c) = T(0.2) * static_cast<T>(c);
    }
    bn.eval();
    shared<T>("batch_norm2d eval NCHW", bn, small);
    shared<T>("batch_norm2d eval NHWC", bn, small_last);
    nf::nn::batch_norm2d<T> untracked(6, {.track_running_stats = false});
    untracked.eval(); // batch statistics in eval
    shared<T>("batch_norm2d untracked eval NCHW", untracked, small);
    shared<T>("batch_norm2d untracked eval NHWC", untracked, small_last);

    nf::nn::instance_norm2d<T> in(6, {.affine = true, .track_running_stats = true});
    in.eval();
    shared<T>("instance_norm2d tracked eval NCHW", in, small);
    nf::nn::instance_norm2d<T> in_plain(6);
    in_plain.eval(); // instance statistics in eval
    shared<T>("instance_norm2d eval NCHW", in_plain, small);
    shared<T>("instance_norm2d eval NHWC", in_plain, small_last);
    nf::nn::instance_norm2d<T> in_big(32);
    in_big.eval();
    shared<T>("instance_norm2d eval NCHW big (blocks)", in_big, big);

    nf::nn::layer_norm<T, nf::shape<C<>, H<>, W<>>> ln_chw({6, 5, 7});
    ln_chw.eval();
    shared<T>("layer_norm over CHW of NCHW (rows)", ln_chw, small);
    nf::nn::layer_norm<T, nf::shape<C<>>> ln_c({6});
    shared<T>("layer_norm over C of NCHW (strided)", ln_c, small);
    nf::nn::layer_norm<T, nf::shape<H<>, W<>>> ln_hw({24, 24});
    shared<T>("layer_norm over HW of NCHW big (blocks)", ln_hw, big);

    nf::nn::group_norm<T> gn(3, 6);
    gn.eval();
    shared<T>("group_norm NCHW", gn, small);
    shared<T>("group_norm NHWC", gn, small_last);
    nf::nn::group_norm<T> gn_big(4, 32);
    shared<T>("group_norm NCHW big (blocks)", gn_big, big);

    // The functional API on parameters shared read-only by every thread.
    functional_bn<T> fbn{{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {1, 2, 3, 4, 5, 6}, {1, -1, 2, -2, 3, -3}};
    shared<T>("functional::batch_norm eval NCHW", fbn, small);
    functional_gn<T> fgn{{1, 2, 3, 4, 5, 6}};
    shared<T>("functional::group_norm NHWC", fgn, small_last);

    nf::nn::rms_norm<T, nf::shape<C<>>> rms({6});
    shared<T>("rms_norm over C of NHWC (rows)", rms, small_last);
    shared<T>("rms_norm over C of NCHW (strided)", rms, small);
}

} // namespace

int main() {
    all_layers<float>();
    all_layers<double>();
    std::printf("%s\n", failures ? "FAILED" : "all shared-layer results agree");
    return failures ? 1 : 0;
}
