// Runtime tests of layout-changing assignments (eval/transpose.hpp): every permutation of a 3-D
// and a 4-D operand into every destination order, against a scalar double reference (within the
// two roundings of (x - m) / s in float) and bitwise against the same expression evaluated in the
// operand's own layout (the blocked transpose is an exact permutation of those values); tile and
// register-block edges (extents that are not multiples of the batch size or of the tile),
// unaligned views, a destination axis that is an outer axis of the operand's loop, uint8, bf16 and
// integer stores, streaming stores against ordinary ones, and 1 vs 2 threads bitwise; 2 to 4
// channels fixed in the type, read at a stride through windows by the plain loop nest; the
// streaming rule (bytes written plus read).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/half.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/parallel.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/expr/cast.hpp>
#include <normfuse/expr/operators.hpp>

using namespace nf::axes;

namespace {

std::uint32_t lcg(std::uint32_t& s) {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
}

/// The P-th permutation of 0 .. R-1 in lexicographic order.
template <std::size_t R, std::size_t P>
constexpr std::array<std::size_t, R> nth_permutation() {
    std::array<std::size_t, R> a{};
    for (std::size_t i = 0; i < R; ++i) a[i] = i;
    for (std::size_t k = 0; k < P; ++k) std::next_permutation(a.begin(), a.end());
    return a;
}

template <class Axes, std::size_t R, std::size_t P, class = std::make_index_sequence<R>>
struct permuted_shape;
template <class Axes, std::size_t R, std::size_t P, std::size_t... I>
struct permuted_shape<Axes, R, P, std::index_sequence<I...>> {
    static constexpr auto perm = nth_permutation<R, P>();
    using type = nf::shape<nf::axis_at_t<perm[I], Axes>...>;
};

/// Row-major offset of the source multi-index `src` in the destination order `perm` with the
/// source extents `ext`.
template <std::size_t R>
std::size_t permuted_offset(const std::array<std::size_t, R>& src, const std::array<std::size_t, R>& ext,
                            const std::array<std::size_t, R>& perm) {
    std::size_t o = 0;
    for (std::size_t d = 0; d < R; ++d) o = o * ext[perm[d]] + src[perm[d]];
    return o;
}

/// `y = (x - m) / s` with x over the source axes `SA` (the last one the channel axis of m and s)
/// into the P-th permutation of them, on views one element off their allocation's alignment.
template <class SA, std::size_t P>
void check_permutation(const std::array<std::size_t, SA::size>& ext) {
    constexpr std::size_t R = SA::size;
    using source_shape = nf::shape_from<SA>;
    using dest_shape = typename permuted_shape<SA, R, P>::type;
    constexpr auto perm = permuted_shape<SA, R, P>::perm;
    using channel = nf::axis_at_t<R - 1, SA>;
    std::size_t count = 1;
    for (std::size_t v : ext) count *= v;
    const std::size_t c = ext[R - 1];
    std::vector<float> input(count + 1), mean(c), stdv(c);
    std::uint32_t seed = 7 + P;
    for (auto& v : input) v = static_cast<float>(lcg(seed) % 20001) / 1000.f - 10.f;
    for (std::size_t k = 0; k < c; ++k) {
        mean[k] = 0.3f + 0.07f * static_cast<float>(k);
        stdv[k] = 0.9f + 0.013f * static_cast<float>(k);
    }
    const nf::view<const float, source_shape> x(input.data() + 1, nf::extents<source_shape>::from_all(ext));
    const nf::view<const float, nf::shape<channel>> m(mean.data(), {c}), s(stdv.data(), {c});
    std::array<std::size_t, R> dext{};
    for (std::size_t d = 0; d < R; ++d) dext[d] = ext[perm[d]];
    std::vector<float> out(count + 2, -1.f), plain(count);
    const nf::view<float, dest_shape> y(out.data() + 1, nf::extents<dest_shape>::from_all(dext));
    const nf::view<float, source_shape> yp(plain.data(), nf::extents<source_shape>::from_all(ext));
    y = (x - m) / s;
    yp = (x - m) / s; // the same layout: the plain loop nest
    std::size_t wrong = 0, differ = 0;
    std::array<std::size_t, R> idx{};
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t rest = i;
        for (std::size_t d = R; d-- > 0;) {
            idx[d] = rest % ext[d];
            rest /= ext[d];
        }
        const float got = out[1 + permuted_offset<R>(idx, ext, perm)];
        const std::size_t k = idx[R - 1];
        const double ref = (static_cast<double>(input[1 + i]) - mean[k]) / stdv[k];
        // Two roundings in float (the difference, the quotient): at most 2^-24 of |x - m| over s
        // plus 2^-24 of the quotient, and the quotient's own error: 2.01 * 2^-24 * |ref|.
        wrong += !(std::fabs(got - ref) <= 2.01 * std::ldexp(std::fabs(ref), -24));
        differ += std::memcmp(&got, &plain[i], sizeof(float)) != 0;
    }
    CAPTURE(P, perm);
    CHECK(wrong == 0);
    CHECK(differ == 0);
    CHECK(out[0] == -1.f); // nothing written outside the view
    CHECK(out[count + 1] == -1.f);
}

