// normfuse/core/half.hpp: nf::bf16 and nf::fp16, 16-bit floating storage types, with their scalar conversions to and from float.
//
// Both are storage types: expressions compute on them in float and round once, when a value is
// stored (eval/assign.hpp). The conversions are those of PyTorch 1.13:
//   bf16 -> float   exact (the 16 bits are the upper half of the float).
//   float -> bf16   round to nearest even (c10::BFloat16's round_to_nearest_even); every NaN
//                   becomes 0x7FC0 (positive quiet NaN), as c10 returns it; overflow rounds to Inf.
//   fp16 -> float   exact; a NaN keeps its sign and payload with the quiet bit set (what F16C's
//                   vcvtph2ps does: c10's scalar code keeps a signaling NaN signaling, its F16C
//                   code quiets it; normfuse gives the same bits on every instruction set).
//   float -> fp16   IEEE binary16, round to nearest even: overflow to Inf, subnormals rounded, -0
//                   kept; every NaN becomes 0x7E00 with its sign (c10's scalar conversion).
// The SIMD conversions (core/convert.hpp) give the same bits as these, lane for lane.
#pragma once

#include <bit>
#include <cstdint>

namespace nf {

namespace detail {

/// c10::BFloat16's round_to_nearest_even, on bits.
constexpr std::uint16_t bf16_bits_from_float(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0u;
    return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

constexpr float float_from_bf16_bits(std::uint16_t b) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

constexpr std::uint16_t fp16_bits_from_float(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);  // NaN
    if (a >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u); // >= 65520: rounds to Inf
    if (a >= 0x38800000u) {                                                  // >= 2^-14: a normal half
        const std::uint32_t r = a - 0x38000000u;                             // exponent rebiased by 127 - 15
        return static_cast<std::uint16_t>(sign | ((r + 0xFFFu + ((r >> 13) & 1u)) >> 13));
    }
    if (a <= 0x33000000u) return sign; // <= 2^-25: rounds to zero (2^-25 is a tie, to the even 0)
    // A subnormal half: the number of 2^-24 units, the significand shifted right with ties to even.
    const std::uint32_t shift = 126u - (a >> 23); // 14 .. 24
    const std::uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t q = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    return static_cast<std::uint16_t>(sign | (q + (rest > half || (rest == half && (q & 1u)))));
}

constexpr float float_from_fp16_bits(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t em = h & 0x7FFFu;
    if (em >= 0x7C00u) // Inf or NaN (a NaN quieted)
        return std::bit_cast<float>(sign | 0x7F800000u | (em & 0x3FFu) << 13 | (em > 0x7C00u ? 0x400000u : 0u));
    if (em >= 0x0400u) return std::bit_cast<float>(sign | ((em << 13) + 0x38000000u));
    const float magnitude = static_cast<float>(em) * 0x1p-24f; // zero or subnormal: exact
    return sign ? -magnitude : magnitude;
}

} // namespace detail

/// bfloat16 storage: 1 sign bit, 8 exponent bits, 7 fraction bits (torch.bfloat16). A value
/// converts to float exactly and from float rounded to nearest even; arithmetic is done in float
/// by the expressions that read it.
struct bf16 {
    std::uint16_t bits;

    bf16() = default;
    /// `x` rounded to nearest even (NaN becomes 0x7FC0).
    constexpr explicit bf16(float x) noexcept : bits(detail::bf16_bits_from_float(x)) {}
    constexpr explicit operator float() const noexcept { return detail::float_from_bf16_bits(bits); }
    static constexpr bf16 from_bits(std::uint16_t b) noexcept {
        bf16 h{};
        h.bits = b;
        return h;
    }
    friend constexpr bool operator==(bf16, bf16) = default; // bit equality (not IEEE's)
};

/// IEEE binary16 storage: 1 sign bit, 5 exponent bits, 10 fraction bits (torch.float16). A value
/// converts to float exactly and from float rounded to nearest even (overflow to Inf).
struct fp16 {
    std::uint16_t bits;

    fp16() = default;
    /// `x` rounded to nearest even (NaN becomes 0x7E00 with the sign of `x`).
    constexpr explicit fp16(float x) noexcept : bits(detail::fp16_bits_from_float(x)) {}
    constexpr explicit operator float() const noexcept { return detail::float_from_fp16_bits(bits); }
    static constexpr fp16 from_bits(std::uint16_t b) noexcept {
        fp16 h{};
        h.bits = b;
        return h;
    }
    friend constexpr bool operator==(fp16, fp16) = default; // bit equality (not IEEE's)
};

static_assert(sizeof(bf16) == 2 && sizeof(fp16) == 2);

} // namespace nf
