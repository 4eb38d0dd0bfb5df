// Runtime tests of the layers over every order of their input's axes (issue 15, defect 1: GroupNorm
// on (C, N, L) took weight and bias from the wrong channel). Each layout of the same logical values
// must give the same logical output: checked against a float64 reference computed here from the
// logical (PyTorch-ordered) values, slot by slot, for an output in the input's order, an output in
// the logical order (another road through the layers) and in place. BatchNorm and InstanceNorm also
// check their running statistics. LayerNorm and RMSNorm normalize over axes that are not trailing
// (named axes may sit anywhere), with an element-wise weight that shows a mix-up of its axes.
// Every layer on 2 or 3 axes: all orders; on (N, C, H, W): 7 chosen orders, which put C and N in
// every position and H, W apart and swapped (all 24 for GroupNorm took a fifth of this file's
// compile time for orders that differ from the chosen ones only in where H and W sit).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/rms_norm.hpp>

#include "support/test_layers_util.hpp"

using namespace nf::axes;
using namespace nf_layers;

namespace {

// --- Every permutation of a list of axes, as a list of shapes --------------------------------

template <class... Ls>
struct type_list {};

template <class... Ls>
struct concat_lists;
template <>
struct concat_lists<> {
    using type = type_list<>;
};
template <class... As>
struct concat_lists<type_list<As...>> {
    using type = type_list<As...>;
};
template <class... As, class... Bs, class... Rest>
struct concat_lists<type_list<As...>, type_list<Bs...>, Rest...> {
    using type = typename concat_lists<type_list<As..., Bs...>, Rest...>::type;
};

template <class A, class L>
struct without;
template <class A, class... Bs>
struct without<A, nf::axis_list<Bs...>> {
    template <class B>
    using keep = std::conditional_t<std::is_same_v<A, B>, type_list<>, type_list<B>>;
    template <class... Ks>
    static nf::axis_list<Ks...> as_axes(type_list<Ks...>);
    using type = decltype(as_axes(typename concat_lists<keep<Bs>...>::type{}));
};

template <class A, class Ls>
struct prepend_each;
template <class A, class... Ls>
struct prepend_each<A, type_list<Ls...>> {
    template <class L>
    struct one;
    template <class... Bs>
    struct one<nf::axis_list<Bs...>> {
        using type = nf::axis_list<A, Bs...>;
    };
    using type = type_list<typename one<Ls>::type...>;
};

template <class L>
struct permutations;
template <>
struct permutations<nf::axis_list<>> {
    using type = type_list<nf::axis_list<>>;
};
template <class... As>
struct permutations<nf::axis_list<As...>> {
    using type = typename concat_lists<typename prepend_each<
        As, typename permutations<typename without<As, nf::axis_list<As...>>::type>::type>::type...>::type;
};

/// Calls `f.template operator()<Shape>()` for every order of the axes of `Logical`.
template <class Logical, class F>
void for_each_order(F&& f) {
    [&]<class... Ls>(type_list<Ls...>) {
        (f.template operator()<nf::shape_from<Ls>>(), ...);
    }(typename permutations<typename Logical::axes>::type{});
}

/// Seven of the 24 orders of (N, C, H, W), for every layer (each order compiles
/// its own kernels, and all 24 for every layer would cost minutes of compile time in each build):
/// C first, second, third and last, N in every position, H and W apart and swapped.
using some_4d_orders =
    type_list<nf::axis_list<N<>, C<>, H<>, W<>>, nf::axis_list<N<>, H<>, W<>, C<>>, nf::axis_list<C<>, N<>, H<>, W<>>,
              nf::axis_list<H<>, W<>, C<>, N<>>, nf::axis_list<W<>, N<>, C<>, H<>>, nf::axis_list<H<>, C<>, W<>, N<>>,
              nf::axis_list<C<>, W<>, N<>, H<>>>;

/// for_each_order for a Logical of up to 3 axes; some_4d_orders for (N, C, H, W).
template <class Logical, class F>
void for_orders(F&& f) {
    if constexpr (Logical::rank == 4)
        [&]<class... Ls>(type_list<Ls...>) { (f.template operator()<nf::shape_from<Ls>>(), ...); }(some_4d_orders{});
    else
        for_each_order<Logical>(f);
}

static_assert(std::is_same_v<permutations<nf::axis_list<N<>, C<>>>::type,
                             type_list<nf::axis_list<N<>, C<>>, nf::axis_list<C<>, N<>>>>);

template <class... Ls>
constexpr std::size_t count_of(type_list<Ls...>) {
    return sizeof...(Ls);
}
static_assert(count_of(permutations<nf::axis_list<N<>, C<>, H<>, W<>>>::type{}) == 24);

// --- The float64 reference ---------------------------------------------------------------------

/// Logical row-major index <-> multi-index over `ext`.
std::vector<std::size_t> unravel(std::size_t i, const std::vector<std::size_t>& ext) {
    std::vector<std::size_t> idx(ext.size());
    for (std::size_t j = ext.size(); j-- > 0;) {
        idx[j] = i % ext[j];
        i /= ext[j];
    }
    return idx;
}

using index_fn = std::function<std::size_t(const std::vector<std::size_t>&)>;
using value_fn = std::function<double(const std::vector<std::size_t>&)>;

struct slot_stats {
    std::vector<double> mean, biased, count;
};

/// Mean and biased variance per slot (slot_of maps a logical multi-index to its slot), two passes.
slot_stats statistics(const std::vector<double>& x, const std::vector<std::size_t>& ext, std::size_t slots,
                      const index_fn& slot_of) {
    slot_stats s{std::vector<double>(slots), std::vector<double>(slots), std::vector<double>(slots)};
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t k = slot_of(unravel(i, ext));
        s.mean[k] += x[i];
        s.count[k] += 1;
    }
    for (std::size_t k = 0; k < slots; ++k) s.mean[k] /= s.count[k];
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t k = slot_of(unravel(i, ext));
        s.biased[k] += (x[i] - s.mean[k]) * (x[i] - s.mean[k]);
    }
    for (std::size_t k = 0; k < slots; ++k) s.biased[k] /= s.count[k];
    return s;
}

