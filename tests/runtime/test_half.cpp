// Runtime tests of nf::bf16 and nf::fp16 (core/half.hpp) and of the SIMD conversions of
// core/convert.hpp: every one of the 65536 bit patterns of each type to float and back, and float
// to 16 bits for a dense sweep of floats (ties, subnormals, overflow, -0, NaN, Inf), against a
// reference written here from the IEEE definition of a binary floating-point format (it shares no
// code with the library), on every SIMD architecture this translation unit is compiled for.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include <normfuse/core/convert.hpp>
#include <normfuse/core/half.hpp>

#include "support/reference_file.hpp"

namespace {

/// A binary interchange format with `E` exponent bits and `F` fraction bits.
template <int E, int F>
struct format {
    static constexpr int bias = (1 << (E - 1)) - 1;
    static constexpr int emin = 1 - bias;
    static constexpr std::uint16_t exponent_mask = ((1u << E) - 1u) << F;
    static constexpr std::uint16_t fraction_mask = (1u << F) - 1u;
    static constexpr std::uint16_t sign_bit = 0x8000;

    static bool is_nan(std::uint16_t h) { return (h & exponent_mask) == exponent_mask && (h & fraction_mask) != 0; }

    /// The value of an encoding (NaN for every NaN).
    static double decode(std::uint16_t h) {
        const bool negative = (h & sign_bit) != 0;
        const int e = (h & exponent_mask) >> F;
        const int f = h & fraction_mask;
        double v;
        if (e == (1 << E) - 1)
            v = f == 0 ? INFINITY : NAN;
        else if (e == 0)
            v = std::ldexp(static_cast<double>(f), emin - F);
        else
            v = std::ldexp(static_cast<double>((1 << F) + f), e - bias - F);
        return negative ? -v : v;
    }

    /// `x` rounded to nearest, ties to even (NaN: not handled here).
    static std::uint16_t encode(float x) {
        const std::uint16_t sign = std::signbit(x) ? sign_bit : 0;
        const double a = std::fabs(static_cast<double>(x));
        if (std::isinf(a)) return sign | exponent_mask;
        if (a == 0) return sign;
        int ex;
        (void)std::frexp(a, &ex); // a = m 2^ex, m in [0.5, 1): floor(log2 a) = ex - 1
        const int e = std::max(ex - 1, emin);
        const double quantum = std::ldexp(1.0, e - F);
        const double q = std::nearbyint(a / quantum); // the default rounding mode: ties to even
        const double r = q * quantum;
        const double max_finite = std::ldexp(2.0 - std::ldexp(1.0, -F), bias);
        if (r > max_finite) return sign | exponent_mask;
        if (r < std::ldexp(1.0, emin)) return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(q));
        int er;
        (void)std::frexp(r, &er);
        const int unbiased = er - 1;
        const auto fraction = static_cast<std::uint32_t>(std::ldexp(r, F - unbiased) - std::ldexp(1.0, F));
        return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(unbiased + bias) << F | fraction);
    }
};
using bf16_format = format<8, 7>;
using fp16_format = format<5, 10>;

std::uint32_t bits_of(float f) {
    return std::bit_cast<std::uint32_t>(f);
}
float float_of(std::uint32_t u) {
    return std::bit_cast<float>(u);
}

/// What a NaN becomes (the documented choices, core/half.hpp): bf16 -> 0x7FC0 whatever its sign;
/// fp16 -> 0x7E00 with its sign; fp16 -> float keeps sign and payload and sets the quiet bit.
std::uint16_t expected_bf16(float x) {
    return std::isnan(x) ? 0x7FC0 : bf16_format::encode(x);
}
std::uint16_t expected_fp16(float x) {
    return std::isnan(x) ? static_cast<std::uint16_t>((std::signbit(x) ? 0x8000 : 0) | 0x7E00) : fp16_format::encode(x);
}
std::uint32_t expected_float_bits_of_fp16(std::uint16_t h) {
    if (fp16_format::is_nan(h))
        return (static_cast<std::uint32_t>(h & 0x8000) << 16) | 0x7FC00000u |
               (static_cast<std::uint32_t>(h & 0x3FF) << 13);
    return bits_of(static_cast<float>(fp16_format::decode(h)));
}
std::uint32_t expected_float_bits_of_bf16(std::uint16_t h) {
    if (bf16_format::is_nan(h)) return static_cast<std::uint32_t>(h) << 16; // exact: the upper half
    return bits_of(static_cast<float>(bf16_format::decode(h)));
}

