// tests/fuzz/fuzz.cpp: case generation, data, the error-bounded reference arithmetic, checking.
#include "fuzz.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "layouts.hpp"

namespace fz {

std::string layout_info::name() const {
    std::string s;
    for (std::size_t i = 0; i < order.size(); ++i) {
        s += axis_letter[order[i]];
        if (fixed[i]) s += std::to_string(fixed[i]);
    }
    return s;
}

extent_map strides_of(const std::vector<int>& order, const extent_map& ext) {
    extent_map s{};
    std::size_t st = 1;
    for (std::size_t r = order.size(); r-- > 0;) {
        s[order[r]] = st;
        st *= ext[order[r]];
    }
    return s;
}

std::size_t count_of(const std::vector<int>& order, const extent_map& ext) {
    std::size_t n = 1;
    for (int a : order) n *= ext[a];
    return n;
}

const char* kind_name(kind k) {
    static const char* names[] = {"elementwise", "reduce_full",   "reduce_kept", "group_expr", "normalize",
                                  "batch_norm",  "instance_norm", "layer_norm",  "group_norm", "rms_norm"};
    return names[static_cast<int>(k)];
}

const char* data_name(data_kind d) {
    static const char* names[] = {"normal",      "offset_1e4",     "offset_1e6", "constant", "tiny_variance",
                                  "wide_scales", "small_integers", "nan_inf",    "subnormal"};
    return names[static_cast<int>(d)];
}

const std::vector<layout_info>& layouts(int set) {
    static const std::vector<std::vector<layout_info>> all = [] {
        std::vector<std::vector<layout_info>> v;
        auto add = [&]<class Tuple>(std::type_identity<Tuple>) {
            std::vector<layout_info> one;
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                (one.push_back(info_of<std::tuple_element_t<Is, Tuple>>()), ...);
            }
            (std::make_index_sequence<std::tuple_size_v<Tuple>>{});
            v.push_back(std::move(one));
        };
        add(std::type_identity<img_layouts>{});
        add(std::type_identity<seq_layouts>{});
        add(std::type_identity<vol_layouts>{});
        add(std::type_identity<vec_layouts>{});
        add(std::type_identity<grp_layouts>{});
        return v;
    }();
    return all[static_cast<std::size_t>(set)];
}