/// `(x - mean) / sqrt(var + eps) * w + b` per slot, in logical order.
std::vector<double> normalized(const std::vector<double>& x, const std::vector<std::size_t>& ext, const slot_stats& s,
                               const index_fn& slot_of, double eps, const value_fn& w, const value_fn& b) {
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto idx = unravel(i, ext);
        const std::size_t k = slot_of(idx);
        y[i] = (x[i] - s.mean[k]) / std::sqrt(s.biased[k] + eps) * w(idx) + b(idx);
    }
    return y;
}

/// Deterministic logical data: a different offset and spread per channel (so that a slot or a
/// parameter taken from the wrong channel shows), and a pattern along every axis.
std::vector<double> make_data(const std::vector<std::size_t>& ext, std::size_t c_axis) {
    std::size_t n = 1;
    for (auto e : ext) n *= e;
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto idx = unravel(i, ext);
        const double c = static_cast<double>(idx[c_axis]);
        v[i] = 2.0 * c + (1.0 + 0.5 * c) * static_cast<double>(static_cast<int>((i * 7919 + 13) % 61) - 30) / 16.0;
    }
    return v;
}

template <class Logical>
nf::tensor<float, Logical> logical_tensor(const std::vector<double>& v, const std::vector<std::size_t>& ext) {
    std::array<std::size_t, Logical::rank> e{};
    for (std::size_t i = 0; i < Logical::rank; ++i) e[i] = ext[i];
    nf::tensor<float, Logical> t(nf::extents<Logical>::from_all(e));
    for (std::size_t i = 0; i < v.size(); ++i) t.data()[i] = static_cast<float>(v[i]);
    return t;
}

/// The values the reference must use: x as rounded to float.
std::vector<double> rounded(const std::vector<double>& v) {
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) r[i] = static_cast<double>(static_cast<float>(v[i]));
    return r;
}

/// Runs a fresh layer (from make()) on `xl` (logical values laid out as Shape) three ways (output in
/// the input's order, output in logical order, in place) and checks each against `want`. `after`
/// runs on each layer after its forward (running statistics).
template <class Shape, class Logical, class Make, class After>
void check_layout(const nf::tensor<float, Logical>& x, const std::vector<double>& want, Make&& make, After&& after,
                  const std::string& what) {
    const auto names = axis_names<nf::tensor<float, Logical>>();
    const auto xl = relayout<Shape>(x);
    const double tol = output_tolerance<float>(scale_of(want));
    std::string order;
    for (auto n : axis_names<nf::tensor<float, Shape>>()) order += std::string(n);
    INFO(what << " on (" << order << ")");
    const float nan = std::numeric_limits<float>::quiet_NaN();
    {
        auto layer = make();
        nf::tensor<float, Shape> y(xl.extents(), nan);
        layer.forward(xl, y);
        check_values(to_logical(y, names), want, tol, "output in the input's order", "permutations");
        after(layer);
    }
    {
        auto layer = make();
        nf::tensor<float, Logical> y(x.extents(), nan);
        layer.forward(xl, y);
        check_values(to_logical(y, names), want, tol, "output in the logical order", "permutations");
        after(layer);
    }
    {
        auto layer = make();
        auto in = xl;
        layer(in, nf::nn::in_place);
        check_values(to_logical(in, names), want, tol, "in place", "permutations");
        after(layer);
    }
}