template <class SA, std::size_t... P>
void check_permutations(const std::array<std::size_t, SA::size>& ext, std::index_sequence<P...>) {
    (check_permutation<SA, P>(ext), ...);
}

} // namespace

TEST_CASE("layout change: every permutation of a 3-D operand, against double and the plain loop", "[layout]") {
    using hwc = nf::axis_list<H<>, W<>, C<>>;
    // 37 channels: a 16 x 16 register block plus edges; 150 columns: several tiles along W. 601
    // channels: more than a tile takes along b (at most a quarter of L1 over the batch size: 384
    // floats for a 48 KiB L1 with SSE2), so tiles along b too, with a partial last one.
    const auto ext = GENERATE(std::array<std::size_t, 3>{3, 150, 37}, std::array<std::size_t, 3>{2, 5, 601},
                              std::array<std::size_t, 3>{2, 5, 3}, std::array<std::size_t, 3>{1, 1, 1});
    CAPTURE(ext);
    check_permutations<hwc>(ext, std::make_index_sequence<6>{});
}

TEST_CASE("layout change: every permutation of a 4-D operand, against double and the plain loop", "[layout]") {
    using nhwc = nf::axis_list<N<>, H<>, W<>, C<>>;
    const auto ext = GENERATE(std::array<std::size_t, 4>{2, 3, 21, 19}, std::array<std::size_t, 4>{1, 2, 700, 3});
    CAPTURE(ext);
    check_permutations<nhwc>(ext, std::make_index_sequence<24>{});
}

TEST_CASE("layout change: the destination's innermost axis is an outer axis of the operand's loop", "[layout]") {
    // z over (N, H, C) makes H an outer axis of the loop in x's order (N, H, W, C); the tile's
    // rows along H are then read one seek at a time. 9 channels of double: a register block of
    // 8 x 8 (AVX-512), 4 x 4 (AVX) or 2 x 2 (SSE2) and an edge.
    const std::size_t n = 2, h = 19, w = 6, c = 9;
    std::vector<double> xs(n * h * w * c), zs(n * h * c);
    std::uint32_t seed = 3;
    for (auto& v : xs) v = static_cast<double>(lcg(seed) % 1000) - 500.0;
    for (auto& v : zs) v = static_cast<double>(lcg(seed) % 1000) / 16.0;
    const nf::view<const double, nf::shape<N<>, H<>, W<>, C<>>> x(xs.data(), {n, h, w, c});
    const nf::view<const double, nf::shape<N<>, H<>, C<>>> z(zs.data(), {n, h, c});
    nf::tensor<double, nf::shape<N<>, C<>, W<>, H<>>> y({n, c, w, h});
    y = x * z + 1.0;
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < c; ++k) // exact: integers times multiples of 1/16
                    wrong += y(a, k, d, b) != xs[((a * h + b) * w + d) * c + k] * zs[(a * h + b) * c + k] + 1.0;
    CHECK(wrong == 0);
}

TEST_CASE("layout change: uint8 copies, bf16 stores and static channels, unaligned", "[layout]") {
    const std::size_t n = 2, h = 3, w = GENERATE(1, 17, 67);
    CAPTURE(w);
    const std::size_t count = n * h * w * 3;
    std::vector<std::uint8_t> pixels(count + 1);
    std::uint32_t seed = 11;
    for (auto& p : pixels) p = static_cast<std::uint8_t>(lcg(seed));
    const nf::view<const std::uint8_t, nf::shape<N<>, H<>, W<>, C<3>>> x(pixels.data() + 1, {n, h, w});
    std::vector<std::uint8_t> planar(count + 1);
    const nf::view<std::uint8_t, nf::shape<N<>, C<3>, H<>, W<>>> yu(planar.data() + 1, {n, h, w});
    yu = x; // a copy into another layout
    std::vector<nf::bf16> halves(count + 1);
    const nf::view<nf::bf16, nf::shape<N<>, C<3>, H<>, W<>>> yb(halves.data() + 1, {n, h, w});
    yb = nf::cast<float>(x) / 255.f; // one rounding, on the store
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < 3; ++k) {
                    const std::uint8_t v = pixels[1 + ((a * h + b) * w + d) * 3 + k];
                    wrong += yu(a, k, b, d) != v;
                    wrong += static_cast<float>(yb(a, k, b, d)) !=
                             static_cast<float>(nf::bf16(static_cast<float>(v) / 255.f));
                }
    CHECK(wrong == 0);
}