std::uint64_t rng_source::next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t byte_source::next() {
    std::uint64_t v = 0;
    const std::size_t k = std::min<std::size_t>(n, 8);
    for (std::size_t i = 0; i < k; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    p += k;
    n -= k;
    return v;
}

namespace {

template <class T, std::size_t N>
T pick(source& s, const T (&options)[N]) {
    return options[s.below(N)];
}

// Extents that sit on the SIMD widths (4, 8, 16 floats) and one off them.
constexpr std::size_t small_extents[] = {1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 15, 16, 17, 31, 32, 33};
// Element counts around the thresholds: 32768 elements (threads), 65536 floats = 256 KiB
// (nf::detail::block_bytes, the boxes of blocked evaluation and of the layers' row blocks).
constexpr std::size_t targets[] = {32767, 32768, 32769, 40000, 65535, 65536, 65537, 70001, 131072, 140009};

int sets_for(kind k, source& s) {
    switch (k) {
    case kind::elementwise:
        return pick(s, {set_img, set_seq, set_vol, set_vec});
    case kind::reduce_full:
    case kind::reduce_kept:
        return pick(s, {set_img, set_img, set_seq, set_vec});
    case kind::group_expr:
        return set_grp;
    case kind::normalize:
        return pick(s, {set_img, set_seq, set_vol});
    case kind::batch_norm:
        return pick(s, {set_vec, set_seq, set_img, set_vol});
    case kind::instance_norm:
        return pick(s, {set_seq, set_img, set_vol});
    case kind::layer_norm:
    case kind::rms_norm:
        return pick(s, {set_img, set_seq});
    case kind::group_norm:
        return pick(s, {set_img, set_seq, set_vol, set_vec});
    default:
        return set_img;
    }
}

int forms_of(kind k) {
    switch (k) {
    case kind::elementwise:
        return 3;
    case kind::reduce_full:
        return 2;
    case kind::reduce_kept:
        return 2;
    case kind::group_expr:
        return 2;
    case kind::layer_norm:
    case kind::rms_norm:
        return 4;
    default:
        return 1;
    }
}

bool is_layer(kind k) {
    return k >= kind::normalize;
}

std::size_t spatial_of(const fuzz_case& c, const layout_info& li) {
    std::size_t n = 1;
    for (int a : li.order)
        if (a != aN && a != aC && a != aG && a != aK) n *= c.ext[a];
    return n;
}

} // namespace

fuzz_case generate(source& s, std::uint64_t seed, std::uint64_t index) {
    fuzz_case c;
    c.seed = seed;
    c.index = index;
    c.k = static_cast<kind>(s.below(static_cast<int>(kind::count)));
    c.set = sets_for(c.k, s);
    const auto& set = layouts(c.set);
    c.layout = static_cast<int>(s.below(set.size()));
    c.out_layout = c.layout;
    const int partner_layout = (c.layout + 1) % static_cast<int>(set.size());
    c.form = static_cast<int>(s.below(static_cast<std::uint64_t>(forms_of(c.k))));
    const layout_info& in = set[static_cast<std::size_t>(c.layout)];
    const std::size_t rank = in.order.size();
    if ((c.k == kind::elementwise || c.k == kind::layer_norm || c.k == kind::rms_norm) && !all_forms(c.layout))
        c.form = c.k == kind::elementwise ? static_cast<int>(s.below(2)) : 0;
    if (c.k == kind::reduce_full || c.k == kind::reduce_kept) {
        c.mask = 1 + static_cast<unsigned>(s.below((1u << rank) - 1));
        const bool kept = c.k == kind::reduce_kept;
        if (!reduction_instantiated(c.layout, layout_c(in), c.mask, c.form, kept)) {
            if (c.layout > 1) c.form = kept ? 1 : 0; // the variance forms
            // the canonical subsets: all axes but C, or all but N
            const unsigned full = (1u << rank) - 1;
            const int skip = s.chance(50) ? aC : aN;
            c.mask = full;
            for (std::size_t r = 0; r < rank; ++r)
                if (in.order[r] == skip) c.mask &= ~(1u << r);
        }
    }

    // Memory: owning tensors or views at an offset; in place; output layout.
    c.owning = s.chance(50);
    c.in_offset = c.owning ? 0 : static_cast<unsigned>(s.below(16));
    c.out_offset = c.owning ? 0 : static_cast<unsigned>(s.below(16));
    const bool can_in_place = c.k != kind::reduce_kept;
    c.in_place = can_in_place && s.chance(25);
    // Another output layout: for the elementwise Normalize form, the group expressions and the
    // layers (the other forms are instantiated for one layout, see expr.hpp).
    const bool other_layout_ok = (c.k == kind::elementwise && c.form == 1) || c.k == kind::group_expr ||
                                 (is_layer(c.k) && c.k != kind::layer_norm && c.k != kind::rms_norm);
    if (!c.in_place && other_layout_ok && s.chance(50)) c.out_layout = partner_layout;
    c.overlap = c.k == kind::elementwise && !c.in_place && s.chance(5);
    if (c.overlap) c.out_layout = c.layout;

    // Extents: mostly small ones across the SIMD widths; sometimes an element count near the
    // thread and blocking thresholds.
    for (auto& e : c.ext) e = pick(s, small_extents);
    if (s.chance(20)) {
        const std::size_t target = pick(s, targets);
        const int grow = in.order[s.below(rank)];
        std::size_t others = 1;
        for (int a : in.order)
            if (a != grow) others *= c.ext[a];
        while (others > target / 4) { // keep the grown axis at least 4 long
            for (int a : in.order)
                if (a != grow && c.ext[a] > 1) {
                    c.ext[a] = (c.ext[a] + 1) / 2;
                    break;
                }
            others = 1;
            for (int a : in.order)
                if (a != grow) others *= c.ext[a];
        }
        c.ext[grow] = (target + others - 1) / others;
    }
    // Static extents of both layouts win; a conflict keeps the output in the input's layout.
    const layout_info& out = set[static_cast<std::size_t>(c.out_layout)];
    for (std::size_t r = 0; r < out.order.size(); ++r)
        for (std::size_t q = 0; q < rank; ++q)
            if (in.order[q] == out.order[r] && in.fixed[q] && out.fixed[r] && in.fixed[q] != out.fixed[r])
                c.out_layout = c.layout;
    for (std::size_t r = 0; r < rank; ++r)
        if (in.fixed[r]) c.ext[in.order[r]] = in.fixed[r];
    const layout_info& out2 = set[static_cast<std::size_t>(c.out_layout)];
    for (std::size_t r = 0; r < out2.order.size(); ++r)
        if (out2.fixed[r]) c.ext[out2.order[r]] = out2.fixed[r];

    // Layers: options, steps, validity of the statistics (PyTorch raises for one value per slot).
    if (is_layer(c.k)) {
        c.eps = pick(s, {1e-5, 1e-5, 1e-3, 0.1, 1e-10});
        const int m = static_cast<int>(s.below(4));
        c.cumulative = m == 3;
        c.momentum = m == 0 ? 0.1 : m == 1 ? 0.5 : 1.0;
        if (c.k == kind::instance_norm && c.cumulative) c.cumulative = false;
        c.affine = s.chance(75);
        c.track = c.k == kind::instance_norm ? s.chance(50) : s.chance(80);
        c.steps = 1 + static_cast<int>(s.below(4));
        c.train_bits = static_cast<unsigned>(s.below(16)) | (s.chance(80) ? 1u : 0u);
        if (c.k == kind::group_norm) {
            std::vector<std::size_t> divisors;
            for (std::size_t g = 1; g <= c.ext[aC]; ++g)
                if (c.ext[aC] % g == 0) divisors.push_back(g);
            c.groups = divisors[s.below(divisors.size())];
        }
        const std::size_t spatial = spatial_of(c, in);
        if (c.k == kind::batch_norm && c.ext[aN] * spatial < 2) c.ext[aN] = 2;
        if (c.k == kind::instance_norm && spatial < 2) {
            for (int a : in.order)
                if (a != aN && a != aC) {
                    c.ext[a] = 2;
                    break;
                }
        }
        if (c.k == kind::group_norm && (c.ext[aC] / c.groups) * spatial < 2) {
            if (c.groups > 1 &&
                !in.fixed[static_cast<std::size_t>(std::find(in.order.begin(), in.order.end(), aC) - in.order.begin())])
                c.groups = 1;
            if ((c.ext[aC] / c.groups) * spatial < 2) {
                bool grown = false;
                for (int a : in.order)
                    if (a != aN && a != aC) {
                        c.ext[a] = 2;
                        grown = true;
                        break;
                    }
                if (!grown) c.groups = 1; // (N, C): C / G >= 2 needs G < C
                if (!grown && c.ext[aC] < 2) c.ext[aC] = 2;
            }
        }
        c.batch.push_back(c.ext[aN]);
        for (int i = 1; i < c.steps; ++i)
            c.batch.push_back(s.chance(70) ? c.ext[aN] : std::max<std::size_t>(pick(s, small_extents), 2));
    }
    if (c.k == kind::group_expr && c.form == 1 && c.ext[aK] * c.ext[aH] * c.ext[aW] < 2) c.ext[aH] = 2;

    // Zero extents (reductions over nothing; layers with no samples), rarely.
    if (s.chance(3)) {
        const int a = in.order[s.below(rank)];
        std::size_t fixed = 0;
        for (std::size_t r = 0; r < rank; ++r)
            if (in.order[r] == a) fixed = in.fixed[r];
        if (!fixed && !(is_layer(c.k) && a == aC)) {
            c.ext[a] = 0;
            for (auto& b : c.batch)
                if (a == aN) b = 0;
        }
    }

    const int d = static_cast<int>(s.below(100));
    c.data = d < 30   ? data_kind::normal
             : d < 40 ? data_kind::offset_1e4
             : d < 50 ? data_kind::offset_1e6
             : d < 57 ? data_kind::constant
             : d < 66 ? data_kind::tiny_variance
             : d < 75 ? data_kind::wide_scales
             : d < 84 ? data_kind::small_integers
             : d < 93 ? data_kind::nan_inf
                      : data_kind::subnormal;
    c.threads = s.chance(50) ? 2 : 1;
    const int st = static_cast<int>(s.below(8));
    c.streaming = st == 0 ? 0 : st == 1 ? 4096 : st == 2 ? 65536 : static_cast<std::size_t>(-1);
    c.data_seed = s.next();
    return c;
}

std::string excluded_by(const fuzz_case& c, const exclusions& ex) {
#if defined(NF_FUZZ_NO_EXPRESSIONS) // the ThreadSanitizer build (CMakeLists.txt)
    if (c.k < kind::normalize) return "expressions";
#endif
    if (!ex.kinds.empty() && std::find(ex.kinds.begin(), ex.kinds.end(), kind_name(c.k)) == ex.kinds.end())
        return "kinds";
    if (!ex.layouts.empty()) {
        const std::string n = layouts(c.set)[static_cast<std::size_t>(c.layout)].name();
        if (std::find(ex.layouts.begin(), ex.layouts.end(), n) == ex.layouts.end()) return "layouts";
    }
    if (ex.nan && c.data == data_kind::nan_inf) return "nan";
    if (ex.subnormal && c.data == data_kind::subnormal) return "subnormal";
    if (ex.inplace && c.in_place) return "inplace";
    if (ex.inplace_threads && c.in_place && c.threads == 2) return "inplace-threads";
    if (ex.overlap && c.overlap) return "overlap";
    if (ex.streaming && c.streaming != static_cast<std::size_t>(-1)) return "streaming";
    if (ex.empty) {
        for (int a : layouts(c.set)[static_cast<std::size_t>(c.layout)].order)
            if (c.ext[a] == 0) return "empty";
        for (auto b : c.batch)
            if (b == 0) return "empty";
    }
    if (ex.gn_c_first && c.k == kind::group_norm) {
        const auto& o = layouts(c.set)[static_cast<std::size_t>(c.layout)].order;
        const auto& p = layouts(c.set)[static_cast<std::size_t>(c.out_layout)].order;
        auto before = [](const std::vector<int>& v) {
            return std::find(v.begin(), v.end(), aC) < std::find(v.begin(), v.end(), aN);
        };
        if (before(o) || before(p)) return "gn-c-first";
    }
    return {};
}

std::string describe(const fuzz_case& c) {
    std::ostringstream o;
    const auto& set = layouts(c.set);
    const auto& in = set[static_cast<std::size_t>(c.layout)];
    o << kind_name(c.k) << " form " << c.form << " " << in.name();
    if (c.out_layout != c.layout) o << "->" << set[static_cast<std::size_t>(c.out_layout)].name();
    o << " (";
    for (std::size_t r = 0; r < in.order.size(); ++r)
        o << (r ? "," : "") << axis_letter[in.order[r]] << "=" << c.ext[in.order[r]];
    o << ")";
    if (c.mask) {
        o << " reduce<";
        for (std::size_t r = 0; r < in.order.size(); ++r)
            if (c.mask >> r & 1u) o << axis_letter[in.order[r]];
        o << ">";
    }
    o << " data " << data_name(c.data) << (c.in_place ? " in-place" : "") << (c.overlap ? " overlap" : "")
      << (c.owning ? " tensors" : " views+" + std::to_string(c.in_offset) + "/" + std::to_string(c.out_offset))
      << " threads " << c.threads << " streaming ";
    if (c.streaming == static_cast<std::size_t>(-1))
        o << "off";
    else
        o << c.streaming;
    if (is_layer(c.k)) {
        o << " eps " << c.eps << " momentum " << (c.cumulative ? std::string("None") : std::to_string(c.momentum))
          << (c.affine ? " affine" : "") << (c.track ? " track" : "") << " steps " << c.steps << " train_bits "
          << c.train_bits;
        if (c.k == kind::group_norm) o << " groups " << c.groups;
        o << " N";
        for (auto b : c.batch) o << " " << b;
    }
    return o.str();
}

// --- Data -------------------------------------------------------------------------------------

std::vector<float> make_data(data_kind d, std::size_t n, std::uint64_t seed) {
    rng_source r(seed);
    auto normal = [&] { // Box-Muller; plenty for test data
        const double a = r.unit() + 0x1.0p-60, b = r.unit();
        return std::sqrt(-2 * std::log(a)) * std::cos(6.283185307179586 * b);
    };
    std::vector<float> v(n);
    const double scale_pick[] = {1e-3, 1.0, 1e3};
    const double constant = static_cast<double>(static_cast<float>(normal() * 10));
    for (std::size_t i = 0; i < n; ++i) {
        double x = 0;
        switch (d) {
        case data_kind::normal:
            x = normal();
            break;
        case data_kind::offset_1e4:
            x = 1e4 + normal();
            break;
        case data_kind::offset_1e6:
            x = 1e6 + normal();
            break;
        case data_kind::constant:
            x = constant;
            break;
        case data_kind::tiny_variance:
            x = 1.0 + 1e-6 * normal();
            break;
        case data_kind::wide_scales:
            x = normal() * scale_pick[(i / 7) % 3];
            break;
        case data_kind::small_integers:
            x = static_cast<double>(static_cast<int>(r.below(5)) - 2);
            break;
        case data_kind::nan_inf: {
            const auto k = r.below(40);
            x = k == 0   ? std::numeric_limits<double>::quiet_NaN()
                : k == 1 ? std::numeric_limits<double>::infinity()
                : k == 2 ? -std::numeric_limits<double>::infinity()
                         : normal();
            break;
        }
        case data_kind::subnormal:
            x = normal() * (r.chance(50) ? 1e-40 : 1e-30);
            break;
        default:
            break;
        }
        v[i] = static_cast<float>(x);
    }
    return v;
}

// --- Reference arithmetic -----------------------------------------------------------------------

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double flt_max = static_cast<double>(std::numeric_limits<float>::max());
bool special(double v) {
    return !std::isfinite(v);
}
} // namespace