std::vector<double> channel_values(std::size_t c, double base, double step) {
    std::vector<double> v(c);
    for (std::size_t i = 0; i < c; ++i) v[i] = base + step * static_cast<double>(i);
    return v;
}

template <class P>
void set(P& p, const std::vector<double>& v) {
    REQUIRE(p.size() == v.size());
    for (std::size_t i = 0; i < v.size(); ++i) p.data()[i] = static_cast<float>(v[i]);
}

/// Running statistics after one training step from rm = 0, rv = 1 with momentum m: per channel,
/// the batch values `mean` and unbiased `var` (spec 2.4 and 3), rounded once to float.
void check_running(const std::vector<double>& got_mean, const std::vector<double>& got_var,
                   const std::vector<double>& mean, const std::vector<double>& var, double m, double data_scale) {
    for (std::size_t c = 0; c < mean.size(); ++c) {
        const double rm = m * mean[c], rv = (1 - m) + m * var[c];
        INFO("channel " << c);
        CHECK(std::abs(got_mean[c] - rm) <= running_tolerance<float>(rm, data_scale));
        CHECK(std::abs(got_var[c] - rv) <= running_tolerance<float>(rv, data_scale));
    }
}

// --- Per layer --------------------------------------------------------------------------------

/// GroupNorm(groups, c) with weight 1 + c / 4 and bias 10 c over the orders of Logical's axes (for_orders).
template <class Logical>
void group_norm_all_orders(const std::vector<std::size_t>& ext, std::size_t groups) {
    const auto names = axis_names<nf::tensor<float, Logical>>();
    const std::size_t c_axis = position(names, "C"), n_axis = position(names, "N");
    const std::size_t c = ext[c_axis], kk = c / groups;
    const auto v = rounded(make_data(ext, c_axis));
    const auto x = logical_tensor<Logical>(v, ext);
    const auto w = channel_values(c, 1.0, 0.25), b = channel_values(c, 0.0, 10.0);
    const index_fn slot_of = [&](const std::vector<std::size_t>& i) { return i[n_axis] * groups + i[c_axis] / kk; };
    const auto s = statistics(v, ext, ext[n_axis] * groups, slot_of);
    const auto want = normalized(
        v, ext, s, slot_of, 1e-5, [&](const auto& i) { return w[i[c_axis]]; },
        [&](const auto& i) { return b[i[c_axis]]; });
    auto make = [&] {
        nf::nn::group_norm<float> gn(groups, c);
        set(gn.weight(), w);
        set(gn.bias(), b);
        return gn;
    };
    auto check = [&]<class Shape>() {
        check_layout<Shape>(
            x, want, make, [](auto&) {}, "group_norm(" + std::to_string(groups) + ", " + std::to_string(c) + ")");
    };
    for_orders<Logical>(check);
}

/// BatchNorm{Dims}d(c) (training, affine) over every order, with its running statistics.
template <std::size_t Dims, class Logical>
void batch_norm_all_orders(const std::vector<std::size_t>& ext) {
    const auto names = axis_names<nf::tensor<float, Logical>>();
    const std::size_t c_axis = position(names, "C");
    const std::size_t c = ext[c_axis];
    const auto v = rounded(make_data(ext, c_axis));
    const auto x = logical_tensor<Logical>(v, ext);
    const auto w = channel_values(c, 0.5, 0.375), b = channel_values(c, -2.0, 1.5);
    const index_fn slot_of = [&](const std::vector<std::size_t>& i) { return i[c_axis]; };
    const auto s = statistics(v, ext, c, slot_of);
    const auto want = normalized(
        v, ext, s, slot_of, 1e-5, [&](const auto& i) { return w[i[c_axis]]; },
        [&](const auto& i) { return b[i[c_axis]]; });
    std::vector<double> unbiased(c);
    for (std::size_t k = 0; k < c; ++k) unbiased[k] = s.biased[k] * s.count[k] / (s.count[k] - 1);
    auto make = [&] {
        nf::nn::batch_norm<float, Dims> bn(c);
        set(bn.weight(), w);
        set(bn.bias(), b);
        return bn;
    };
    auto after = [&](auto& bn) {
        check_running(to_logical(bn.running_mean(), {"C"}), to_logical(bn.running_var(), {"C"}), s.mean, unbiased, 0.1,
                      scale_of(v));
        CHECK(bn.num_batches_tracked() == 1);
    };
    for_orders<Logical>([&]<class Shape>() { check_layout<Shape>(x, want, make, after, "batch_norm"); });
}

