// normfuse/eval/bound.hpp: an expression bound to one loop nest: leaves with pointers and strides, ready to load batches.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/config.hpp>
#include <normfuse/core/convert.hpp>
#include <normfuse/eval/plan.hpp>
#include <normfuse/eval/scratch.hpp>

namespace nf::detail {

/// Outer multi-index of the loop nest (one entry per outer axis).
template <std::size_t K>
using outer_index = std::array<std::size_t, K>;

/// Lane l of a batch taken from a window of St-strided elements: element St l of the window
/// lies at lane (St l) % size of the window's batch k < St - 1 (which starts at k size), and at
/// lane (St l + St - 1) % size of its last batch, which starts at (St - 1)(size - 1) so that the
/// window ends on the last element read (nothing past it is touched).
template <std::size_t St, bool Last>
struct window_index {
    static constexpr unsigned get(unsigned l, unsigned size) { return (St * l + (Last ? St - 1 : 0)) % size; }
};

/// The selects of a load at a stride of 2, 3 or 4 elements (a channel of interleaved pixels:
/// RGB, BGR through a reversed channel axis, RGBA; a complex plane): `from[k]` marks the lanes
/// taken from window batch k + 1 or later, those with St l >= (k + 1) size. Built once per
/// leaf (at bind), not per batch (xsimd's batch_bool constants are not always inlined).
template <class T, class Arch>
struct window_masks {
    using batch = xsimd::batch<T, Arch>;
    static constexpr std::size_t B = batch::size;
    std::array<xsimd::batch_bool<T, Arch>, 3> from{};

    /// True when stride St is read through windows: the window's batches then end within the
    /// elements read (batch St - 2 ends at (St - 1) B - 1 <= St (B - 1) when St <= B + 1); not
    /// so for stride 4 on 2-lane batches (double on SSE2), read lane by lane.
    static constexpr bool windowed(std::size_t St) { return St <= B + 1; }

    void prepare(std::ptrdiff_t stride) {
        if (stride < 2 || stride > 4 || !windowed(static_cast<std::size_t>(stride))) return;
        alignas(64) T lane[B];
        for (std::size_t l = 0; l < B; ++l) lane[l] = static_cast<T>(l * static_cast<std::size_t>(stride));
        const batch offsets = batch::load_aligned(lane);
        for (std::size_t k = 0; k < from.size(); ++k) from[k] = offsets >= batch(static_cast<T>((k + 1) * B));
    }

    /// Elements p[0], p[St], ..., p[St (B - 1)] from the St batches that cover them (constant
    /// permutations and selects; no gathers). The elements between them are read too (they lie
    /// between two elements of the operand, in its memory); nothing before p[0] or past
    /// p[St (B - 1)].
    template <std::size_t St, class S>
    NF_ALWAYS_INLINE batch load(const S* p) const {
        using index_batch = xsimd::batch<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>, Arch>;
        constexpr auto inner = xsimd::make_batch_constant<index_batch, window_index<St, false>>();
        constexpr auto last = xsimd::make_batch_constant<index_batch, window_index<St, true>>();
        batch x = xsimd::swizzle(load_converted<T, Arch>(p), inner);
        for (std::size_t k = 1; k + 1 < St; ++k)
            x = xsimd::select(from[k - 1], xsimd::swizzle(load_converted<T, Arch>(p + k * B), inner), x);
        return xsimd::select(from[St - 2], xsimd::swizzle(load_converted<T, Arch>(p + (St - 1) * (B - 1)), last), x);
    }

    /// Lanes p[0], p[stride], ... through a window when the stride is 2 to 4; false otherwise.
    template <class S>
    NF_ALWAYS_INLINE bool try_load(const S* p, std::ptrdiff_t stride, batch& out) const {
        switch (stride) {
        case 2:
            if constexpr (windowed(2)) return out = load<2>(p), true;
            break;
        case 3:
            if constexpr (windowed(3)) return out = load<3>(p), true;
            break;
        case 4:
            if constexpr (windowed(4)) return out = load<4>(p), true;
            break;
        default:
            break;
        }
        return false;
    }
};

/// The window member of leaves that are not read at a stride: empty, it takes no space.
struct no_window {};

/// A leaf bound to the loop nest: `seek` moves it to the run at an outer index; `load(i, phase)`
/// returns the batch at position i of the run (phase = i modulo the tile length). Its memory holds
/// elements of `S`, loaded converted to the compute type `T` (core/convert.hpp); a periodic tile
/// holds them converted.
template <class T, class Arch, leaf_mode Mode, std::size_t K, class S = T>
struct bound_leaf {
    using batch = xsimd::batch<T, Arch>;
    static constexpr leaf_mode mode = Mode;
    const S* base = nullptr;
    std::array<std::ptrdiff_t, K> outer_stride{};
    std::ptrdiff_t inner_stride = 1; // strided mode
    std::size_t period = 1;          // periodic mode: length of the repeating block
    T* tile = nullptr;               // periodic mode: the block repeated over the tile length
    std::size_t tile_length = 0;
    const S* current = nullptr;
    const S* tiled_block = nullptr;
    T value{};
    batch broadcast{};
    /// Strided mode: the selects of strides 2 to 4 (an operand read across its interleaved
    /// innermost axis: the channels of uint8 (N, H, W, 3) pixels into (N, 3, H, W)).
    [[no_unique_address]] std::conditional_t<Mode == leaf_mode::strided, window_masks<T, Arch>, no_window> window{};