ev rnd(ev z, double ulps) {
    if (std::isnan(z.e)) z.e = inf;
    if (special(z.v)) return {z.v, std::isnan(z.v) ? 0.0 : z.e == inf ? inf : 0.0};
    const double a = std::fabs(z.v);
    // Float overflow: the float result is infinite once the value rounds beyond FLT_MAX; near
    // the boundary which side the float computation lands on is not determined.
    if (a - z.e > flt_max * (1 + u)) return {z.v > 0 ? inf : -inf, 0};
    if (a + z.e > flt_max) return {z.v, inf};
    return {z.v, z.e + ulps * u * a + eta};
}

ev operator+(ev a, ev b) {
    return rnd({a.v + b.v, a.e + b.e});
}
ev operator-(ev a, ev b) {
    return rnd({a.v - b.v, a.e + b.e});
}
ev operator-(ev a) {
    return {-a.v, a.e};
}
ev operator*(ev a, ev b) {
    const double v = a.v * b.v;
    double e = std::fabs(a.v) * b.e + std::fabs(b.v) * a.e + a.e * b.e;
    if (special(v)) e = (a.e > 0 || b.e > 0) && !std::isnan(v) ? inf : 0; // inf * uncertain
    return rnd({v, e});
}
ev operator/(ev a, ev b) {
    const double v = a.v / b.v;
    const double den = std::fabs(b.v) - b.e;
    double e = den > 0 ? (a.e + std::fabs(v) * b.e) / den : inf;
    if (b.e == 0 && a.e == 0) e = 0;
    if (special(v) && b.e == 0 && a.e == 0) e = 0;
    return rnd({v, e});
}
ev sqrt(ev a) {
    if (std::isnan(a.v)) return {a.v, 0};
    if (a.v < 0) return a.v + a.e >= 0 ? ev{std::sqrt(a.v), inf} : ev{std::sqrt(a.v), 0};
    const double v = std::sqrt(a.v);
    const double e = a.e == 0 ? 0 : std::sqrt(a.v + a.e) - std::sqrt(std::max(a.v - a.e, 0.0));
    return rnd({v, e});
}
ev rsqrt(ev a) {
    return exact(1.0) / sqrt(a);
}
ev exp(ev a) {
    // Beyond float's range even at the low end of the operand's interval: certainly infinite.
    if (std::exp(a.v - a.e) > 2 * flt_max) return {std::numeric_limits<double>::infinity(), 0};
    const double v = std::exp(a.v);
    const double e = a.e == 0 ? 0 : std::exp(a.v + a.e) - v;
    return rnd({v, e}, 4);
}
ev log(ev a) {
    if (std::isnan(a.v)) return {a.v, 0};
    if (a.v - a.e <= 0 && a.e > 0) return {std::log(a.v), inf};
    const double v = std::log(a.v);
    const double e = a.e == 0 ? 0 : v - std::log(a.v - a.e);
    return rnd({v, e}, 4);
}
ev abs(ev a) {
    return {std::fabs(a.v), a.e};
}
ev tanh(ev a) {
    return rnd({std::tanh(a.v), a.e}, 8);
}
ev sigmoid(ev a) {
    return exact(1.0) / (exact(1.0) + exp(-a));
}
ev square(ev a) {
    return a * a;
}
ev relu(ev a) {
    return max(a, exact(0.0));
}
ev min(ev a, ev b) {
    const ev r = a.v < b.v ? a : b;
    // Close operands may compare either way in float; either choice is within max(e_a, e_b).
    return {r.v, std::max(a.e, b.e) == 0 ? 0 : std::max({a.e, b.e, r.e})};
}
ev max(ev a, ev b) {
    const ev r = a.v > b.v ? a : b;
    return {r.v, std::max(a.e, b.e) == 0 ? 0 : std::max({a.e, b.e, r.e})};
}
ev clamp(ev a, ev lo, ev hi) {
    return min(max(a, lo), hi);
}