/// InstanceNorm{Dims}d(c, affine, tracking) (training) over every order, with its running
/// statistics. Logical is (N, C, spatial...) or unbatched (C, spatial...).
template <std::size_t Dims, class Logical>
void instance_norm_all_orders(const std::vector<std::size_t>& ext) {
    const auto names = axis_names<nf::tensor<float, Logical>>();
    const std::size_t c_axis = position(names, "C");
    const bool batched = names.size() == Dims + 2;
    const std::size_t n_axis = batched ? position(names, "N") : 0;
    const std::size_t c = ext[c_axis], n = batched ? ext[n_axis] : 1;
    const auto v = rounded(make_data(ext, c_axis));
    const auto x = logical_tensor<Logical>(v, ext);
    const auto w = channel_values(c, 1.5, -0.25), b = channel_values(c, 3.0, -2.0);
    const index_fn slot_of = [&](const std::vector<std::size_t>& i) {
        return (batched ? i[n_axis] : 0) * c + i[c_axis];
    };
    const auto s = statistics(v, ext, n * c, slot_of);
    const auto want = normalized(
        v, ext, s, slot_of, 1e-5, [&](const auto& i) { return w[i[c_axis]]; },
        [&](const auto& i) { return b[i[c_axis]]; });
    std::vector<double> mean(c), var(c);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < c; ++k) {
            const std::size_t q = i * c + k;
            mean[k] += s.mean[q] / static_cast<double>(n);
            var[k] += s.biased[q] * s.count[q] / (s.count[q] - 1) / static_cast<double>(n);
        }
    auto make = [&] {
        nf::nn::instance_norm<float, Dims> in(c, {.affine = true, .track_running_stats = true});
        set(in.weight(), w);
        set(in.bias(), b);
        return in;
    };
    auto after = [&](auto& in) {
        check_running(to_logical(in.running_mean(), {"C"}), to_logical(in.running_var(), {"C"}), mean, var, 0.1,
                      scale_of(v));
    };
    for_orders<Logical>([&]<class Shape>() { check_layout<Shape>(x, want, make, after, "instance_norm"); });
}