/// The floats of the sweep: every 4099th bit pattern, and around every 16-bit value of both
/// formats: the value itself, the halfway points to its neighbours and the floats next to those.
std::vector<float> sweep() {
    std::vector<float> xs;
    for (std::uint64_t u = 0; u <= 0xFFFFFFFFu; u += 4099) xs.push_back(float_of(static_cast<std::uint32_t>(u)));
    for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
        for (std::uint32_t low : {0x0000u, 0x0001u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu})
            xs.push_back(float_of(h << 16 | low)); // bf16: exact, ties, around ties
        const double v = fp16_format::decode(static_cast<std::uint16_t>(h));
        const double next = fp16_format::decode(static_cast<std::uint16_t>(h + 1));
        if (!std::isfinite(v)) continue;
        xs.push_back(static_cast<float>(v));
        if ((h & 0x7FFF) < 0x7C00 && std::isfinite(next) && (h & 0x7FFF) != 0x7BFF) {
            const auto mid = static_cast<float>((v + next) / 2); // exact: 12 significant bits
            xs.push_back(mid);
            xs.push_back(std::nextafter(mid, 0.0f));
            xs.push_back(std::nextafter(mid, INFINITY));
            xs.push_back(std::nextafter(mid, -INFINITY));
        }
    }
    for (float x : {0.0f,           -0.0f,        INFINITY,        -INFINITY, NAN,
                    -NAN,           65504.0f,     65519.99f,       65520.0f,  -65520.0f,
                    0x1p-24f,       0x1p-25f,     0x1.000002p-25f, 0x1p-26f,  0x1p-14f,
                    0x1.ffcp-15f,   0x1.ffep-15f, 0x1p-149f,       0x1p-126f, 3.4028235e38f,
                    -3.4028235e38f, 0x1.fep127f,  0x1.ff8p127f})
        xs.push_back(x);
    xs.push_back(float_of(0x7F800001u)); // signaling NaNs, payloads, negative NaNs
    xs.push_back(float_of(0xFFC12345u));
    xs.push_back(float_of(0x7FBFFFFFu));
    while (xs.size() % 64 != 0) xs.push_back(0.0f); // whole batches for every architecture
    return xs;
}

// The architectures of this translation unit's instruction set (tests/CMakeLists.txt also builds
// this file for AVX2 without F16C and for plain SSE2).
using archs = std::tuple<
#if defined(__AVX512BW__)
    xsimd::avx512bw,
#endif
#if defined(__AVX512F__)
    xsimd::avx512f,
#endif
#if defined(__AVX2__) && defined(__FMA__)
    xsimd::fma3<xsimd::avx2>,
#endif
#if defined(__AVX2__)
    xsimd::avx2,
#endif
#if defined(__AVX__)
    xsimd::avx,
#endif
#if defined(__SSE4_2__)
    xsimd::sse4_2,
#endif
    xsimd::sse2>;

} // namespace

TEST_CASE("half: the reference encodes the formats' landmarks", "[half]") {
    // The test's own reference, checked on values known from the IEEE 754 tables.
    CHECK(fp16_format::encode(1.0f) == 0x3C00);
    CHECK(fp16_format::encode(65504.0f) == 0x7BFF);
    CHECK(fp16_format::encode(65520.0f) == 0x7C00);
    CHECK(fp16_format::encode(0x1p-24f) == 0x0001);
    CHECK(fp16_format::encode(0x1p-25f) == 0x0000);
    CHECK(fp16_format::encode(-0x1.8p-25f) == 0x8001);
    CHECK(fp16_format::encode(0x1p-14f) == 0x0400);
    CHECK(fp16_format::decode(0x3555) == 0x1.554p-2);
    CHECK(bf16_format::encode(1.0f) == 0x3F80);
    CHECK(bf16_format::encode(float_of(0x3F808000u)) == 0x3F80); // tie to even
    CHECK(bf16_format::encode(float_of(0x3F818000u)) == 0x3F82);
    CHECK(bf16_format::encode(3.4028235e38f) == 0x7F80);
    CHECK(bf16_format::decode(0x0001) == 0x1p-133);
}

