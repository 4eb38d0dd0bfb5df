// normfuse/eval/transpose.hpp: layout-changing assignments (NHWC into NCHW, any permutation) as a cache-blocked transpose.
//
// When the destination's innermost axis `a` is not the innermost axis `b` of a full-rank operand
// (x over (N, H, W, C) assigned into (N, C, H, W)), the plain loop nest runs along `a` and reads
// that operand with a stride: one element per cache line, gathered. Here the expression is
// evaluated in the operand's own order instead (its loads contiguous, its batches full), one tile
// of (b, a) at a time into a buffer that stays in L1 (sized from the L1 data cache); the tile is
// transposed in registers and its rows are written along `a`, contiguously (streamed when the
// destination is large): 2 to 4 channels straight from the deinterleave, blocks of at least one
// register square straight from the registers, a whole batch per row; other tiles (fewer rows or
// channels, or a destination of another type) through a second buffer. Every
// element goes through the same batch arithmetic as in the plain loop, so the values are the
// same bits, whatever the tiles and the threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/cache_info.hpp>
#include <normfuse/core/config.hpp>
#include <normfuse/core/convert.hpp>
#include <normfuse/eval/blocked.hpp>
#include <normfuse/eval/bound.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/stream.hpp>

namespace nf::detail {

/// True when the leaf layout `L` has every axis of `DL` and another innermost axis.
template <class DL, class L>
constexpr bool changes_innermost() {
    if constexpr (L::size != DL::size || DL::size < 2)
        return false;
    else
        return !std::is_same_v<axis_at_t<L::size - 1, L>, axis_at_t<DL::size - 1, DL>>;
}

/// The first leaf layout in `Layouts` that changes the innermost axis (void: none).
template <class DL, class Layouts>
struct transposed_source {
    using type = void;
};
template <class DL, class L0, class... Ls>
struct transposed_source<DL, layout_list<L0, Ls...>> {
    using type = typename std::conditional_t<changes_innermost<DL, L0>(), std::type_identity<L0>,
                                             transposed_source<DL, layout_list<Ls...>>>::type;
};

/// The order in which `dst = e` over `DL` is evaluated tile by tile (void: the plain loop nest).
template <class E, class DL>
using transposed_source_t = typename transposed_source<DL, typename effective_layouts<E, DL>::type>::type;

template <class Layouts, class SL, std::size_t K>
struct none_strided;
template <class... Ls, class SL, std::size_t K>
struct none_strided<layout_list<Ls...>, SL, K> {
    static constexpr bool value = ((mode_of<Ls, SL, K>() != leaf_mode::strided) && ...);
};

/// True when the operand of layout `SL` that changes the innermost axis of `DL` has an innermost
/// axis of 2 to 4 values fixed in the type (the channels of pixels) and the destination's
/// innermost axis just before it (uint8 (N, H, W, 3) into (N, 3, H, W)). The plain loop nest
/// then reads it along the destination's rows at a stride of 2 to 4 elements, through windows of
/// whole batches and constant permutations (eval/bound.hpp: window_masks), and writes each row of
/// the destination in order: with the per-channel operands constant along a row, the image
/// pipeline took 0.55 to 0.82 times the CPU time of the blocked transpose at batches of 16 to 64
/// images of 224 x 224, 0.76 to 1.11 times at 96 and 128 (docs/bench/pipeline.md). The
/// operand's rows are read once per channel, from L2 (an image of 224 x 224 x 3 bytes is 150 KB).
template <class SL, class DL>
constexpr bool narrow_interleaved() {
    constexpr std::size_t R = DL::size;
    if constexpr (R < 2 || SL::size != R) {
        return false;
    } else {
        constexpr auto pos = positions_in<SL, DL>::value;
        using Bx = axis_at_t<R - 1, SL>;
        using Bd = axis_at_t<pos[R - 1], DL>;
        constexpr std::size_t eb = Bx::is_static ? Bx::extent : Bd::is_static ? Bd::extent : 0;
        return eb >= 2 && eb <= 4 && pos[R - 2] == R - 1;
    }
}

/// True when `dst = e` over `DL` is evaluated as a blocked transpose: an operand changes the
/// innermost axis, and in that operand's order every leaf is read without a gather. Expressions
/// with reductions keep the plain loop nest (their row-local sums follow its order), and so do
/// expressions over strided views and narrow interleaved operands (narrow_interleaved).
template <class E, class DL>
constexpr bool transposable() {
    if constexpr (has_reduction<E>() || has_strided_leaf<E>()) {
        // A strided view's loop runs along one axis (plan.hpp): in the source's order that is
        // its innermost axis, often the 3 channels; along the destination's, lanes are gathered.
        return false;
    } else {
        using SL = transposed_source_t<E, DL>;
        if constexpr (std::is_void_v<SL>) {
            return false;
        } else if constexpr (narrow_interleaved<SL, DL>()) {
            return false;
        } else {
            using Ls = typename effective_layouts<E, SL>::type;
            return none_strided<Ls, SL, outer_depth<Ls, SL>()>::value;
        }
    }
}

/// Where the tiles of a blocked transpose lie. The expression is bound in the source's order
/// `SL` with KS outer axes; positions along its run have the strides `run_stride`. The tile's
/// axis `a` is the destination's innermost axis together with the axes before it that are also
/// consecutive, in the same order, in the source (H and W of (N, H, W, C) into (N, C, H, W): one
/// axis of H * W values); the axis `b` likewise ends the source's order. The other axes are looped.
template <std::size_t R>
struct transpose_geometry {
    std::size_t ea = 1, eb = 1;             // extents of the (merged) axes a and b
    std::ptrdiff_t b_dstride = 0;           // destination stride of b (that of a is 1)
    std::size_t a_run_stride = 0;           // run-position stride of a when it lies in the run
    std::size_t pa = 0;                     // source position of a when it is an outer axis of the loop
    bool a_outer = false;                   // a is an outer axis (KS > its position): one seek per row
    std::size_t others = 0;                 // number of other axes
    std::array<std::size_t, R> other_ext{}; // their extents, destination stride, source position
    std::array<std::ptrdiff_t, R> other_dstride{};
    std::array<std::size_t, R> other_source_pos{};
    std::array<std::size_t, R> run_stride{}; // run-position stride of the source's axis j (j >= KS)
    std::size_t tb = 0, ta = 0;              // tile extents along b and a
    std::size_t ld = 0;                      // row stride of the transposed tile (ta rounded up)
    std::size_t tiles_b = 0, tiles_a = 0, other_count = 0;