/// LayerNorm and RMSNorm over the axes of NormShape (in NormShape's order, which need not be the
/// input's) with an element-wise weight (and bias) that differs along every normalized axis.
template <class NormShape, class Logical>
void layer_and_rms_norm_all_orders(const std::vector<std::size_t>& ext) {
    const auto names = axis_names<nf::tensor<float, Logical>>();
    const auto norm_names = axis_names<nf::tensor<float, NormShape>>();
    const std::size_t c_axis = position(names, "C");
    std::vector<std::size_t> norm_pos, norm_ext;
    for (auto nm : norm_names) {
        norm_pos.push_back(position(names, nm));
        norm_ext.push_back(ext[norm_pos.back()]);
    }
    std::size_t count = 1;
    for (auto e : norm_ext) count *= e;
    const std::size_t slots = [&] {
        std::size_t all = 1;
        for (auto e : ext) all *= e;
        return all / count;
    }();
    const auto v = rounded(make_data(ext, c_axis));
    const auto x = logical_tensor<Logical>(v, ext);
    // Weight and bias as laid out in NormShape's order: element q of the parameter tensors.
    std::vector<double> w(count), b(count);
    for (std::size_t q = 0; q < count; ++q) {
        w[q] = 0.5 + 0.0625 * static_cast<double>(q);
        b[q] = -1.0 + 0.75 * static_cast<double>(q % 7);
    }
    const index_fn param_of = [&](const std::vector<std::size_t>& i) {
        std::size_t q = 0;
        for (std::size_t j = 0; j < norm_pos.size(); ++j) q = q * norm_ext[j] + i[norm_pos[j]];
        return q;
    };
    // Slots: the other axes in logical order.
    const index_fn slot_of = [&](const std::vector<std::size_t>& i) {
        std::size_t s = 0;
        for (std::size_t j = 0; j < ext.size(); ++j) {
            bool normed = false;
            for (auto p : norm_pos) normed = normed || p == j;
            if (!normed) s = s * ext[j] + i[j];
        }
        return s;
    };
    const auto s = statistics(v, ext, slots, slot_of);
    const auto want_ln = normalized(
        v, ext, s, slot_of, 1e-5, [&](const auto& i) { return w[param_of(i)]; },
        [&](const auto& i) { return b[param_of(i)]; });
    // RMSNorm: x / sqrt(mean(x^2) + eps) * w.
    std::vector<double> ms(slots);
    for (std::size_t i = 0; i < v.size(); ++i) ms[slot_of(unravel(i, ext))] += v[i] * v[i] / static_cast<double>(count);
    std::vector<double> want_rms(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto idx = unravel(i, ext);
        want_rms[i] = v[i] / std::sqrt(ms[slot_of(idx)] + 1e-6) * w[param_of(idx)];
    }
    std::array<std::size_t, NormShape::rank> ne{};
    for (std::size_t j = 0; j < NormShape::rank; ++j) ne[j] = norm_ext[j];
    const auto nshape = nf::extents<NormShape>::from_all(ne);
    auto make_ln = [&] {
        nf::nn::layer_norm<float, NormShape> ln(nshape);
        set(ln.weight(), w);
        set(ln.bias(), b);
        return ln;
    };
    auto make_rms = [&] {
        nf::nn::rms_norm<float, NormShape> rms(nshape, {.eps = 1e-6});
        set(rms.weight(), w);
        return rms;
    };
    for_orders<Logical>([&]<class Shape>() {
        check_layout<Shape>(
            x, want_ln, make_ln, [](auto&) {}, "layer_norm");
        check_layout<Shape>(
            x, want_rms, make_rms, [](auto&) {}, "rms_norm");
    });
}

} // namespace

TEST_CASE("permutations: group_norm gives the same values in every axis order", "[layers][permutations]") {
    // The case of the issue: GroupNorm(3, 3), weight 1 + c, bias 10 c, on (C, N, L) and (N, C, L).
    group_norm_all_orders<nf::shape<N<>, C<>, L<>>>({2, 3, 4}, 3);
    for (const std::size_t groups : {1, 2, 3, 6}) {
        CAPTURE(groups);
        group_norm_all_orders<nf::shape<N<>, C<>, L<>>>({3, 6, 7}, groups);
        group_norm_all_orders<nf::shape<N<>, C<>>>({3, 6}, groups == 6 ? 3 : groups);
    }
    for (const std::size_t groups : {2, 4}) {
        CAPTURE(groups);
        group_norm_all_orders<nf::shape<N<>, C<>, H<>, W<>>>({2, 4, 3, 5}, groups);
    }
}

TEST_CASE("permutations: batch_norm gives the same values in every axis order", "[layers][permutations]") {
    batch_norm_all_orders<1, nf::shape<N<>, C<>>>({5, 3});
    batch_norm_all_orders<1, nf::shape<N<>, C<>, L<>>>({3, 4, 7});
    batch_norm_all_orders<2, nf::shape<N<>, C<>, H<>, W<>>>({2, 3, 3, 5});
}

TEST_CASE("permutations: instance_norm gives the same values in every axis order", "[layers][permutations]") {
    instance_norm_all_orders<1, nf::shape<N<>, C<>, L<>>>({3, 4, 7});
    instance_norm_all_orders<1, nf::shape<C<>, L<>>>({4, 9});
    instance_norm_all_orders<2, nf::shape<N<>, C<>, H<>, W<>>>({2, 3, 3, 5});
}

TEST_CASE("permutations: layer_norm and rms_norm over non-trailing axes in every axis order",
          "[layers][permutations]") {
    // Over (C, L) in all six orders of (N, C, L): the normalized axes trailing, leading and split, in
    // the weight's order and in the other (L before C).
    layer_and_rms_norm_all_orders<nf::shape<C<>, L<>>, nf::shape<N<>, C<>, L<>>>({3, 4, 7});
    layer_and_rms_norm_all_orders<nf::shape<C<>>, nf::shape<N<>, C<>, L<>>>({3, 5, 6});
    layer_and_rms_norm_all_orders<nf::shape<C<>, W<>>, nf::shape<N<>, C<>, H<>, W<>>>({2, 3, 4, 5});
}
