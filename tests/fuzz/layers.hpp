// tests/fuzz/layers.hpp: layer cases (Normalize, BatchNorm, InstanceNorm, LayerNorm, GroupNorm,
// RMSNorm) in multi-step train/eval sequences, against a float64 reference of PyTorch 1.13's
// semantics, and the runner for one layout set.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "expr.hpp"

namespace fz {

// --- Reference ------------------------------------------------------------------------------------

/// Statistics per slot, slot_of(idx) in [0, slots), of the exact float values x (dense, laid out
/// as `order`).
template <class SlotOf>
std::vector<slot_stats> slot_reference(const std::vector<int>& order, const extent_map& ext, std::size_t slots,
                                       const std::vector<float>& x, SlotOf&& slot_of) {
    std::vector<slot_stats> st(slots);
    for_each_index(order, ext, [&](const extent_map& idx, std::size_t lin) { st[slot_of(idx)].add(exact(x[lin])); });
    for (auto& s : st) s.finish_mean();
    for_each_index(order, ext,
                   [&](const extent_map& idx, std::size_t lin) { st[slot_of(idx)].add_second(exact(x[lin])); });
    return st;
}

/// The layers' outputs, y = (x - mu) / s * w + b with statistics in double. The layers promise
/// float results within a few ulps of this even when |mean| >> std: a float evaluation of
/// (x - k) * a + o, with k any value in the slot's range (|k - mu| <= R, the slot's largest
/// deviation), a = w / s and o = b - (mu - k) a rounded to float, makes at most
///   u |x - k| |a| (the subtraction) + u |x - k| |a| (a's rounding) + u |(x - k) a| (product)
///   + u |o| <= u (|b| + R |a|) (o's rounding) + u |y| (the sum) <= 5 u M,
/// with M = |b| + |w| (|x - mu| + R) / s; LayerNorm's weight and bias after the normalization add
/// two more roundings (<= 7 u M). The bound allowed is 8 u M (+ underflow). In eval mode mu and s
/// come from the running statistics and R = 0. Statistics in double are exact to far below u.
inline ev normalized(double x, double mu, double s, double radius, double w, double b) {
    const double v = (x - mu) / s * w + b;
    if (std::isnan(v)) return {v, 0};
    const double m = std::fabs(b) + std::fabs(w) * (std::fabs(x - mu) + radius) / s;
    // Underflow: each rounding into the subnormal range adds up to eta, and LayerNorm's
    // normalized value (three roundings) is then scaled by w: (4 + 4 |w|) eta.
    return {v, 8 * u * m + (4 + 4 * std::fabs(w)) * eta};
}

/// A running statistic, (1 - f) old + f batch, computed in double and rounded once: within
/// u of the magnitudes (allowed: 4 u). `batch_error` bounds the error of the batch statistic
/// itself, computed in double by a sum whose terms may cancel: a batch mean of about 0 over values
/// of about 1 is exact only to some 2^-53 of the values, not of the result (seed 20261237 case 47).
inline ev running(double old, double f, double batch, double batch_error) {
    const double v = (1 - f) * old + f * batch;
    if (std::isnan(v)) return {v, 0};
    return {v, 4 * u * (std::fabs((1 - f) * old) + std::fabs(f * batch)) + f * batch_error + 4 * eta};
}

/// A bound on the double rounding error of a slot's mean and variance, however the sums are
/// ordered or shifted: a sum of n terms of magnitude at most m errs by at most (n - 1) 2^-53 n m;
/// allowed 4 n 2^-53 of the largest magnitude (|mean| + radius for the mean, radius^2 for the
/// variance, whose squared deviations from a shift inside the slot's range are at most (2 radius)^2).
inline double mean_error(double count, double mean, double radius) {
    return 4 * count * 0x1.0p-53 * (std::fabs(mean) + radius);
}
inline double var_error(double count, double radius) {
    return 4 * count * 0x1.0p-53 * 4 * radius * radius;
}

// --- Library side ------------------------------------------------------------------------------------

/// The normalized shapes of LayerNorm and RMSNorm cases (form 0..3) for a layout set.
template <int Set, int Form>
struct norm_shape;
// clang-format off
template <> struct norm_shape<set_img, 0> { using type = nf::shape<ax::C<>>; };
template <> struct norm_shape<set_img, 1> { using type = nf::shape<ax::H<>, ax::W<>>; };
template <> struct norm_shape<set_img, 2> { using type = nf::shape<ax::C<>, ax::H<>, ax::W<>>; };
template <> struct norm_shape<set_img, 3> { using type = nf::shape<ax::W<>, ax::H<>>; };
template <> struct norm_shape<set_seq, 0> { using type = nf::shape<ax::C<>>; };
template <> struct norm_shape<set_seq, 1> { using type = nf::shape<ax::L<>>; };
template <> struct norm_shape<set_seq, 2> { using type = nf::shape<ax::C<>, ax::L<>>; };
template <> struct norm_shape<set_seq, 3> { using type = nf::shape<ax::L<>, ax::C<>>; };
// clang-format on

template <class F>
void with_form(int form, F&& f) {
    switch (form) {
    case 0:
        f(std::integral_constant<int, 0>{});
        break;
    case 1:
        f(std::integral_constant<int, 1>{});
        break;
    case 2:
        f(std::integral_constant<int, 2>{});
        break;
    default:
        f(std::integral_constant<int, 3>{});
        break;
    }
}

/// One forward of `layer` on the step's input: in place, into a new tensor, or into an output of
/// the case's output layout (tensor or view). Returns the output laid out as `out_order`.
template <class SI, class SO, class Layer>
std::vector<float> layer_step(Layer& layer, const fuzz_case& c, const extent_map& ext, const std::vector<float>& x,
                              checker& chk, bool& ok) {
    memory<SI> in(ext, c.owning, c.in_offset);
    in.fill(x);
    std::vector<float> got;
    ok = guarded(chk, [&] {
        if (c.in_place) {
            if constexpr (std::is_same_v<SI, SO>) {
                if (in.owned)
                    layer(*in.owned, nf::nn::in_place);
                else
                    layer(in.view(), nf::nn::in_place);
                got = in.values();
            }
        } else if (c.owning && std::is_same_v<SI, SO>) {
            const auto y = layer(*in.owned);
            got.assign(y.data(), y.data() + y.size());
        } else {
            memory<SO> out(ext, c.owning, c.out_offset);
            if (out.owned)
                layer.forward(in.cview(), *out.owned);
            else
                layer.forward(in.cview(), out.view());
            got = out.values();
        }
    });
    return got;
}

template <int Set>
constexpr std::size_t spatial_dims() {
    return Set == set_vol ? 3 : Set == set_img ? 2 : 1;
}

template <int Set>
std::vector<float> run_layer_set(const fuzz_case& c, int threads, checker& chk) {
    std::vector<float> outputs;
    const auto& set = layouts(Set);
    const layout_info& li = set[static_cast<std::size_t>(c.layout)];
    const layout_info& lo = set[static_cast<std::size_t>(c.out_layout)];
    const auto& out_order = c.in_place ? li.order : lo.order;
    const std::size_t C = c.ext[aC];
    const std::vector<float> w = make_data(data_kind::normal, 4096, c.data_seed + 7);
    const std::vector<float> b = make_data(data_kind::normal, 4096, c.data_seed + 8);
    run_settings rs(c, threads);
    bool empty = false;
    for (int a : li.order)
        if (c.ext[a] == 0) empty = true;
    for (auto n : c.batch)
        if (n == 0) empty = true;

    with_layouts<Set>(c, [&]<class SI, class SO, int I>(std::type_identity<SI>, std::type_identity<SO>,
                                                        std::integral_constant<int, I>) {
        // Runs the steps: forward(step input) then check(step, input, extents, output) for each.
        auto sequence = [&](auto& layer, auto&& before, auto&& check) {
            for (int step = 0; step < c.steps; ++step) {
                extent_map ext = c.ext;
                ext[aN] = c.batch.empty() ? c.ext[aN] : c.batch[static_cast<std::size_t>(step)];
                const bool train = (c.train_bits >> step & 1u) != 0;
                const auto x =
                    make_data(c.data, count_of(li.order, ext), c.data_seed + 100 * static_cast<unsigned>(step));
                chk.context = "threads " + std::to_string(threads) + ", step " + std::to_string(step) +
                              (train ? " (train)" : " (eval)");
                before(train);
                bool ok = false;
                const auto got = layer_step<SI, SO>(layer, c, ext, x, chk, ok);
                if (!ok) return;
                if (got.size() != count_of(li.order, ext)) {
                    chk.fail("output has " + std::to_string(got.size()) + " elements");
                    return;
                }
                if (!empty) check(step, train, ext, x, got);
                outputs.insert(outputs.end(), got.begin(), got.end());
            }
        };
        auto compare = [&](const extent_map& ext, const std::vector<float>& got, auto&& ref_of) {
            const extent_map ostr = strides_of(out_order, ext);
            for_each_index(li.order, ext, [&](const extent_map& idx, std::size_t lin) {
                const std::size_t o = offset_of(idx, ostr);
                chk.value("y", o, got[o], ref_of(idx, lin));
            });
        };
        auto wv = [&](std::size_t i) { return c.affine ? static_cast<double>(w[i % w.size()]) : 1.0; };
        auto bv = [&](std::size_t i) { return c.affine ? static_cast<double>(b[i % b.size()]) : 0.0; };

        if (c.k == kind::normalize) {
            if constexpr (SI::rank >= 3) {
                const bool one = (c.data_seed & 3) == 0; // a single mean/std for every channel
                std::vector<double> mean(one ? 1 : C), stdev(one ? 1 : C);
                for (std::size_t i = 0; i < mean.size(); ++i) {
                    mean[i] = static_cast<double>(w[i % w.size()]) * 0.5;
                    stdev[i] = 0.1 + std::fabs(static_cast<double>(b[i % b.size()]));
                }
                nf::nn::normalize<float> layer{std::span<const double>(mean), std::span<const double>(stdev)};
                sequence(
                    layer, [](bool) {},
                    [&](int, bool, const extent_map& ext, const std::vector<float>& x, const std::vector<float>& got) {
                        const extent_map ostr = strides_of(out_order, ext);
                        for_each_index(li.order, ext, [&](const extent_map& idx, std::size_t lin) {
                            const std::size_t ch = one ? 0 : idx[aC];
                            // torchvision: mean and std rounded to float, then (x - mean) / std in float.
                            const float t = x[lin] - static_cast<float>(mean[ch]);
                            const float want = t / static_cast<float>(stdev[ch]);
                            const std::size_t o = offset_of(idx, ostr);
                            chk.same("y", o, got[o], want);
                        });
                    });
            } // else: torchvision (and nf::nn::normalize) reject inputs of fewer than 3 axes at compile time
        } else if (c.k == kind::batch_norm || c.k == kind::instance_norm) {
            const bool bn = c.k == kind::batch_norm;
            auto run = [&](auto& layer) {
                if (c.affine)
                    for (std::size_t i = 0; i < C; ++i) {
                        layer.weight()(i) = w[i % w.size()];
                        layer.bias()(i) = b[i % b.size()];
                    }
                std::vector<float> rm, rv;
                std::int64_t tracked = 0;
                sequence(
                    layer,
                    [&](bool train) {
                        layer.train(train);
                        if (c.track) {
                            rm.assign(layer.running_mean().data(), layer.running_mean().data() + C);
                            rv.assign(layer.running_var().data(), layer.running_var().data() + C);
                        }
                    },
                    [&](int, bool train, const extent_map& ext, const std::vector<float>& x,
                        const std::vector<float>& got) {
                        const std::size_t n = ext[aN];
                        const bool batch_stats = train || !c.track;
                        if (batch_stats) {
                            // BatchNorm: one slot per channel; InstanceNorm: per (n, c).
                            const std::size_t slots = bn ? C : n * C;
                            const auto st = slot_reference(li.order, ext, slots, x, [&](const extent_map& idx) {
                                return bn ? idx[aC] : idx[aN] * C + idx[aC];
                            });
                            compare(ext, got, [&](const extent_map& idx, std::size_t lin) {
                                const auto& s = st[bn ? idx[aC] : idx[aN] * C + idx[aC]];
                                return normalized(x[lin], s.mean, std::sqrt(s.m2 / s.count + c.eps), s.radius,
                                                  wv(idx[aC]), bv(idx[aC]));
                            });
                            if (train && c.track) {
                                double f = c.momentum;
                                if (bn) {
                                    ++tracked;
                                    if (c.cumulative) f = 1.0 / static_cast<double>(tracked);
                                    if (layer.num_batches_tracked() != tracked)
                                        chk.fail("num_batches_tracked " + std::to_string(layer.num_batches_tracked()) +
                                                 ", expected " + std::to_string(tracked));
                                }
                                for (std::size_t ch = 0; ch < C; ++ch) {
                                    double mean = 0, var = 0, mean_err = 0, var_err = 0;
                                    if (bn) {
                                        const auto& s = st[ch];
                                        mean = s.mean;
                                        var = s.m2 / (s.count - 1);
                                        mean_err = mean_error(s.count, s.mean, s.radius);
                                        var_err = var_error(s.count, s.radius);
                                    } else { // the batch average of the instance statistics
                                        for (std::size_t i = 0; i < n; ++i) {
                                            const auto& s = st[i * C + ch];
                                            mean += s.mean;
                                            var += s.m2 / (s.count - 1);
                                            // each term's own error, and the batch sum's (n terms)
                                            mean_err += mean_error(s.count + n, s.mean, s.radius);
                                            var_err += var_error(s.count + n, s.radius);
                                        }
                                        mean /= static_cast<double>(n);
                                        var /= static_cast<double>(n);
                                        mean_err /= static_cast<double>(n);
                                        var_err /= static_cast<double>(n);
                                    }
                                    chk.value("running_mean", ch, layer.running_mean()(ch),
                                              running(rm[ch], f, mean, mean_err));
                                    chk.value("running_var", ch, layer.running_var()(ch),
                                              running(rv[ch], f, var, var_err));
                                }
                            }
                        } else {
                            compare(ext, got, [&](const extent_map& idx, std::size_t lin) {
                                const std::size_t ch = idx[aC];
                                return normalized(x[lin], rm[ch], std::sqrt(static_cast<double>(rv[ch]) + c.eps), 0,
                                                  wv(ch), bv(ch));
                            });
                        }
                    });
            };
            constexpr std::size_t dims = spatial_dims<Set>();
            if (bn) {
                nf::nn::batch_norm<float, dims> layer(
                    C, {.eps = c.eps,
                        .momentum = c.cumulative ? std::optional<double>() : std::optional<double>(c.momentum),
                        .affine = c.affine,
                        .track_running_stats = c.track});
                run(layer);
            } else if constexpr (Set != set_vec) {
                nf::nn::instance_norm<float, dims> layer(
                    C, {.eps = c.eps, .momentum = c.momentum, .affine = c.affine, .track_running_stats = c.track});
                run(layer);
            }
        } else if (c.k == kind::group_norm) {
            const std::size_t G = c.groups, per = C / G;
            nf::nn::group_norm<float> layer(G, C, {.eps = c.eps, .affine = c.affine});
            if (c.affine)
                for (std::size_t i = 0; i < C; ++i) {
                    layer.weight()(i) = w[i % w.size()];
                    layer.bias()(i) = b[i % b.size()];
                }
            sequence(
                layer, [&](bool train) { layer.train(train); },
                [&](int, bool, const extent_map& ext, const std::vector<float>& x, const std::vector<float>& got) {
                    auto slot = [&](const extent_map& idx) { return idx[aN] * G + idx[aC] / per; };
                    const auto st = slot_reference(li.order, ext, ext[aN] * G, x, slot);
                    compare(ext, got, [&](const extent_map& idx, std::size_t lin) {
                        const auto& s = st[slot(idx)];
                        return normalized(x[lin], s.mean, std::sqrt(s.m2 / s.count + c.eps), s.radius, wv(idx[aC]),
                                          bv(idx[aC]));
                    });
                });
        } else if constexpr ((Set == set_img || Set == set_seq) && std::is_same_v<SI, SO>) {
            // LayerNorm and RMSNorm over a normalized shape of named axes.
            with_form(all_forms(I) ? c.form : 0, [&]<int F>(std::integral_constant<int, F>) {
                if constexpr (F == 0 || all_forms(I)) {
                    using NS = typename norm_shape<Set, F>::type;
                    const layout_info ni = info_of<NS>();
                    unsigned normed = 0;
                    for (int a : ni.order) normed |= 1u << a;
                    for (int a : ni.order)
                        if (c.ext[a] == 0) return; // a normalized shape of no elements: not a valid layer
                    const extent_map pstr = strides_of(ni.order, c.ext);
                    std::vector<int> kept;
                    for (int a : li.order)
                        if (!(normed >> a & 1u)) kept.push_back(a);
                    const std::size_t psize = count_of(ni.order, c.ext);
                    auto slot_fn = [&](const extent_map& ext) {
                        const extent_map kstr = strides_of(kept, ext);
                        return [kstr](const extent_map& idx) { return offset_of(idx, kstr); };
                    };
                    if (c.k == kind::layer_norm) {
                        nf::nn::layer_norm<float, NS> layer(extents_of<NS>(c.ext),
                                                            {.eps = c.eps, .elementwise_affine = c.affine});
                        if (c.affine)
                            for (std::size_t i = 0; i < psize; ++i) {
                                layer.weight().data()[i] = w[i % w.size()];
                                layer.bias().data()[i] = b[i % b.size()];
                            }
                        sequence(
                            layer, [&](bool train) { layer.train(train); },
                            [&](int, bool, const extent_map& ext, const std::vector<float>& x,
                                const std::vector<float>& got) {
                                const auto slot = slot_fn(ext);
                                const auto st = slot_reference(li.order, ext, count_of(kept, ext), x, slot);
                                compare(ext, got, [&](const extent_map& idx, std::size_t lin) {
                                    const auto& s = st[slot(idx)];
                                    const std::size_t p = offset_of(idx, pstr);
                                    return normalized(x[lin], s.mean, std::sqrt(s.m2 / s.count + c.eps), s.radius,
                                                      wv(p), bv(p));
                                });
                            });
                    } else {
                        const bool default_eps = (c.data_seed & 4) != 0;
                        nf::nn::rms_norm_options o;
                        if (!default_eps) o.eps = c.eps;
                        o.elementwise_affine = c.affine;
                        nf::nn::rms_norm<float, NS> layer(extents_of<NS>(c.ext), o);
                        const double eps =
                            default_eps ? static_cast<double>(std::numeric_limits<float>::epsilon()) : c.eps;
                        if (c.affine)
                            for (std::size_t i = 0; i < psize; ++i) layer.weight().data()[i] = w[i % w.size()];
                        sequence(
                            layer, [](bool) {},
                            [&](int, bool, const extent_map& ext, const std::vector<float>& x,
                                const std::vector<float>& got) {
                                const auto slot = slot_fn(ext);
                                std::vector<double> ms(count_of(kept, ext), 0.0), cnt(ms.size(), 0.0);
                                for_each_index(li.order, ext, [&](const extent_map& idx, std::size_t lin) {
                                    const double v = x[lin];
                                    ms[slot(idx)] += v * v;
                                    cnt[slot(idx)] += 1;
                                });
                                compare(ext, got, [&](const extent_map& idx, std::size_t lin) {
                                    const std::size_t s = slot(idx);
                                    const double r = 1 / std::sqrt(ms[s] / cnt[s] + eps);
                                    const double wp = wv(offset_of(idx, pstr));
                                    const double v = x[lin] * r * wp;
                                    // x * scale * weight: the scale and two products rounded; in
                                    // the subnormal range the first product's eta is scaled by w
                                    // (seed 20261589 case 14).
                                    if (std::isnan(v)) return ev{v, 0};
                                    return ev{v, 8 * u * std::fabs(v) + (4 + 2 * std::fabs(wp)) * eta};
                                });
                            });
                    }
                }
            });
        }
    });
    return outputs;
}

} // namespace fz
