// benchmarks/compile_time/tu_eigen.cpp: the work of tu_normfuse.cpp written with Eigen's Tensor module.
//
// Normalize, BatchNorm2d (training and eval), LayerNorm over (C, H, W), GroupNorm, InstanceNorm2d
// and RMSNorm over C, on NCHW and NHWC: TensorMaps, reductions over the other axes, and
// reshape + broadcast of the statistics, as an Eigen user writes them.
#include <cstddef>
#include <cstdio>
#include <vector>

#include <unsupported/Eigen/CXX11/Tensor>

using Eigen::Index;
template <int R>
using dims = Eigen::array<Index, R>;
template <int R>
using tensor = Eigen::Tensor<float, R, Eigen::RowMajor>;

template <bool ChannelsLast>
void all_layers(const float* x, float* y, Index n, Index c, Index h, Index w, Index groups) {
    constexpr int cp = ChannelsLast ? 3 : 1; // position of C
    constexpr int hp = ChannelsLast ? 1 : 2, wp = ChannelsLast ? 2 : 3;
    const dims<4> shape = ChannelsLast ? dims<4>{n, h, w, c} : dims<4>{n, c, h, w};
    Eigen::TensorMap<const tensor<4>> X(x, shape);
    Eigen::TensorMap<tensor<4>> Y(y, shape);
    const float eps = 1e-5f, momentum = 0.1f;

    // Per-channel vectors broadcast over the other axes.
    dims<4> channel_shape{1, 1, 1, 1}, channel_bcast = shape;
    channel_shape[cp] = c;
    channel_bcast[cp] = 1;
    tensor<1> mean(c), stdv(c), weight(c), bias(c), running_mean(c), running_var(c);
    mean.setConstant(0.5f);
    stdv.setConstant(0.25f);
    weight.setConstant(1.0f);
    bias.setConstant(0.0f);
    running_mean.setConstant(0.0f);
    running_var.setConstant(1.0f);
    auto per_channel = [&](const tensor<1>& v) { return v.reshape(channel_shape).broadcast(channel_bcast); };

    // Normalize
    Y = (X - per_channel(mean)) / per_channel(stdv);

    // BatchNorm2d, training
    const dims<3> not_c = ChannelsLast ? dims<3>{0, 1, 2} : dims<3>{0, 2, 3};
    tensor<1> batch_mean = X.mean(not_c);
    tensor<1> batch_var = (X - per_channel(batch_mean)).square().mean(not_c);
    const float count = static_cast<float>(n * h * w);
    running_mean = running_mean * (1 - momentum) + batch_mean * momentum;
    running_var = running_var * (1 - momentum) + batch_var * (momentum * count / (count - 1));
    tensor<1> scale = weight * (batch_var + eps).rsqrt();
    Y = (X - per_channel(batch_mean)) * per_channel(scale) + per_channel(bias);
    // BatchNorm2d, eval
    scale = weight * (running_var + eps).rsqrt();
    Y = (X - per_channel(running_mean)) * per_channel(scale) + per_channel(bias);

    // LayerNorm over (C, H, W)
    const dims<3> not_n{1, 2, 3};
    const dims<4> sample_shape{n, 1, 1, 1}, sample_bcast{1, shape[1], shape[2], shape[3]};
    const dims<4> item_shape{1, shape[1], shape[2], shape[3]}, item_bcast{n, 1, 1, 1};
    tensor<4> ln_weight(item_shape), ln_bias(item_shape);
    ln_weight.setConstant(1.0f);
    ln_bias.setConstant(0.0f);
    tensor<1> sample_mean = X.mean(not_n);
    tensor<1> sample_var = (X - sample_mean.reshape(sample_shape).broadcast(sample_bcast)).square().mean(not_n);
    Y = (X - sample_mean.reshape(sample_shape).broadcast(sample_bcast)) *
            (sample_var + eps).rsqrt().reshape(sample_shape).broadcast(sample_bcast) * ln_weight.broadcast(item_bcast) +
        ln_bias.broadcast(item_bcast);

    // GroupNorm: C seen as (G, K)
    const Index k = c / groups;
    const dims<5> gshape = ChannelsLast ? dims<5>{n, h, w, groups, k} : dims<5>{n, groups, k, h, w};
    constexpr int gp = ChannelsLast ? 3 : 1;
    const dims<3> not_ng = ChannelsLast ? dims<3>{1, 2, 4} : dims<3>{2, 3, 4};
    dims<5> group_shape{n, 1, 1, 1, 1}, group_bcast = gshape;
    group_shape[gp] = groups;
    group_bcast[0] = 1;
    group_bcast[gp] = 1;
    dims<5> gk_shape{1, 1, 1, 1, 1}, gk_bcast = gshape;
    gk_shape[gp] = groups;
    gk_shape[gp + 1] = k;
    gk_bcast[gp] = 1;
    gk_bcast[gp + 1] = 1;
    Eigen::TensorMap<const tensor<5>> XG(x, gshape);
    Eigen::TensorMap<tensor<5>> YG(y, gshape);
    tensor<2> group_mean = XG.mean(not_ng);
    tensor<2> group_var = (XG - group_mean.reshape(group_shape).broadcast(group_bcast)).square().mean(not_ng);
    YG = (XG - group_mean.reshape(group_shape).broadcast(group_bcast)) *
             (group_var + eps).rsqrt().reshape(group_shape).broadcast(group_bcast) *
             weight.reshape(gk_shape).broadcast(gk_bcast) +
         bias.reshape(gk_shape).broadcast(gk_bcast);

    // InstanceNorm2d: statistics per (n, c) over (H, W)
    const dims<2> hw{hp, wp};
    dims<4> inst_shape{n, 1, 1, 1}, inst_bcast = shape;
    inst_shape[cp] = c;
    inst_bcast[0] = 1;
    inst_bcast[cp] = 1;
    tensor<2> inst_mean = X.mean(hw);
    tensor<2> inst_var = (X - inst_mean.reshape(inst_shape).broadcast(inst_bcast)).square().mean(hw);
    Y = (X - inst_mean.reshape(inst_shape).broadcast(inst_bcast)) *
        (inst_var + eps).rsqrt().reshape(inst_shape).broadcast(inst_bcast);

    // RMSNorm over C
    const dims<1> only_c{cp};
    dims<4> pixel_shape = shape, pixel_bcast{1, 1, 1, 1};
    pixel_shape[cp] = 1;
    pixel_bcast[cp] = c;
    tensor<3> mean_square = X.square().mean(only_c);
    Y = X * (mean_square + 1.1920929e-07f).rsqrt().reshape(pixel_shape).broadcast(pixel_bcast) * per_channel(weight);
}

void run(const float* x, float* y, Index n, Index c, Index h, Index w, Index groups) {
    all_layers<false>(x, y, n, c, h, w, groups);
    all_layers<true>(x, y, n, c, h, w, groups);
}

int main() {
    const Index n = 2, c = 8, h = 5, w = 5;
    std::vector<float> x(static_cast<std::size_t>(n * c * h * w)), y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.25f;
    run(x.data(), y.data(), n, c, h, w, 4);
    double sum = 0;
    for (float v : y) sum += v;
    std::printf("%g\n", sum);
}
