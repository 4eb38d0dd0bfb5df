// tests/fuzz/expr.hpp: expression cases (elementwise forms, reductions over axis subsets, GroupNorm
// written in the DSL), their float64 reference, and the runner for one layout set.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "harness.hpp"

namespace fz {

// --- Reference ------------------------------------------------------------------------------------

/// Statistics per slot of the axes kept when reducing over `reduced` (bit a = axis id a), for
/// an operand given per element, in a dense array laid out as `order`.
struct slot_table {
    std::vector<int> kept;
    extent_map kstr{};
    std::vector<slot_stats> st;
    std::size_t slot(const extent_map& idx) const { return offset_of(idx, kstr); }
};
template <class Op>
slot_table reduce_reference(const std::vector<int>& order, const extent_map& ext, unsigned reduced, Op&& op) {
    slot_table t;
    for (int a : order)
        if (!(reduced >> a & 1u)) t.kept.push_back(a);
    t.kstr = strides_of(t.kept, ext);
    t.st.resize(count_of(t.kept, ext));
    std::vector<ev> vals(count_of(order, ext));
    for_each_index(order, ext, [&](const extent_map& idx, std::size_t lin) {
        vals[lin] = op(idx, lin);
        t.st[t.slot(idx)].add(vals[lin]);
    });
    for (auto& s : t.st) s.finish_mean();
    for_each_index(order, ext,
                   [&](const extent_map& idx, std::size_t lin) { t.st[t.slot(idx)].add_second(vals[lin]); });
    return t;
}
// Double accumulation: below count * 2^-52 of the sum of magnitudes (generous: normfuse sums
// pairwise or in SIMD lanes, and shifts).
inline ev sum_ev(const slot_stats& s) {
    if (!std::isfinite(s.sum)) return rnd({s.sum, std::isfinite(s.err) ? 0.0 : INFINITY});
    return rnd({s.sum, s.err + s.count * 0x1.0p-52 * s.sum_abs});
}
inline ev mean_ev(const slot_stats& s) {
    const double v = s.sum / s.count;
    if (!std::isfinite(v)) return rnd({v, std::isfinite(s.err) ? 0.0 : INFINITY});
    return rnd({v, (s.err + s.count * 0x1.0p-52 * s.sum_abs) / s.count});
}
inline ev var_ev(const slot_stats& s, double correction) {
    const double d = s.count - correction;
    if (d <= 0) return {NAN, 0}; // PyTorch: NaN for a variance of no degrees of freedom
    const double v = s.m2 / d;
    if (!std::isfinite(v)) return rnd({v, std::isfinite(s.err) ? 0.0 : INFINITY});
    return rnd({v, (s.err_dev + s.count * 0x1.0p-51 * (s.m2 + s.count * s.radius * s.radius)) / d});
}

inline ev elementwise_reference(int form, ev x, ev g, ev b, ev m, ev s) {
    switch (form) {
    case 0:
        return x * g + b;
    case 1:
        return (x - m) / s;
    default: // every function of expr/functions.hpp, nested
        return sqrt(abs(x)) + rsqrt(square(x) + exact(1)) - tanh(x * g) +
               exp(-square((x - m) / s)) * log(exact(1) + abs(x)) + sigmoid(x) + relu(x - b) +
               clamp(x, exact(-1), exact(1)) * min(x, g) - max(x, exact(0.5)) - x / exact(4);
    }
}

// --- Library side ------------------------------------------------------------------------------------

/// The axes of list L selected by Mask (bit i = i-th axis), or the others.
template <class Acc, class L, unsigned Mask, bool Selected, std::size_t I>
struct select_impl;
template <class... Acc, unsigned Mask, bool Selected, std::size_t I>
struct select_impl<nf::axis_list<Acc...>, nf::axis_list<>, Mask, Selected, I> {
    using type = nf::axis_list<Acc...>;
};
template <class... Acc, class A, class... As, unsigned Mask, bool Selected, std::size_t I>
struct select_impl<nf::axis_list<Acc...>, nf::axis_list<A, As...>, Mask, Selected, I> {
    using type = typename select_impl<
        std::conditional_t<((Mask >> I & 1u) != 0) == Selected, nf::axis_list<Acc..., A>, nf::axis_list<Acc...>>,
        nf::axis_list<As...>, Mask, Selected, I + 1>::type;
};
template <class L, unsigned Mask, bool Selected>
using select_t = typename select_impl<nf::axis_list<>, L, Mask, Selected, 0>::type;

template <class... Rs, class X>
auto mean_over(nf::axis_list<Rs...>, X&& x) {
    return nf::mean<typename Rs::template rebind<nf::dynamic_extent>...>(std::forward<X>(x));
}
template <class... Rs, class X>
auto sum_over(nf::axis_list<Rs...>, X&& x) {
    return nf::sum<typename Rs::template rebind<nf::dynamic_extent>...>(std::forward<X>(x));
}
template <class... Rs, class X>
auto var_over(nf::axis_list<Rs...>, X&& x, nf::variance_correction corr = nf::biased) {
    return nf::var<typename Rs::template rebind<nf::dynamic_extent>...>(std::forward<X>(x), corr);
}

/// Writes `e` into `out` (a tensor's operator= or a view's).
template <class SO, class E>
void store(memory<SO>& out, E&& e) {
    if (out.owned) {
        *out.owned = std::forward<E>(e);
    } else {
        nf::view<float, SO> v = out.view();
        v = std::forward<E>(e);
    }
}

/// Which masks and forms a layout's reduction cases use: every subset for the first layout of a
/// set (and the second of ranks <= 3), with the forms that need a variance; the "canonical"
/// subsets (all axes but C: BatchNorm's; all but N: LayerNorm's) with every form, on every
/// layout. The generator asks the same question (keeps the instantiations in check).
template <class S, int Index>
constexpr bool reduction_used(unsigned m, int form, bool kept) {
    const layout_info_c li = layout_c<S>();
    return reduction_instantiated(Index, li, m, form, kept);
}

template <class S, int Index, class F>
void with_mask(unsigned mask, F&& f) {
    [&]<unsigned... Ms>(std::integer_sequence<unsigned, Ms...>) {
        (([&] {
             constexpr unsigned m = Ms + 1;
             if constexpr (reduction_used<S, Index>(m, 0, false) || reduction_used<S, Index>(m, 1, true))
                 if (mask == m) f(std::integral_constant<unsigned, m>{});
         }()),
         ...);
    }
    (std::make_integer_sequence<unsigned, (1u << S::rank) - 1>{});
}

struct case_data {
    std::vector<float> x, g, b, m, s; // input; per-channel (or per (G, K)) parameters
};

inline case_data expression_data(const fuzz_case& c, const layout_info& li, std::size_t channels) {
    case_data d;
    d.x = make_data(c.data, count_of(li.order, c.ext), c.data_seed);
    d.g = make_data(data_kind::normal, channels, c.data_seed + 1);
    d.b = make_data(data_kind::normal, channels, c.data_seed + 2);
    d.m = make_data(data_kind::normal, channels, c.data_seed + 3);
    d.s = make_data(data_kind::normal, channels, c.data_seed + 4);
    for (auto& v : d.s) v = 0.25f + std::fabs(v);
    return d;
}

/// The expression cases of one layout set.
template <int Set>
std::vector<float> run_expression_set(const fuzz_case& c, int threads, checker& chk) {
    std::vector<float> outputs;
    const auto& set = layouts(Set);
    const layout_info& li = set[static_cast<std::size_t>(c.layout)];
    const layout_info& lo = set[static_cast<std::size_t>(c.out_layout)];
    const bool grouped = Set == set_grp;
    const std::size_t channels = grouped ? c.ext[aG] * c.ext[aK] : c.ext[aC];
    const case_data d = expression_data(c, li, channels);
    auto param_index = [&](const extent_map& idx) { return grouped ? idx[aG] * c.ext[aK] + idx[aK] : idx[aC]; };
    const float eps = 1e-5f;

    with_layouts<Set>(c, [&]<class SI, class SO, int in_index>(std::type_identity<SI>, std::type_identity<SO>,
                                                               std::integral_constant<int, in_index>) {
        const std::size_t spare = c.overlap ? 1 : 0;
        memory<SI> in(c.ext, c.owning, c.in_offset, spare);
        in.fill(d.x);
        const auto x = in.cview();
        using CA = std::conditional_t<grouped, nf::axes::G<>, nf::axes::C<>>;
        auto param = [&](const std::vector<float>& v) {
            if constexpr (grouped) {
                using PS = nf::shape<nf::axes::G<>, nf::axes::K<>>;
                nf::tensor<float, PS> t(nf::extents<PS>::from_all({c.ext[aG], c.ext[aK]}));
                std::copy(v.begin(), v.end(), t.data());
                return t;
            } else {
                return vector_of<CA>(v);
            }
        };
        const auto g = param(d.g), b = param(d.b), m = param(d.m), s = param(d.s);
        run_settings rs(c, threads);

        // Output memory: the input itself (in place), the input shifted by one (overlap), or
        // its own.
        auto full_output = [&](auto&& make) {
            std::vector<float> got;
            if (c.in_place) {
                if constexpr (std::is_same_v<SI, SO>) {
                    if (!guarded(chk, [&] { store(in, make()); })) return got;
                    got = in.values();
                }
            } else if (c.overlap) {
                if constexpr (std::is_same_v<SI, SO>) {
                    const long shift = (c.data_seed & 1) ? 1 : -1;
                    nf::view<float, SO> y(in.ptr + shift, in.ext);
                    if (!guarded(chk, [&] { y = make(); })) return got;
                    got.assign(y.data(), y.data() + y.size());
                }
            } else {
                memory<SO> out(c.ext, c.owning, c.out_offset);
                if (!guarded(chk, [&] { store(out, make()); })) return got;
                got = out.values();
            }
            return got;
        };
        // Compares an output laid out as `lo` (or `li` in place) with the reference per element.
        auto compare_full = [&](const std::vector<float>& got, auto&& ref_of) {
            if (got.empty() && count_of(li.order, c.ext) != 0) return;
            const auto& out_order = (c.in_place || c.overlap) ? li.order : lo.order;
            const extent_map ostr = strides_of(out_order, c.ext);
            for_each_index(li.order, c.ext, [&](const extent_map& idx, std::size_t lin) {
                const std::size_t o = offset_of(idx, ostr);
                chk.value("y", o, got[o], ref_of(idx, lin));
            });
            outputs.insert(outputs.end(), got.begin(), got.end());
        };
        auto pev = [&](const std::vector<float>& v, const extent_map& idx) { return exact(v[param_index(idx)]); };

        if (c.k == kind::elementwise) {
            auto run_form = [&](auto make) {
                const auto got = full_output(make);
                compare_full(got, [&](const extent_map& idx, std::size_t lin) {
                    return elementwise_reference(c.form, exact(d.x[lin]), pev(d.g, idx), pev(d.b, idx), pev(d.m, idx),
                                                 pev(d.s, idx));
                });
            };
            // Only Normalize's form goes to another layout (instantiations).
            if (c.form == 1 || !std::is_same_v<SI, SO>) {
                run_form([&] { return (x - m) / s; });
            } else if constexpr (std::is_same_v<SI, SO>) {
                if (c.form == 0) {
                    run_form([&] { return x * g + b; });
                } else if constexpr (all_forms(in_index)) {
                    run_form([&] {
                        return nf::sqrt(nf::abs(x)) + nf::rsqrt(nf::square(x) + 1.f) - nf::tanh(x * g) +
                               nf::exp(-nf::square((x - m) / s)) * nf::log(1.f + nf::abs(x)) + nf::sigmoid(x) +
                               nf::relu(x - b) + nf::clamp(x, -1.f, 1.f) * nf::min(x, g) - nf::max(x, 0.5f) - x / 4.f;
                    });
                }
            }
        } else if constexpr (grouped) {
            using namespace nf::axes;
            unsigned reduced = 0;
            auto run_form = [&](auto make, auto&& ref_of) {
                const auto got = full_output(make);
                compare_full(got, ref_of);
            };
            if (c.form == 0) {
                reduced = 1u << aK | 1u << aH | 1u << aW;
                const auto t = reduce_reference(li.order, c.ext, reduced,
                                                [&](const extent_map&, std::size_t lin) { return exact(d.x[lin]); });
                run_form([&] { return (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + eps) * g + b; },
                         [&](const extent_map& idx, std::size_t lin) {
                             const auto& st = t.st[t.slot(idx)];
                             return (exact(d.x[lin]) - mean_ev(st)) * rsqrt(var_ev(st, 0) + exact(eps)) *
                                        pev(d.g, idx) +
                                    pev(d.b, idx);
                         });
            } else {
                reduced = 1u << aK | 1u << aW;
                const auto t = reduce_reference(li.order, c.ext, reduced,
                                                [&](const extent_map&, std::size_t lin) { return exact(d.x[lin]); });
                run_form([&] { return x - nf::mean<K, W>(x); },
                         [&](const extent_map& idx, std::size_t lin) {
                             return exact(d.x[lin]) - mean_ev(t.st[t.slot(idx)]);
                         });
            }
        } else if constexpr (!grouped && Set != set_vol) {
            // Reductions over the axes selected by the mask (positions in the input layout).
            unsigned reduced = 0;
            for (std::size_t r = 0; r < li.order.size(); ++r)
                if (c.mask >> r & 1u) reduced |= 1u << li.order[r];
            with_mask<SI, in_index>(c.mask, [&]<unsigned M>(std::integral_constant<unsigned, M>) {
                using R = select_t<typename SI::axes, M, true>;
                using KL = select_t<typename SI::axes, M, false>;
                if (c.k == kind::reduce_full) {
                    auto run_form = [&](auto make, auto&& ref_of) {
                        const auto got = full_output(make);
                        compare_full(got, ref_of);
                    };
                    if (c.form == 1) {
                        if constexpr (reduction_used<SI, in_index>(M, 1, false)) {
                            const auto t =
                                reduce_reference(li.order, c.ext, reduced, [&](const extent_map&, std::size_t lin) {
                                    return square(exact(d.x[lin]));
                                });
                            run_form([&] { return x * nf::rsqrt(mean_over(R{}, nf::square(x)) + eps); },
                                     [&](const extent_map& idx, std::size_t lin) {
                                         return exact(d.x[lin]) * rsqrt(mean_ev(t.st[t.slot(idx)]) + exact(eps));
                                     });
                        }
                    } else if constexpr (reduction_used<SI, in_index>(M, 0, false)) {
                        const auto t =
                            reduce_reference(li.order, c.ext, reduced,
                                             [&](const extent_map&, std::size_t lin) { return exact(d.x[lin]); });
                        run_form([&] { return (x - mean_over(R{}, x)) * nf::rsqrt(var_over(R{}, x) + eps) * g + b; },
                                 [&](const extent_map& idx, std::size_t lin) {
                                     const auto& st = t.st[t.slot(idx)];
                                     return (exact(d.x[lin]) - mean_ev(st)) * rsqrt(var_ev(st, 0) + exact(eps)) *
                                                pev(d.g, idx) +
                                            pev(d.b, idx);
                                 });
                    }
                } else {
                    using SK = nf::shape_from<KL>;
                    const auto t = reduce_reference(
                        li.order, c.ext, reduced, [&](const extent_map&, std::size_t lin) { return exact(d.x[lin]); });
                    memory<SK> out(c.ext, c.owning, c.out_offset);
                    const bool ok = guarded(chk, [&] {
                        if (c.form == 0) {
                            if constexpr (reduction_used<SI, in_index>(M, 0, true)) store(out, mean_over(R{}, x));
                        } else if constexpr (reduction_used<SI, in_index>(M, 1, true)) {
                            store(out, var_over(R{}, x, nf::unbiased));
                        }
                    });
                    if (!ok) return;
                    const auto got = out.values();
                    for (std::size_t i = 0; i < t.st.size(); ++i) {
                        const auto& st = t.st[i];
                        chk.value(c.form == 0 ? "mean" : "var", i, got[i], c.form == 0 ? mean_ev(st) : var_ev(st, 1));
                    }
                    outputs.insert(outputs.end(), got.begin(), got.end());
                }
            });
        }
    });
    return outputs;
}

} // namespace fz
