// tests/fuzz/fuzz.hpp: the differential fuzzer's case description, its decoders (seed or bytes),
// the float64 reference helpers with their rounding-error bounds, and the checker.
//
// Nothing here includes normfuse: the reference side of the fuzzer is plain loops over flat
// arrays with strides, so that a defect in normfuse cannot hide in its own reference.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fz {

// --- Axes and layouts (run-time side) --------------------------------------------------------

enum axis_id : int { aN, aC, aD, aH, aW, aL, aG, aK, n_axes };
inline constexpr char axis_letter[n_axes + 1] = "NCDHWLGK";

/// A layout as the reference sees it: axis ids in memory order, static extents (0 = dynamic).
struct layout_info {
    std::vector<int> order;
    std::vector<std::size_t> fixed; // per position: static extent, or 0
    std::string name() const;
};

using extent_map = std::array<std::size_t, n_axes>;

/// Row-major strides of `order` for extents `ext` (absent axes get stride 0).
extent_map strides_of(const std::vector<int>& order, const extent_map& ext);
std::size_t count_of(const std::vector<int>& order, const extent_map& ext);

// --- Case families ----------------------------------------------------------------------------

/// What a case exercises. The order is part of the case encoding (seeds stay reproducible
/// only as long as it does not change).
enum class kind : int {
    elementwise, // expression forms without reductions
    reduce_full, // expressions with reductions broadcast back over the input's axes
    reduce_kept, // reductions assigned to a tensor of the kept axes
    group_expr,  // GroupNorm written in the DSL over (N, G, K, ...) with gamma over (G, K)
    normalize,
    batch_norm,
    instance_norm,
    layer_norm,
    group_norm,
    rms_norm,
    count
};
const char* kind_name(kind k);

enum class data_kind : int {
    normal,
    offset_1e4,
    offset_1e6,
    constant,
    tiny_variance,
    wide_scales,
    small_integers,
    nan_inf,
    subnormal,
    count
};
const char* data_name(data_kind d);

/// One generated case: everything needed to run it again.
struct fuzz_case {
    std::uint64_t seed = 0;
    std::uint64_t index = 0;
    kind k = kind::elementwise;
    int set = 0;        // which layout set of the kind (see layouts.hpp)
    int layout = 0;     // input layout in the set
    int out_layout = 0; // output layout in the set (same axes, maybe another order)
    int form = 0;       // expression form, or normalized shape (LayerNorm, RMSNorm)
    unsigned mask = 0;  // reduced axes, bit i = the i-th axis of the input layout
    extent_map ext{};
    data_kind data = data_kind::normal;
    bool in_place = false;
    bool overlap = false;      // destination is the source shifted by one element
    bool owning = true;        // owning tensors (64-byte aligned) or views at an offset
    unsigned in_offset = 0;    // floats before the input view
    unsigned out_offset = 0;   // floats before the output view
    int threads = 1;           // 1: one thread; 2: run with 1 and with 2 threads, compare
    std::size_t streaming = 0; // streaming-store threshold in bytes for this case
    // Layers
    int steps = 1;
    unsigned train_bits = 1; // step i trains when bit i is set
    double eps = 1e-5;
    double momentum = 0.1;
    bool cumulative = false; // momentum = None
    bool affine = true;
    bool track = true;
    std::size_t groups = 1;
    std::vector<std::size_t> batch; // N of each step (layers), [0] = ext[aN]
    std::uint64_t data_seed = 0;
};

/// A source of choices: a seeded generator (the driver) or the bytes of a libFuzzer input.
struct source {
    virtual ~source() = default;
    virtual std::uint64_t next() = 0;
    std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};
struct rng_source final : source {
    std::uint64_t s;
    explicit rng_source(std::uint64_t seed) : s(seed) {}
    std::uint64_t next() override; // splitmix64
};
struct byte_source final : source {
    const std::uint8_t* p;
    std::size_t n;
    byte_source(const std::uint8_t* data, std::size_t size) : p(data), n(size) {}
    std::uint64_t next() override; // up to 8 bytes, little endian; 0 once exhausted
};

/// Which families a run leaves out (the driver's --exclude), so that known defects can be
/// kept out of the test command until they are fixed.
struct exclusions {
    bool nan = false;                 // data with NaN / Inf
    bool subnormal = false;           // data of subnormal numbers
    bool inplace = false;             // every in-place case
    bool inplace_threads = false;     // in-place cases run with 2 threads
    bool overlap = false;             // destination overlapping the source (shifted by one)
    bool threads_bitwise = false;     // bit-identical elementwise results for 1 and 2 threads
    bool gn_c_first = false;          // GroupNorm layer on layouts where C comes before N
    bool empty = false;               // extents of 0
    bool streaming = false;           // small streaming-store thresholds
    std::vector<std::string> kinds;   // if not empty: only these kinds
    std::vector<std::string> layouts; // if not empty: only input layouts with these names
};