namespace {

/// `y = (x / 255 - m) / s` (uint8) or `(x - m) / s` from (N, H, W, C<Cn>) into (N, C<Cn>, H, W),
/// 2 <= Cn <= 4 fixed in the type: the plain loop nest, reading x along W at a stride of Cn
/// through windows of whole batches (eval/bound.hpp). Source and destination one element off
/// their allocation's alignment, the source's last element the last of its allocation (a read
/// past it is a sanitizer error); bitwise against the same operations on scalars.
template <class T, std::size_t Cn>
void check_narrow_channels(std::size_t w) {
    using V = nf::compute_t<T>;
    const std::size_t n = 2, h = 3, count = n * h * w * Cn;
    std::vector<T> input(count + 1);
    std::uint32_t seed = 13 + static_cast<std::uint32_t>(Cn);
    for (auto& v : input) v = static_cast<T>(lcg(seed) % 256);
    const nf::view<const T, nf::shape<N<>, H<>, W<>, C<Cn>>> x(input.data() + 1, {n, h, w});
    nf::tensor<V, nf::shape<C<Cn>>> m, s;
    for (std::size_t k = 0; k < Cn; ++k) {
        m.data()[k] = static_cast<V>(0.485) + static_cast<V>(0.01) * static_cast<V>(k);
        s.data()[k] = static_cast<V>(0.229) + static_cast<V>(0.002) * static_cast<V>(k);
    }
    std::vector<V> out(count + 2, V(-1));
    const nf::view<V, nf::shape<N<>, C<Cn>, H<>, W<>>> y(out.data() + 1, {n, h, w});
    if constexpr (std::is_same_v<T, std::uint8_t>)
        y = (nf::cast<float>(x) / 255.f - m) / s;
    else
        y = (x - m) / s;
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < Cn; ++k) {
                    const V v = static_cast<V>(input[1 + ((a * h + b) * w + d) * Cn + k]);
                    const V expected = std::is_same_v<T, std::uint8_t> ? (v / V(255) - m.data()[k]) / s.data()[k]
                                                                       : (v - m.data()[k]) / s.data()[k];
                    wrong += y(a, k, b, d) != expected;
                }
    CAPTURE(sizeof(T), Cn, w);
    CHECK(wrong == 0);
    CHECK(out[0] == V(-1)); // nothing written outside the view
    CHECK(out[count + 1] == V(-1));
}

} // namespace

TEST_CASE("layout change: 2 to 4 static channels into planes, read at a stride through windows", "[layout]") {
    // 1: no whole batch; 21 and 67: whole batches and a partial one at every register width.
    const std::size_t w = GENERATE(1, 21, 67);
    check_narrow_channels<std::uint8_t, 2>(w);
    check_narrow_channels<std::uint8_t, 4>(w);
    check_narrow_channels<float, 3>(w);
    check_narrow_channels<double, 3>(w);
    check_narrow_channels<double, 4>(w);
}

TEST_CASE("layout change: 1 and 2 threads give the same bits", "[layout][threads]") {
    const std::size_t n = 2, h = 23, w = 41, c = GENERATE(3, 24);
    CAPTURE(c);
    const std::size_t count = n * h * w * c; // above parallel_min_work (32768)
    std::vector<float> input(count), mean(c), stdv(c);
    std::uint32_t seed = 5;
    for (auto& v : input) v = static_cast<float>(lcg(seed) % 256);
    for (std::size_t k = 0; k < c; ++k) {
        mean[k] = 0.485f + 0.01f * static_cast<float>(k);
        stdv[k] = 0.229f + 0.002f * static_cast<float>(k);
    }
    const nf::view<const float, nf::shape<N<>, H<>, W<>, C<>>> x(input.data(), {n, h, w, c});
    const nf::view<const float, nf::shape<C<>>> m(mean.data(), {c}), s(stdv.data(), {c});
    nf::tensor<float, nf::shape<N<>, C<>, H<>, W<>>> one({n, c, h, w}), two({n, c, h, w});
    const int before = nf::num_threads();
    nf::set_num_threads(1);
    one = (x / 255.f - m) / s;
    nf::set_num_threads(2);
    two = (x / 255.f - m) / s;
    nf::set_num_threads(before);
    CHECK(std::memcmp(one.data(), two.data(), count * sizeof(float)) == 0);
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < c; ++k) {
                    const float v = input[((a * h + b) * w + d) * c + k];
                    wrong += one(a, k, b, d) != (v / 255.f - mean[k]) / stdv[k]; // the same operations in float
                }
    CHECK(wrong == 0);
}