TEST_CASE("half: every bf16 and fp16 bit pattern to float and back, scalar", "[half]") {
    for (std::uint32_t u = 0; u <= 0xFFFF; ++u) {
        const auto h = static_cast<std::uint16_t>(u);
        const float b = static_cast<float>(nf::bf16::from_bits(h));
        const float f = static_cast<float>(nf::fp16::from_bits(h));
        if (bits_of(b) != expected_float_bits_of_bf16(h)) FAIL("bf16 " << h << " -> float " << bits_of(b));
        if (bits_of(f) != expected_float_bits_of_fp16(h)) FAIL("fp16 " << h << " -> float " << bits_of(f));
        const std::uint16_t bb = nf::bf16(b).bits, fb = nf::fp16(f).bits;
        if (bf16_format::is_nan(h) ? bb != 0x7FC0 : bb != h) FAIL("bf16 round trip " << h << " -> " << bb);
        if (fp16_format::is_nan(h) ? fb != ((h & 0x8000) | 0x7E00) : fb != h)
            FAIL("fp16 round trip " << h << " -> " << fb);
    }
    SUCCEED();
}

TEST_CASE("half: float to bf16 and fp16 over a dense sweep, scalar", "[half]") {
    const std::vector<float> xs = sweep();
    std::size_t ties = 0;
    for (float x : xs) {
        const std::uint16_t b = nf::bf16(x).bits, f = nf::fp16(x).bits;
        if (b != expected_bf16(x))
            FAIL("float " << bits_of(x) << " -> bf16 " << b << ", expected " << expected_bf16(x));
        if (f != expected_fp16(x))
            FAIL("float " << bits_of(x) << " -> fp16 " << f << ", expected " << expected_fp16(x));
        ties += (bits_of(x) & 0xFFFF) == 0x8000;
    }
    CHECK(ties >= 65536); // the halfway cases are there
}

TEMPLATE_LIST_TEST_CASE("half: SIMD conversions give the scalar bits on every architecture", "[half]", archs) {
    using Arch = TestType;
    using FB = xsimd::batch<float, Arch>;
    constexpr std::size_t B = FB::size;
    // Every bit pattern, as bf16 and as fp16, loaded as float batches: F16C / AVX-512 where
    // compiled in, and the integer algorithm (tested on its own too).
    std::vector<nf::bf16> bs(65536);
    std::vector<nf::fp16> fs(65536);
    for (std::uint32_t u = 0; u <= 0xFFFF; ++u) {
        bs[u] = nf::bf16::from_bits(static_cast<std::uint16_t>(u));
        fs[u] = nf::fp16::from_bits(static_cast<std::uint16_t>(u));
    }
    alignas(64) float lanes[B];
    alignas(64) std::int32_t ilanes[B];
    for (std::size_t i = 0; i < 65536; i += B) {
        nf::detail::load_converted<float, Arch>(bs.data() + i).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l)
            if (bits_of(lanes[l]) != expected_float_bits_of_bf16(bs[i + l].bits)) FAIL("bf16 load at " << i + l);
        nf::detail::load_converted<float, Arch>(fs.data() + i).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l)
            if (bits_of(lanes[l]) != expected_float_bits_of_fp16(fs[i + l].bits)) FAIL("fp16 load at " << i + l);
        const auto h = nf::detail::load_widened_u16<Arch>(fs.data() + i);
        nf::detail::float_from_fp16_bits<Arch>(h).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l)
            if (bits_of(lanes[l]) != expected_float_bits_of_fp16(fs[i + l].bits))
                FAIL("fp16 integer load at " << i + l);
    }
    // The sweep of floats stored as bf16 and fp16 (with an unaligned destination).
    const std::vector<float> xs = sweep();
    std::vector<nf::bf16> bo(xs.size() + 1);
    std::vector<nf::fp16> fo(xs.size() + 1);
    for (std::size_t i = 0; i < xs.size(); i += B) {
        const FB v = FB::load_unaligned(xs.data() + i);
        nf::detail::store_converted<Arch>(bo.data() + 1 + i, v);
        nf::detail::store_converted<Arch>(fo.data() + 1 + i, v);
        nf::detail::fp16_bits_from<Arch>(v).store_aligned(ilanes);
        for (std::size_t l = 0; l < B; ++l)
            if (static_cast<std::uint16_t>(ilanes[l]) != expected_fp16(xs[i + l]))
                FAIL("fp16 integer store of " << bits_of(xs[i + l]) << ": " << ilanes[l]);
    }
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (bo[i + 1].bits != expected_bf16(xs[i])) FAIL("bf16 store of " << bits_of(xs[i]) << ": " << bo[i + 1].bits);
        if (fo[i + 1].bits != expected_fp16(xs[i])) FAIL("fp16 store of " << bits_of(xs[i]) << ": " << fo[i + 1].bits);
    }
    CHECK(bo[0].bits == 0); // nothing written before the destination
    CHECK(fo[0].bits == 0);
}