/// Builds case `index` of `seed` (or of a byte input). The same (seed, index) always gives the
/// same case, whatever the exclusions; excluded cases are skipped by the driver.
fuzz_case generate(source& src, std::uint64_t seed, std::uint64_t index);
/// Empty when the case runs; otherwise the name of the exclusion that skips it.
std::string excluded_by(const fuzz_case& c, const exclusions& ex);
std::string describe(const fuzz_case& c);

// --- Data ---------------------------------------------------------------------------------------

/// `n` floats of kind `d` from `seed` (deterministic).
std::vector<float> make_data(data_kind d, std::size_t n, std::uint64_t seed);

// --- Reference values with error bounds -------------------------------------------------------
//
// The reference evaluates each formula in double and carries, next to each value, a bound on the
// error that a float evaluation of the same formula may make (running error analysis, first
// order). With u = 2^-24 the unit roundoff of float:
//   - every float operation rounds its exact result z: |fl(z) - z| <= u |z| + eta, where
//     eta = 2^-150 covers underflow into subnormals;
//   - errors of the operands propagate with the operation's condition: for a +- b the sum of
//     the operand errors, for a * b |a| e_b + |b| e_a (+ e_a e_b), for a / b (e_a + |z| e_b) /
//     (|b| - e_b), for sqrt, exp and log the exact width of the function over [v - e, v + e];
//   - xsimd's exp, log and tanh are not correctly rounded: they are allowed 4 u |z| (tanh 8 u |z|)
//     instead of u |z| (measured: they stay far below).
//   - a reduction accumulates in double (error below count * 2^-53 * sum |v|) and rounds once
//     to float: the bound is the sum of the operand bounds (for the variance, the first-order
//     change 2 |v_i - mean| e_i / d) plus u |result|.
// The bound is attained only by adversarial roundings; the fuzzer reports the ratio
// |float result - reference| / bound, which must stay <= 1. A value whose bound is not finite
// (a division by a number that may be zero, a sqrt of a number that may be negative) is not
// compared: its float value is not determined by the formula. Values that are NaN or +-Inf in
// the reference with a zero bound are exact IEEE results: the float result must be NaN at the
// same positions, and the same infinity.
inline constexpr double u = 0x1.0p-24;
inline constexpr double eta = 0x1.0p-150;

struct ev {
    double v = 0;
    double e = 0;
};
/// An exact float input.
inline ev exact(double v) {
    return {v, 0};
}
/// Rounds `z` (value with propagated error) to float with `ulps` units of error; emulates float
/// overflow (results beyond float's range become infinite, uncertain near the boundary).
ev rnd(ev z, double ulps = 1);
ev operator+(ev a, ev b);
ev operator-(ev a, ev b);
ev operator-(ev a);
ev operator*(ev a, ev b);
ev operator/(ev a, ev b);
ev sqrt(ev a);
ev rsqrt(ev a); // 1 / sqrt(a): a true division, two roundings
ev exp(ev a);
ev log(ev a);
ev abs(ev a);
ev tanh(ev a);
ev sigmoid(ev a); // 1 / (1 + exp(-a)), as documented
ev square(ev a);
ev relu(ev a);      // max(a, 0)
ev min(ev a, ev b); // a < b ? a : b  (the second operand when either is NaN, as documented)
ev max(ev a, ev b); // a > b ? a : b
ev clamp(ev a, ev lo, ev hi);

/// Double-precision statistics of one slot, exact up to double rounding.
struct slot_stats {
    double count = 0;
    double sum = 0, mean = 0, m2 = 0; // m2 = sum (v - mean)^2
    double radius = 0;                // max |v - mean|
    double sum_abs = 0;
    double err = 0;     // sum of the operand error bounds
    double err_dev = 0; // sum of 2 |v - mean| e_i (first-order change of m2)
    void add(ev x);     // first pass (sum); call finish_mean, then add_second for each value
    void finish_mean();
    void add_second(ev x);
};

// --- Checking ---------------------------------------------------------------------------------

struct totals {
    std::uint64_t cases = 0, skipped = 0, failed = 0, values = 0, uncompared = 0;
    double max_ratio = 0;
    std::string max_ratio_case;
};

/// Collects the comparisons of one case; stops recording after the first few failures.
struct checker {
    const fuzz_case& c;
    std::string context; // which run (threads, step)
    int failures = 0;
    std::string report;
    std::uint64_t values = 0, uncompared = 0;
    double max_ratio = 0;
    explicit checker(const fuzz_case& cc) : c(cc) {}
    /// float result `got` against the reference `ref` (bound included).
    void value(const char* what, std::size_t i, float got, ev ref);
    /// An exact check (bit-for-bit as floats, NaN matching NaN).
    void same(const char* what, std::size_t i, float got, float want);
    void fail(const std::string& message);
};

} // namespace fz