    /// Gives this copy its own tile (each piece of a parallel loop works on its own copy); `worker`
    /// is the piece's index (row_local.hpp: per-piece shared sums).
    void own_tiles(scratch_arena& arena, std::size_t = 0) {
        if constexpr (Mode == leaf_mode::periodic) {
            bool moves = false;
            for (std::size_t d = 0; d < K; ++d) moves = moves || outer_stride[d] != 0;
            if (moves) {
                tile = arena.allocate<T>(tile_length);
                tiled_block = nullptr;
            } else {
                // The same block at every outer index: the tile is filled here, once, and then
                // only read, so the copies share it (a tile is as long as the period).
                seek(outer_index<K>{});
            }
        }
    }

    NF_ALWAYS_INLINE void seek(const outer_index<K>& index) {
        std::ptrdiff_t offset = 0;
        for (std::size_t d = 0; d < K; ++d) offset += static_cast<std::ptrdiff_t>(index[d]) * outer_stride[d];
        current = base + offset;
        if constexpr (Mode == leaf_mode::invariant) {
            value = to_compute<T>(*current);
            broadcast = batch(value);
        } else if constexpr (Mode == leaf_mode::periodic) {
            if (current != tiled_block) {
                for (std::size_t j = 0; j < tile_length; j += period)
                    for (std::size_t p = 0; p < period && j + p < tile_length; ++p)
                        tile[j + p] = to_compute<T>(current[p]);
                tiled_block = current;
            }
        }
    }
    NF_ALWAYS_INLINE batch load(std::size_t i, std::size_t phase) const {
        if constexpr (Mode == leaf_mode::contiguous) {
            return load_converted<T, Arch>(current + i);
        } else if constexpr (Mode == leaf_mode::invariant) {
            return broadcast;
        } else if constexpr (Mode == leaf_mode::periodic) {
            return batch::load_unaligned(tile + phase);
        } else {
            const S* p = current + static_cast<std::ptrdiff_t>(i) * inner_stride;
            if (batch x; window.try_load(p, inner_stride, x)) return x;
            alignas(64) T lanes[batch::size];
            for (std::size_t l = 0; l < batch::size; ++l)
                lanes[l] = to_compute<T>(p[static_cast<std::ptrdiff_t>(l) * inner_stride]);
            return batch::load_aligned(lanes);
        }
    }
    /// The batch at position i whose first `n` lanes (0 < n < size) are positions i .. i + n - 1;
    /// the other lanes repeat lane 0 and are not to be stored. It reads only those n positions,
    /// so the edges of a run go through the same batch arithmetic as its body (and round alike).
    NF_ALWAYS_INLINE batch load_partial(std::size_t i, std::size_t phase, std::size_t n) const {
        if constexpr (Mode == leaf_mode::invariant) {
            return broadcast;
        } else if constexpr (Mode == leaf_mode::periodic) {
            return load(i, phase); // the tile holds a batch past every phase
        } else {
            alignas(64) T lanes[batch::size] = {}; // zeroed: g++ -O3 cannot see that n >= 1 (-Wmaybe-uninitialized)
            const std::ptrdiff_t step = Mode == leaf_mode::contiguous ? 1 : inner_stride;
            for (std::size_t l = 0; l < n; ++l)
                lanes[l] = to_compute<T>(current[static_cast<std::ptrdiff_t>(i + l) * step]);
            for (std::size_t l = n; l < batch::size; ++l) lanes[l] = lanes[0];
            return batch::load_aligned(lanes);
        }
    }
    NF_ALWAYS_INLINE T load_scalar(std::size_t i, std::size_t phase) const {
        if constexpr (Mode == leaf_mode::contiguous)
            return to_compute<T>(current[i]);
        else if constexpr (Mode == leaf_mode::invariant)
            return value;
        else if constexpr (Mode == leaf_mode::periodic)
            return tile[phase];
        else
            return to_compute<T>(current[static_cast<std::ptrdiff_t>(i) * inner_stride]);
    }
};

/// A leaf over an nf::strided_view (elements of `S`, loaded converted to `T`): the run is the
/// destination's innermost axis, along which the view has the stride `inner_stride` (0 when it
/// lacks that axis: one value, broadcast). Stride 1 loads batches; strides 2 to 4 (a channel of
/// interleaved pixels, BGR read as RGB among them) load windows (window_masks); any other stride
/// reads lane by lane.
template <class T, class Arch, std::size_t K, class S = T>
struct bound_strided_leaf {
    using batch = xsimd::batch<T, Arch>;
    const S* base = nullptr;
    std::array<std::ptrdiff_t, K> outer_stride{};
    std::ptrdiff_t inner_stride = 0;
    const S* current = nullptr;
    window_masks<T, Arch> window{};