TEMPLATE_LIST_TEST_CASE("half: 8- and 16-bit integers widen exactly on every architecture", "[half]", archs) {
    using Arch = TestType;
    using FB = xsimd::batch<float, Arch>;
    constexpr std::size_t B = FB::size;
    std::vector<std::uint8_t> u8(256 + 1);
    std::vector<std::int8_t> i8(256 + 1);
    std::vector<std::uint16_t> u16(65536 + 1);
    for (std::size_t v = 0; v < 256; ++v) {
        u8[v + 1] = static_cast<std::uint8_t>(v);
        i8[v + 1] = static_cast<std::int8_t>(static_cast<int>(v) - 128);
    }
    for (std::size_t v = 0; v < 65536; ++v) u16[v + 1] = static_cast<std::uint16_t>(v);
    alignas(64) float lanes[B];
    for (std::size_t i = 0; i < 256; i += B) { // from odd addresses
        nf::detail::load_converted<float, Arch>(u8.data() + 1 + i).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l) REQUIRE(lanes[l] == static_cast<float>(i + l));
        nf::detail::load_converted<float, Arch>(i8.data() + 1 + i).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l) REQUIRE(lanes[l] == static_cast<float>(static_cast<int>(i + l) - 128));
    }
    for (std::size_t i = 0; i < 65536; i += B) {
        nf::detail::load_converted<float, Arch>(u16.data() + 1 + i).store_aligned(lanes);
        for (std::size_t l = 0; l < B; ++l)
            if (lanes[l] != static_cast<float>(i + l)) FAIL("uint16 " << i + l << " -> " << lanes[l]);
    }
    // To double (lane by lane).
    using DB = xsimd::batch<double, Arch>;
    alignas(64) double dl[DB::size];
    nf::detail::load_converted<double, Arch>(u8.data() + 1 + 250 - DB::size).store_aligned(dl);
    for (std::size_t l = 0; l < DB::size; ++l) CHECK(dl[l] == static_cast<double>(250 - DB::size + l));
}

TEST_CASE("half: float to bf16 and fp16 as PyTorch 1.13 converts", "[half][reference]") {
    // tests/reference/gen_reference.py, gen_conversions: x.to(torch.bfloat16 / torch.float16),
    // widened back to float32 (exact), for random floats of every magnitude and for ties.
    const auto ref = nf_test::load_reference_case("conversions");
    const auto& x = ref.tensor("input").values;
    const auto& b = ref.tensor("bfloat16").values;
    const auto& f = ref.tensor("float16").values;
    REQUIRE(x.size() >= 2000);
    REQUIRE(b.size() == x.size());
    REQUIRE(f.size() == x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto xi = static_cast<float>(x[i]);
        const float bi = static_cast<float>(nf::bf16(xi)), fi = static_cast<float>(nf::fp16(xi));
        if (std::isnan(b[i]) ? !std::isnan(bi) : bits_of(bi) != bits_of(static_cast<float>(b[i])))
            FAIL("bf16 of " << xi << ": " << bi << ", PyTorch " << b[i]);
        if (std::isnan(f[i]) ? !std::isnan(fi) : bits_of(fi) != bits_of(static_cast<float>(f[i])))
            FAIL("fp16 of " << xi << ": " << fi << ", PyTorch " << f[i]);
    }
    SUCCEED();
}