TEST_CASE("layout change: streaming stores give the bits of ordinary stores, aligned or not", "[layout]") {
    // Streaming is forced (threshold 0) on destinations far below the default threshold. 3
    // channels: the deinterleave; 37: register blocks written row by row, and edges. 185
    // positions a plane: rows of the destination start at every alignment, tiles end mid-block.
    const std::size_t n = 2, h = 5, w = 37, c = GENERATE(3, 37);
    CAPTURE(c);
    const std::size_t count = n * h * w * c;
    std::vector<float> input(count), mean(c), stdv(c);
    std::uint32_t seed = 17;
    for (auto& v : input) v = static_cast<float>(lcg(seed) % 256);
    for (std::size_t k = 0; k < c; ++k) {
        mean[k] = 0.485f + 0.01f * static_cast<float>(k);
        stdv[k] = 0.229f + 0.002f * static_cast<float>(k);
    }
    const nf::view<const float, nf::shape<N<>, H<>, W<>, C<>>> x(input.data(), {n, h, w, c});
    const nf::view<const float, nf::shape<C<>>> m(mean.data(), {c}), s(stdv.data(), {c});
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    nf::tensor<float, nchw> aligned({n, c, h, w}), ordinary({n, c, h, w});
    std::vector<float> shifted(count + 2, -1.f);
    const nf::view<float, nchw> unaligned(shifted.data() + 1, {n, c, h, w});
    const std::size_t before = nf::streaming_threshold();
    nf::set_streaming_threshold(0);
    aligned = (x / 255.f - m) / s;
    unaligned = (x / 255.f - m) / s;
    nf::set_streaming_threshold(static_cast<std::size_t>(-1));
    ordinary = (x / 255.f - m) / s;
    nf::set_streaming_threshold(before);
    CHECK(std::memcmp(aligned.data(), ordinary.data(), count * sizeof(float)) == 0);
    CHECK(std::memcmp(shifted.data() + 1, ordinary.data(), count * sizeof(float)) == 0);
    CHECK(shifted[0] == -1.f); // nothing written outside the view
    CHECK(shifted[count + 1] == -1.f);
    std::size_t wrong = 0;
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < h; ++b)
            for (std::size_t d = 0; d < w; ++d)
                for (std::size_t k = 0; k < c; ++k) {
                    const float v = input[((a * h + b) * w + d) * c + k];
                    wrong += aligned(a, k, b, d) != (v / 255.f - mean[k]) / stdv[k]; // the same operations in float
                }
    CHECK(wrong == 0);
}

TEST_CASE("layout change: the streaming rule counts the bytes written and the bytes read", "[layout]") {
    // eval/settings.hpp: streaming when written + read reach twice the threshold (halves compared).
    const std::size_t before = nf::streaming_threshold();
    nf::set_streaming_threshold(100);
    CHECK(nf::detail::streams_by_size(100, 100));              // y = f(x) of one type: a destination of the threshold
    CHECK_FALSE(nf::detail::streams_by_size(98, 98));          // just below it
    CHECK(nf::detail::streams_by_size(160, 40));               // uint8 into float: 5 bytes an element, 200 in all
    CHECK_FALSE(nf::detail::streams_by_size(152, 38));         // 190
    CHECK_FALSE(nf::detail::streams_by_size(199, 0));          // the destination alone below twice the threshold
    nf::set_streaming_threshold(static_cast<std::size_t>(-1)); // off, even for the largest sizes
    CHECK_FALSE(nf::detail::streams_by_size(static_cast<std::size_t>(-1), static_cast<std::size_t>(-1)));
    nf::set_streaming_threshold(0); // always
    CHECK(nf::detail::streams_by_size(0, 0));
    nf::set_streaming_threshold(before);
    // The bytes read per destination element: full-size operands only, in their stored type.
    using image = nf::view<const std::uint8_t, nf::shape<N<>, H<>, W<>, C<3>>>;
    using planes = nf::view<const float, nf::shape<N<>, C<3>, H<>, W<>>>;
    using channels = nf::view<const float, nf::shape<C<3>>>;
    using pipeline =
        decltype((nf::cast<float>(std::declval<const image&>()) / 255.f - std::declval<const channels&>()) /
                 std::declval<const channels&>());
    using product = decltype(std::declval<const planes&>() * std::declval<const planes&>() + 1.f);
    STATIC_REQUIRE(nf::detail::full_size_read_bytes<std::remove_cvref_t<pipeline>, 4>() == 1);
    STATIC_REQUIRE(nf::detail::full_size_read_bytes<std::remove_cvref_t<product>, 4>() == 8);
}