    void own_tiles(scratch_arena&, std::size_t = 0) {}
    NF_ALWAYS_INLINE void seek(const outer_index<K>& index) {
        std::ptrdiff_t offset = 0;
        for (std::size_t d = 0; d < K; ++d) offset += static_cast<std::ptrdiff_t>(index[d]) * outer_stride[d];
        current = base + offset;
    }
    NF_ALWAYS_INLINE batch load(std::size_t i, std::size_t) const {
        if (inner_stride == 1) return load_converted<T, Arch>(current + i);
        const S* p = current + static_cast<std::ptrdiff_t>(i) * inner_stride;
        if (batch x; window.try_load(p, inner_stride, x)) return x;
        alignas(64) T lanes[batch::size];
        for (std::size_t l = 0; l < batch::size; ++l)
            lanes[l] = to_compute<T>(p[static_cast<std::ptrdiff_t>(l) * inner_stride]);
        return batch::load_aligned(lanes);
    }
    NF_ALWAYS_INLINE batch load_partial(std::size_t i, std::size_t, std::size_t n) const {
        alignas(64) T lanes[batch::size] = {};
        for (std::size_t l = 0; l < n; ++l)
            lanes[l] = to_compute<T>(current[static_cast<std::ptrdiff_t>(i + l) * inner_stride]);
        for (std::size_t l = n; l < batch::size; ++l) lanes[l] = lanes[0];
        return batch::load_aligned(lanes);
    }
    NF_ALWAYS_INLINE T load_scalar(std::size_t i, std::size_t) const {
        return to_compute<T>(current[static_cast<std::ptrdiff_t>(i) * inner_stride]);
    }
};

/// A number, broadcast.
template <class T, class Arch, std::size_t K>
struct bound_constant {
    using batch = xsimd::batch<T, Arch>;
    T value;
    batch broadcast;
    void own_tiles(scratch_arena&, std::size_t = 0) {}
    NF_ALWAYS_INLINE void seek(const outer_index<K>&) {}
    NF_ALWAYS_INLINE batch load(std::size_t, std::size_t) const { return broadcast; }
    NF_ALWAYS_INLINE batch load_partial(std::size_t, std::size_t, std::size_t) const { return broadcast; }
    NF_ALWAYS_INLINE T load_scalar(std::size_t, std::size_t) const { return value; }
};

/// The xsimd architecture of a bound node (that of the batches it loads).
template <class Bound>
using bound_arch_t = typename decltype(std::declval<const Bound&>().load(0, 0))::arch_type;

// The scalar tails pass the loop's architecture to Op::apply explicitly: see expr/ops.hpp.
template <class Op, class A>
struct bound_unary {
    A arg;
    void own_tiles(scratch_arena& arena, std::size_t worker = 0) { arg.own_tiles(arena, worker); }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        arg.seek(index);
    }
    NF_ALWAYS_INLINE auto load(std::size_t i, std::size_t phase) const { return Op::apply(arg.load(i, phase)); }
    NF_ALWAYS_INLINE auto load_partial(std::size_t i, std::size_t phase, std::size_t n) const {
        return Op::apply(arg.load_partial(i, phase, n));
    }
    NF_ALWAYS_INLINE auto load_scalar(std::size_t i, std::size_t phase) const {
        using T = decltype(arg.load_scalar(i, phase));
        return Op::template apply<T, bound_arch_t<A>>(arg.load_scalar(i, phase));
    }
};

template <class Op, class L, class R>
struct bound_binary {
    L left;
    R right;
    void own_tiles(scratch_arena& arena, std::size_t worker = 0) {
        left.own_tiles(arena, worker);
        right.own_tiles(arena, worker);
    }
    template <class I>
    NF_ALWAYS_INLINE void seek(const I& index) {
        left.seek(index);
        right.seek(index);
    }
    NF_ALWAYS_INLINE auto load(std::size_t i, std::size_t phase) const {
        return Op::apply(left.load(i, phase), right.load(i, phase));
    }
    NF_ALWAYS_INLINE auto load_partial(std::size_t i, std::size_t phase, std::size_t n) const {
        return Op::apply(left.load_partial(i, phase, n), right.load_partial(i, phase, n));
    }
    NF_ALWAYS_INLINE auto load_scalar(std::size_t i, std::size_t phase) const {
        using T = decltype(left.load_scalar(i, phase));
        return Op::template apply<T, bound_arch_t<L>>(left.load_scalar(i, phase), right.load_scalar(i, phase));
    }
};

} // namespace nf::detail
