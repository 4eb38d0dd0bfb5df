// benchmarks/compile_time/tu_loops.cpp: the work of tu_normfuse.cpp written as plain loops (the compile-time baseline).
//
// Normalize, BatchNorm2d (training and eval), LayerNorm over (C, H, W), GroupNorm, InstanceNorm2d
// and RMSNorm over C, on NCHW and NHWC, statistics in double: what a careful programmer writes
// without a library, one layout policy for both memory orders.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <type_traits>
#include <vector>

struct nchw {
    std::size_t n, c, h, w;
    std::size_t at(std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) const {
        return ((in * c + ic) * h + ih) * w + iw;
    }
};
struct nhwc {
    std::size_t n, c, h, w;
    std::size_t at(std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) const {
        return ((in * h + ih) * w + iw) * c + ic;
    }
};

/// Calls f(n, c, h, w) for every element, in memory order of the layout.
template <class Layout, class F>
void for_each(const Layout& l, F f) {
    if constexpr (std::is_same_v<Layout, nchw>) {
        for (std::size_t in = 0; in < l.n; ++in)
            for (std::size_t ic = 0; ic < l.c; ++ic)
                for (std::size_t ih = 0; ih < l.h; ++ih)
                    for (std::size_t iw = 0; iw < l.w; ++iw) f(in, ic, ih, iw);
    } else {
        for (std::size_t in = 0; in < l.n; ++in)
            for (std::size_t ih = 0; ih < l.h; ++ih)
                for (std::size_t iw = 0; iw < l.w; ++iw)
                    for (std::size_t ic = 0; ic < l.c; ++ic) f(in, ic, ih, iw);
    }
}

/// Mean and biased variance per slot, slot = key(n, c, h, w).
template <class Layout, class Key>
void slot_moments(const Layout& l, const float* x, std::size_t slots, Key key, std::vector<double>& mean,
                  std::vector<double>& var) {
    std::vector<double> s1(slots, 0.0), s2(slots, 0.0), count(slots, 0.0);
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const double v = x[l.at(in, ic, ih, iw)];
        const std::size_t s = key(in, ic, ih, iw);
        s1[s] += v;
        s2[s] += v * v;
        count[s] += 1;
    });
    mean.resize(slots);
    var.resize(slots);
    for (std::size_t s = 0; s < slots; ++s) {
        mean[s] = s1[s] / count[s];
        var[s] = s2[s] / count[s] - mean[s] * mean[s];
    }
}

template <class Layout>
void all_layers(const Layout& l, const float* x, float* y, std::size_t groups) {
    const double eps = 1e-5, momentum = 0.1;
    std::vector<float> mean(l.c, 0.5f), stdv(l.c, 0.25f), weight(l.c, 1.0f), bias(l.c, 0.0f);
    std::vector<float> running_mean(l.c, 0.0f), running_var(l.c, 1.0f);
    std::vector<double> m, v;

    // Normalize
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw);
        y[i] = (x[i] - mean[ic]) / stdv[ic];
    });

    // BatchNorm2d, training: batch statistics, running statistics, output
    slot_moments(
        l, x, l.c, [](std::size_t, std::size_t ic, std::size_t, std::size_t) { return ic; }, m, v);
    const double count = static_cast<double>(l.n * l.h * l.w);
    for (std::size_t ic = 0; ic < l.c; ++ic) {
        running_mean[ic] = static_cast<float>((1 - momentum) * running_mean[ic] + momentum * m[ic]);
        running_var[ic] = static_cast<float>((1 - momentum) * running_var[ic] + momentum * v[ic] * count / (count - 1));
    }
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw);
        y[i] = static_cast<float>((x[i] - m[ic]) / std::sqrt(v[ic] + eps) * weight[ic] + bias[ic]);
    });
    // BatchNorm2d, eval
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw);
        y[i] = static_cast<float>((x[i] - running_mean[ic]) / std::sqrt(running_var[ic] + eps) * weight[ic] + bias[ic]);
    });

    // LayerNorm over (C, H, W), weight and bias per (c, h, w)
    std::vector<float> ln_weight(l.c * l.h * l.w, 1.0f), ln_bias(l.c * l.h * l.w, 0.0f);
    slot_moments(
        l, x, l.n, [](std::size_t in, std::size_t, std::size_t, std::size_t) { return in; }, m, v);
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw), p = (ic * l.h + ih) * l.w + iw;
        y[i] = static_cast<float>((x[i] - m[in]) / std::sqrt(v[in] + eps) * ln_weight[p] + ln_bias[p]);
    });

    // GroupNorm
    const std::size_t per = l.c / groups;
    slot_moments(
        l, x, l.n * groups,
        [&](std::size_t in, std::size_t ic, std::size_t, std::size_t) { return in * groups + ic / per; }, m, v);
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw), s = in * groups + ic / per;
        y[i] = static_cast<float>((x[i] - m[s]) / std::sqrt(v[s] + eps) * weight[ic] + bias[ic]);
    });

    // InstanceNorm2d
    slot_moments(
        l, x, l.n * l.c, [&](std::size_t in, std::size_t ic, std::size_t, std::size_t) { return in * l.c + ic; }, m, v);
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw), s = in * l.c + ic;
        y[i] = static_cast<float>((x[i] - m[s]) / std::sqrt(v[s] + eps));
    });

    // RMSNorm over C
    std::vector<double> ms(l.n * l.h * l.w, 0.0);
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const double xv = x[l.at(in, ic, ih, iw)];
        ms[(in * l.h + ih) * l.w + iw] += xv * xv;
    });
    const double feps = 1.1920928955078125e-07;
    for_each(l, [&](std::size_t in, std::size_t ic, std::size_t ih, std::size_t iw) {
        const std::size_t i = l.at(in, ic, ih, iw);
        const double r = 1.0 / std::sqrt(ms[(in * l.h + ih) * l.w + iw] / static_cast<double>(l.c) + feps);
        y[i] = static_cast<float>(x[i] * r * weight[ic]);
    });
}

void run(const float* x, float* y, std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::size_t groups) {
    all_layers(nchw{n, c, h, w}, x, y, groups);
    all_layers(nhwc{n, c, h, w}, x, y, groups);
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