void slot_stats::add(ev x) {
    count += 1;
    sum += x.v;
    sum_abs += std::fabs(x.v);
    err += x.e;
}
void slot_stats::finish_mean() {
    mean = sum / count;
}
void slot_stats::add_second(ev x) {
    const double d = x.v - mean;
    m2 += d * d;
    radius = std::max(radius, std::fabs(d));
    err_dev += 2 * std::fabs(d) * x.e;
}

// --- Checker ------------------------------------------------------------------------------------

void checker::fail(const std::string& message) {
    ++failures;
    if (failures <= 4) report += "    " + context + ": " + message + "\n";
}

void checker::value(const char* what, std::size_t i, float got, ev ref) {
    ++values;
    const double g = static_cast<double>(got);
    char buf[320];
    if (std::isnan(ref.v)) {
        if (ref.e == 0 && !std::isnan(g)) {
            std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected NaN", what, i, g);
            fail(buf);
        }
        if (ref.e != 0) ++uncompared;
        return;
    }
    if (!std::isfinite(ref.e)) {
        ++uncompared;
        return;
    }
    if (std::isinf(ref.v)) {
        if (g != ref.v) {
            std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected %g", what, i, g, ref.v);
            fail(buf);
        }
        return;
    }
    const double err = std::fabs(g - ref.v);
    const double ratio = ref.e > 0 ? err / ref.e : (err == 0 ? 0 : inf);
    if (!(ratio <= 1)) {
        std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, reference %.17g, error %.3g > bound %.3g (ratio %.3g)", what, i,
                      g, ref.v, err, ref.e, ratio);
        fail(buf);
        return;
    }
    max_ratio = std::max(max_ratio, ratio);
}

void checker::same(const char* what, std::size_t i, float got, float want) {
    ++values;
    const bool ok = (std::isnan(got) && std::isnan(want)) || std::memcmp(&got, &want, sizeof got) == 0;
    if (!ok) {
        char buf[200];
        std::snprintf(
            buf, sizeof buf, "%s[%zu] = %.9g (0x%08x), expected exactly %.9g (0x%08x)", what, i,
            static_cast<double>(got),
            [&] {
                unsigned b;
                std::memcpy(&b, &got, 4);
                return b;
            }(),
            static_cast<double>(want),
            [&] {
                unsigned b;
                std::memcpy(&b, &want, 4);
                return b;
            }());
        fail(buf);
    }
}

} // namespace fz