    std::size_t units() const noexcept { return other_count * tiles_b * tiles_a; }
};

/// Positions [begin, end) of the source-ordered run into `out`, through the batch arithmetic.
template <bool Periodic, class V, class Arch, class Bound>
NF_ALWAYS_INLINE void fill_span(V* NF_RESTRICT out, std::size_t begin, std::size_t end, const Bound& root,
                                std::size_t chunk) {
    using batch = xsimd::batch<V, Arch>;
    constexpr std::size_t B = batch::size;
    std::size_t phase = Periodic ? begin % chunk : 0;
    std::size_t i = begin;
    for (; i + B <= end; i += B, out += B) {
        root.load(i, phase).store_unaligned(out);
        if constexpr (Periodic) {
            phase += B;
            if (phase >= chunk) phase -= chunk;
        }
    }
    if (i < end) {
        alignas(64) V lanes[B];
        root.load_partial(i, phase, end - i).store_aligned(lanes);
        for (std::size_t l = 0; l < end - i; ++l) out[l] = lanes[l];
    }
}

/// Stores the 128-bit lane `J` of `v` to `p` (any alignment).
template <std::size_t J, class V, class Arch>
NF_ALWAYS_INLINE void store_lane(V* p, const xsimd::batch<V, Arch>& v) {
    constexpr std::size_t bytes = sizeof(xsimd::batch<V, Arch>);
    if constexpr (bytes == 16) {
        v.store_unaligned(p);
        return;
    }
#if defined(__AVX512F__)
    if constexpr (bytes == 64) {
        if constexpr (std::is_same_v<V, float>)
            _mm_storeu_ps(reinterpret_cast<float*>(p), _mm512_extractf32x4_ps(v, J));
        else
            _mm_storeu_ps(reinterpret_cast<float*>(p), _mm512_extractf32x4_ps(_mm512_castpd_ps(v), J));
        return;
    }
#endif
#if defined(__AVX__)
    if constexpr (bytes == 32) {
        if constexpr (std::is_same_v<V, float>)
            _mm_storeu_ps(reinterpret_cast<float*>(p), _mm256_extractf128_ps(v, J));
        else
            _mm_storeu_ps(reinterpret_cast<float*>(p), _mm256_extractf128_ps(_mm256_castpd_ps(v), J));
        return;
    }
#endif
    if constexpr (bytes != 16) {
        alignas(64) V lanes[xsimd::batch<V, Arch>::size];
        v.store_aligned(lanes);
        std::memcpy(p, lanes + J * (16 / sizeof(V)), 16);
    }
}

/// Transposes the B x B block of `in` (row stride `ldi`) into `out` (row stride `ldo`). xsimd's
/// zip_lo / zip_hi interleave within each 128-bit lane (on AVX and AVX-512 as on SSE2), so the
/// block is taken as L x L sub-blocks, L the values of a 128-bit lane: for each group of L rows,
/// log2(L) rounds of interleaving rows k and k + L/2 transpose every lane's sub-block (each round
/// rotates the bits of (row, position in lane) by one), and lane j of row k of the group is then
/// row L j + k of the output, from column L times the group on.
template <class V, class Arch>
NF_ALWAYS_INLINE void transpose_block(const V* in, std::size_t ldi, V* out, std::size_t ldo) {
    using batch = xsimd::batch<V, Arch>;
    constexpr std::size_t B = batch::size, L = 16 / sizeof(V);
    static_assert(B % L == 0);
    for (std::size_t g = 0; g < B; g += L) {
        batch r[L], t[L];
        for (std::size_t k = 0; k < L; ++k) r[k] = batch::load_unaligned(in + (g + k) * ldi);
        for (std::size_t round = 1; round < L; round *= 2) {
            for (std::size_t k = 0; k < L / 2; ++k) {
                t[2 * k] = xsimd::zip_lo(r[k], r[k + L / 2]);
                t[2 * k + 1] = xsimd::zip_hi(r[k], r[k + L / 2]);
            }
            for (std::size_t k = 0; k < L; ++k) r[k] = t[k];
        }
        for (std::size_t k = 0; k < L; ++k) [&]<std::size_t... J>(std::index_sequence<J...>) {
                (store_lane<J>(out + (L * J + k) * ldo + g, r[k]), ...);
            }
        (std::make_index_sequence<B / L>{});
    }
}

/// The B x B block of `in` (row stride `ldi`) transposed into registers: `out[j]` is column j of
/// the block, whole. The in-lane rounds of transpose_block leave, in group g of L rows, lane J of
/// row k holding the L values of output row L J + k from column L g on; each output row then
/// gathers its lane J from the B / L groups (one, two or four 128-bit lanes: AVX's
/// permute2f128, AVX-512's shuffle_f32x4), so the row can be stored as one batch (a whole
/// 64-byte line on AVX-512, streamed without partial lines).
template <class V, class Arch>
NF_ALWAYS_INLINE void transpose_block_rows(const V* in, std::size_t ldi, xsimd::batch<V, Arch>* out) {
    using batch = xsimd::batch<V, Arch>;
    constexpr std::size_t B = batch::size, L = 16 / sizeof(V), G = B / L;
    static_assert(B % L == 0 && (G == 1 || G == 2 || G == 4));
    batch r[G][L];
    for (std::size_t g = 0; g < G; ++g) {
        batch t[L];
        for (std::size_t k = 0; k < L; ++k) r[g][k] = batch::load_unaligned(in + (g * L + k) * ldi);
        for (std::size_t round = 1; round < L; round *= 2) {
            for (std::size_t k = 0; k < L / 2; ++k) {
                t[2 * k] = xsimd::zip_lo(r[g][k], r[g][k + L / 2]);
                t[2 * k + 1] = xsimd::zip_hi(r[g][k], r[g][k + L / 2]);
            }
            for (std::size_t k = 0; k < L; ++k) r[g][k] = t[k];
        }
    }
    if constexpr (G == 1) {
        for (std::size_t k = 0; k < L; ++k) out[k] = r[0][k];
        return;
    }
#if defined(__AVX512F__)
    if constexpr (G == 4 && sizeof(batch) == 64) {
        auto ps = [](const batch& v) {
            if constexpr (std::is_same_v<V, float>)
                return static_cast<__m512>(v);
            else
                return _mm512_castpd_ps(v);
        };
        auto back = [](__m512 v) {
            if constexpr (std::is_same_v<V, float>)
                return batch(v);
            else
                return batch(_mm512_castps_pd(v));
        };
        for (std::size_t k = 0; k < L; ++k) {
            const __m512 a = ps(r[0][k]), b = ps(r[1][k]), c = ps(r[2][k]), d = ps(r[3][k]);
            const __m512 ab0 = _mm512_shuffle_f32x4(a, b, 0x44), ab1 = _mm512_shuffle_f32x4(a, b, 0xEE);
            const __m512 cd0 = _mm512_shuffle_f32x4(c, d, 0x44), cd1 = _mm512_shuffle_f32x4(c, d, 0xEE);
            out[k] = back(_mm512_shuffle_f32x4(ab0, cd0, 0x88));         // lanes 0 of a, b, c, d
            out[L + k] = back(_mm512_shuffle_f32x4(ab0, cd0, 0xDD));     // lanes 1
            out[2 * L + k] = back(_mm512_shuffle_f32x4(ab1, cd1, 0x88)); // lanes 2
            out[3 * L + k] = back(_mm512_shuffle_f32x4(ab1, cd1, 0xDD)); // lanes 3
        }
        return;
    }
#endif
#if defined(__AVX__)
    if constexpr (G == 2 && sizeof(batch) == 32) {
        auto ps = [](const batch& v) {
            if constexpr (std::is_same_v<V, float>)
                return static_cast<__m256>(v);
            else
                return _mm256_castpd_ps(v);
        };
        auto back = [](__m256 v) {
            if constexpr (std::is_same_v<V, float>)
                return batch(v);
            else
                return batch(_mm256_castps_pd(v));
        };
        for (std::size_t k = 0; k < L; ++k) {
            const __m256 a = ps(r[0][k]), b = ps(r[1][k]);
            out[k] = back(_mm256_permute2f128_ps(a, b, 0x20));     // lanes 0 of a and b
            out[L + k] = back(_mm256_permute2f128_ps(a, b, 0x31)); // lanes 1
        }
        return;
    }
#endif
    // Any other register width: through memory.
    alignas(64) V rows[B][B];
    for (std::size_t g = 0; g < G; ++g)
        for (std::size_t k = 0; k < L; ++k) {
            alignas(64) V lanes[B];
            r[g][k].store_aligned(lanes);
            for (std::size_t j = 0; j < G; ++j) std::memcpy(&rows[L * j + k][L * g], lanes + L * j, 16);
        }
    for (std::size_t j = 0; j < B; ++j) out[j] = batch::load_aligned(rows[j]);
}

/// `in` (rows x cols, row stride cols) transposed straight into `out` (cols x rows, row stride
/// ldo): B x B blocks transposed in registers, every row of a block stored as one batch, streamed
/// when `stream` is set and it is aligned (no pass through a tile buffer, no partial lines); the
/// edges element by element. One function per element type and instruction set.
template <class V, class Arch>
void transpose_into(const V* NF_RESTRICT in, std::size_t rows, std::size_t cols, V* NF_RESTRICT out, std::size_t ldo,
                    bool stream) {
    using batch = xsimd::batch<V, Arch>;
    constexpr std::size_t B = batch::size;
    const std::size_t rows_b = rows / B * B, cols_b = cols / B * B;
    for (std::size_t c = 0; c < cols_b; c += B) // each destination row written along its length
        for (std::size_t r = 0; r < rows_b; r += B) {
            batch t[B];
            transpose_block_rows<V, Arch>(in + r * cols + c, cols, t);
            for (std::size_t j = 0; j < B; ++j) {
                V* p = out + (c + j) * ldo + r;
                if (stream && reinterpret_cast<std::uintptr_t>(p) % sizeof(batch) == 0)
                    stream_store<V, Arch>(p, t[j]);
                else
                    t[j].store_unaligned(p);
            }
        }
    for (std::size_t c = cols_b; c < cols; ++c)
        for (std::size_t r = 0; r < rows; ++r) out[c * ldo + r] = in[r * cols + c];
    for (std::size_t c = 0; c < cols_b; ++c)
        for (std::size_t r = rows_b; r < rows; ++r) out[c * ldo + r] = in[r * cols + c];
}

/// Lane l of channel `Ch` of B interleaved rows of `Cols` values is value Cols l + Ch, which lies
/// at position (Cols l + Ch) % B of input batch (Cols l + Ch) / B.
template <std::size_t Cols, std::size_t Ch>
struct deinterleave_index {
    static constexpr unsigned get(unsigned l, unsigned size) { return (Cols * l + Ch) % size; }
};
template <std::size_t Cols, std::size_t Ch, std::size_t K>
struct deinterleave_from {
    static constexpr bool get(unsigned l, unsigned size) { return (Cols * l + Ch) / size == K; }
};

/// The select masks of channel `Ch`: mask K - 1 picks the lanes taken from input batch K.
template <std::size_t Cols, std::size_t Ch, class V, class Arch, std::size_t... K>
NF_ALWAYS_INLINE std::array<xsimd::batch_bool<V, Arch>, Cols - 1> channel_masks(std::index_sequence<K...>) {
    return {xsimd::batch_bool<V, Arch>(
        xsimd::make_batch_bool_constant<xsimd::batch<V, Arch>, deinterleave_from<Cols, Ch, K + 1>>())...};
}

/// `in`'s columns (a rows x Cols array, Cols known) as the rows of `out` (row stride `ldo`): B
/// rows at a time, every channel gathered from the Cols input batches by constant permutations.
/// The select masks are built once, before the loop: xsimd builds a batch_bool constant from an
/// array of bools, and when the compiler does not inline that constructor (it did not in a
/// program with several transposes) building them per batch cost four times the whole pass.
/// With `stream`, the rows of `out` that start on a batch boundary are written with streaming
/// stores (the blocked transpose writes the destination's rows directly from here).
template <std::size_t Cols, class V, class Arch>
NF_ALWAYS_INLINE void transpose_narrow(const V* NF_RESTRICT in, std::size_t rows, V* NF_RESTRICT out, std::size_t ldo,
                                       bool stream = false) {
    using batch = xsimd::batch<V, Arch>;
    using index_batch = xsimd::batch<std::conditional_t<sizeof(V) == 4, std::uint32_t, std::uint64_t>, Arch>;
    constexpr std::size_t B = batch::size;
    const auto masks = [&]<std::size_t... Ch>(std::index_sequence<Ch...>) {
        return std::array<std::array<xsimd::batch_bool<V, Arch>, Cols - 1>, Cols>{
            channel_masks<Cols, Ch, V, Arch>(std::make_index_sequence<Cols - 1>{})...};
    }
    (std::make_index_sequence<Cols>{});
    std::array<bool, Cols> streamed{};
    for (std::size_t c = 0; c < Cols; ++c)
        streamed[c] = stream && reinterpret_cast<std::uintptr_t>(out + c * ldo) % sizeof(batch) == 0;
    std::size_t r = 0;
    for (; r + B <= rows; r += B) {
        batch v[Cols];
        for (std::size_t k = 0; k < Cols; ++k) v[k] = batch::load_unaligned(in + r * Cols + k * B);
        [&]<std::size_t... Ch>(std::index_sequence<Ch...>) {
            auto channel = [&]<std::size_t C>(std::integral_constant<std::size_t, C>) {
                constexpr auto mask = xsimd::make_batch_constant<index_batch, deinterleave_index<Cols, C>>();
                batch x = xsimd::swizzle(v[0], mask);
                [&]<std::size_t... K>(std::index_sequence<K...>) {
                    ((x = xsimd::select(masks[C][K], xsimd::swizzle(v[K + 1], mask), x)), ...);
                }
                (std::make_index_sequence<Cols - 1>{});
                if (streamed[C])
                    stream_store<V, Arch>(out + C * ldo + r, x);
                else
                    x.store_unaligned(out + C * ldo + r);
            };
            (channel(std::integral_constant<std::size_t, Ch>{}), ...);
        }
        (std::make_index_sequence<Cols>{});
    }
    for (std::size_t c = 0; c < Cols; ++c)
        for (std::size_t q = r; q < rows; ++q) out[c * ldo + q] = in[q * Cols + c];
}

/// `in` (rows x cols, 2 <= cols <= 4) transposed into `out` (row stride ldo), streamed where a row
/// starts on a batch boundary and `stream` is set. One function per element type and instruction
/// set, called once per tile (inlined into every expression's tile loop, it cost about a third
/// more compile time in test_layout_change).
template <class V, class Arch>
void transpose_narrow_into(const V* NF_RESTRICT in, std::size_t rows, std::size_t cols, V* NF_RESTRICT out,
                           std::size_t ldo, bool stream) {
    if (cols == 2)
        transpose_narrow<2, V, Arch>(in, rows, out, ldo, stream);
    else if (cols == 3)
        transpose_narrow<3, V, Arch>(in, rows, out, ldo, stream);
    else
        transpose_narrow<4, V, Arch>(in, rows, out, ldo, stream);
}

/// `in` (rows x cols, row stride cols) transposed into `out` (cols x rows, row stride ldo).
template <class V, class Arch>
void transpose_tile(const V* NF_RESTRICT in, std::size_t rows, std::size_t cols, V* NF_RESTRICT out, std::size_t ldo) {
    constexpr std::size_t B = xsimd::batch<V, Arch>::size;
    switch (cols) { // the channels of images: loops the compiler vectorizes with shuffles
    case 1:
        std::copy_n(in, rows, out);
        return;
    case 2:
        transpose_narrow<2, V, Arch>(in, rows, out, ldo);
        return;
    case 3:
        transpose_narrow<3, V, Arch>(in, rows, out, ldo);
        return;
    case 4:
        transpose_narrow<4, V, Arch>(in, rows, out, ldo);
        return;
    default:
        break;
    }
    const std::size_t rows_b = rows / B * B, cols_b = cols / B * B;
    for (std::size_t r = 0; r < rows_b; r += B)
        for (std::size_t c = 0; c < cols_b; c += B)
            transpose_block<V, Arch>(in + r * cols + c, cols, out + c * ldo + r, ldo);
    for (std::size_t c = cols_b; c < cols; ++c)
        for (std::size_t r = 0; r < rows; ++r) out[c * ldo + r] = in[r * cols + c];
    for (std::size_t c = 0; c < cols_b; ++c)
        for (std::size_t r = rows_b; r < rows; ++r) out[c * ldo + r] = in[r * cols + c];
}

/// One row of a transposed tile into the destination: converted when `D` is not the compute type,
/// streamed (after a head up to the first aligned batch) when asked.
template <class V, class Arch, class D>
NF_ALWAYS_INLINE void write_row(D* NF_RESTRICT out, const V* NF_RESTRICT in, std::size_t n, bool stream) {
    using batch = xsimd::batch<V, Arch>;
    constexpr std::size_t B = batch::size;
    std::size_t i = 0;
    if constexpr (std::is_same_v<D, V>) {
        if (stream) {
            const std::size_t misalign = reinterpret_cast<std::uintptr_t>(out) % sizeof(batch);
            const std::size_t peel = std::min(n, misalign ? (sizeof(batch) - misalign) / sizeof(V) : 0);
            for (; i < peel; ++i) out[i] = in[i];
            for (; i + B <= n; i += B) stream_store<V, Arch>(out + i, batch::load_unaligned(in + i));
        } else {
            for (; i + B <= n; i += B) batch::load_unaligned(in + i).store_unaligned(out + i);
        }
        for (; i < n; ++i) out[i] = in[i];
    } else {
        (void)stream;
        for (; i + B <= n; i += B) store_converted<Arch>(out + i, batch::load_unaligned(in + i));
        for (; i < n; ++i) out[i] = from_compute<D>(in[i]);
    }
}

/// The tiles [u_begin, u_end) of a blocked transpose: `root` is the expression bound in the
/// source's order (KS outer axes), `src` and `tile` buffers of tb * ta and tb * ld values.
template <bool Periodic, class V, class Arch, std::size_t KS, class D, class Bound, std::size_t R>
void transpose_tiles(D* dst, const transpose_geometry<R>& g, Bound& root, std::size_t chunk, bool stream,
                     std::size_t u_begin, std::size_t u_end, V* NF_RESTRICT src, V* NF_RESTRICT tile) {
    for (std::size_t u = u_begin; u < u_end; ++u) {
        // b fastest: the tiles of one stretch of a read the source's rows whole, one after another.
        const std::size_t ib = u % g.tiles_b, ia = u / g.tiles_b % g.tiles_a;
        std::size_t o = u / g.tiles_b / g.tiles_a;
        const std::size_t b0 = ib * g.tb, a0 = ia * g.ta;
        const std::size_t nb = std::min(g.tb, g.eb - b0), na = std::min(g.ta, g.ea - a0);
        outer_index<KS> outer{};
        std::size_t p0 = b0;
        std::ptrdiff_t base = static_cast<std::ptrdiff_t>(b0) * g.b_dstride + static_cast<std::ptrdiff_t>(a0);
        for (std::size_t k = g.others; k-- > 0;) { // the other axes, the last one fastest
            const std::size_t v = o % g.other_ext[k];
            o /= g.other_ext[k];
            base += static_cast<std::ptrdiff_t>(v) * g.other_dstride[k];
            const std::size_t j = g.other_source_pos[k];
            if (j < KS)
                outer[j] = v;
            else
                p0 += v * g.run_stride[j];
        }
        // Evaluate the tile in the source's order: row ai holds b0 .. b0 + nb at a0 + ai.
        if (!g.a_outer) {
            root.seek(outer);
            const std::size_t step = g.a_run_stride;
            p0 += a0 * step;
            if (step == nb) {
                fill_span<Periodic, V, Arch>(src, p0, p0 + na * nb, root, chunk);
            } else {
                for (std::size_t ai = 0; ai < na; ++ai)
                    fill_span<Periodic, V, Arch>(src + ai * nb, p0 + ai * step, p0 + ai * step + nb, root, chunk);
            }
        } else {
            for (std::size_t ai = 0; ai < na; ++ai) {
                if constexpr (KS > 0) outer[g.pa] = a0 + ai;
                root.seek(outer);
                fill_span<Periodic, V, Arch>(src + ai * nb, p0, p0 + nb, root, chunk);
            }
        }
        if constexpr (std::is_same_v<D, V>) {
            // A few channels (images): deinterleaved straight into the destination's rows, which
            // saves a pass through the tile buffer (a third of the work once the loads are in order).
            if (nb >= 2 && nb <= 4) {
                transpose_narrow_into<V, Arch>(src, na, nb, dst + base, static_cast<std::size_t>(g.b_dstride), stream);
                continue;
            }
            // At least one register block: transposed in registers straight into the destination.
            if (nb >= xsimd::batch<V, Arch>::size && na >= xsimd::batch<V, Arch>::size) {
                transpose_into<V, Arch>(src, na, nb, dst + base, static_cast<std::size_t>(g.b_dstride), stream);
                continue;
            }
        }
        transpose_tile<V, Arch>(src, na, nb, tile, g.ld);
        for (std::size_t bi = 0; bi < nb; ++bi)
            write_row<V, Arch>(dst + base + static_cast<std::ptrdiff_t>(bi) * g.b_dstride, tile + bi * g.ld, na,
                               stream);
    }
}

/// Values of type V in a tile: the source tile and its transpose together take a quarter of the
/// level-1 data cache (read once: core/cache_info.hpp), leaving the rest to the source's lines
/// streaming through and to the destination's rows (1024 floats on a 32 KiB L1, 1536 on 48 KiB).
template <class V>
std::size_t transpose_tile_budget() {
    static const std::size_t values = std::max<std::size_t>(64, l1_data_cache_bytes() / 4 / 2 / sizeof(V));
    return values;
}

/// The geometry of `dst = e` with destination extents `ext` (row-major) and the source order's
/// positions: `source_pos[j]` is the destination position of the source's axis j, `KS` the
/// number of outer axes of the loop in the source's order. Tile extents: `tb` along b, all of b
/// when it fits (then a tile's source is one contiguous stretch and consecutive tiles read the
/// source in order, which the hardware prefetchers follow: reading half-rows of 128 bytes at a
/// stride of 256 bytes, C = 64 with tb = 32, cost up to twice as much), else as much as leaves
/// one batch along a; `ta` along a (whole cache lines and batches) fills the tile budget.
template <class V, class Arch, std::size_t KS, std::size_t R>
transpose_geometry<R> make_transpose_geometry(const std::array<std::size_t, R>& ext,
                                              const std::array<std::size_t, R>& source_pos) {
    constexpr std::size_t B = xsimd::batch<V, Arch>::size;
    // ta in whole cache lines (and batches): a tile then ends each destination row on a line
    // boundary, so a streamed line is never left half written until the next tile (AVX2, SSE2).
    constexpr std::size_t line = std::max<std::size_t>(B, 64 / sizeof(V));
    const std::size_t budget = transpose_tile_budget<V>();
    transpose_geometry<R> g;
    std::array<std::size_t, R> dest_to_source{};
    for (std::size_t j = 0; j < R; ++j) dest_to_source[source_pos[j]] = j;
    std::array<std::ptrdiff_t, R> dstride{};
    std::ptrdiff_t s = 1;
    for (std::size_t d = R; d-- > 0;) {
        dstride[d] = s;
        s *= static_cast<std::ptrdiff_t>(ext[d]);
    }
    std::size_t rs = 1;
    for (std::size_t j = R; j-- > KS;) {
        g.run_stride[j] = rs;
        rs *= ext[source_pos[j]];
    }
    std::array<bool, R> merged{}; // by destination position
    const std::size_t pa = dest_to_source[R - 1], pb = source_pos[R - 1];
    g.pa = pa;
    g.a_outer = pa < KS;
    g.a_run_stride = g.a_outer ? 0 : g.run_stride[pa];
    merged[R - 1] = true;
    g.ea = ext[R - 1];
    if (!g.a_outer) // a with the destination axes before it that precede it in the source too
        for (std::size_t m = 1; m < R && m <= pa && pa - m >= KS && dest_to_source[R - 1 - m] == pa - m; ++m) {
            merged[R - 1 - m] = true;
            g.ea *= ext[R - 1 - m];
        }
    merged[pb] = true;
    g.eb = ext[pb];
    g.b_dstride = dstride[pb];
    for (std::size_t m = 1; m <= pb && R - 1 - m >= KS && source_pos[R - 1 - m] == pb - m && !merged[pb - m]; ++m) {
        merged[pb - m] = true;
        g.eb *= ext[pb - m];
    }
    g.others = 0;
    g.other_count = 1;
    for (std::size_t d = 0; d < R; ++d) {
        if (merged[d]) continue;
        g.other_ext[g.others] = ext[d];
        g.other_dstride[g.others] = dstride[d];
        g.other_source_pos[g.others] = dest_to_source[d];
        g.other_count *= ext[d];
        ++g.others;
    }
    g.tb = std::max<std::size_t>(1, std::min(g.eb, budget / B));
    g.ta = std::max<std::size_t>(1, std::min(g.ea, std::max(line, budget / g.tb / line * line)));
    g.ld = (g.ta + B - 1) / B * B;
    g.tiles_b = (g.eb + g.tb - 1) / g.tb;
    g.tiles_a = (g.ea + g.ta - 1) / g.ta;
    return g;
}

} // namespace nf::detail
