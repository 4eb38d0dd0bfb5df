// normfuse/dispatch.hpp: runtime choice of the instruction set (SSE2, AVX2+FMA, AVX-512) for kernels
// compiled once per architecture; see docs/dispatch.md.
//
// A kernel is a class template on the xsimd architecture whose members call normfuse with that
// architecture:
//
//     // kernel.hpp, included by the kernel source and by its callers
//     template <class Arch>
//     struct my_kernel {
//         void operator()(nf::view<const float, nchw> x, nf::view<float, nchw> y) const;
//     };
//     NF_DISPATCH_DECLARE(my_kernel) // at global scope, with the kernel's qualified name
//
//     // kernel.cpp, given to normfuse_add_dispatched_sources() (cmake/NormfuseDispatch.cmake)
//     template <class Arch>
//     void my_kernel<Arch>::operator()(nf::view<const float, nchw> x, nf::view<float, nchw> y) const {
//         nf::assign<Arch>(y, (x - nf::mean<N, H, W>(x)) * nf::rsqrt(nf::var<N, H, W>(x) + 1e-5f));
//     }
//     NF_DISPATCH_INSTANTIATE(my_kernel)
//
//     // anywhere, compiled with no -m flag
//     nf::dispatch<my_kernel>(x, y); // runs my_kernel<the widest architecture the CPU has>
//
// The CMake helper compiles kernel.cpp once per architecture with that architecture's flags and
// the definition NF_DISPATCH_TARGET_ARCH; NF_DISPATCH_INSTANTIATE then instantiates the kernel for
// it, and NF_DISPATCH_DECLARE tells every other translation unit that those instantiations exist
// elsewhere (extern template), so that a unit built without -m flags never compiles wider code.
// The member functions must be defined in the kernel source, not in the header: an inline member
// would be instantiated (for AVX-512, say) in the units that call it.
//
// Without the helper nothing of this changes the program: NF_DISPATCH_INSTANTIATE instantiates the
// kernel for the architecture its unit is compiled for (xsimd::default_arch), and nf::dispatch
// calls that one.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>

namespace nf {

/// The instruction-set levels normfuse dispatches among, narrowest first.
enum class isa : int {
    sse2 = 0,   ///< xsimd::sse2 (every x86-64 CPU)
    avx2 = 1,   ///< xsimd::fma3<xsimd::avx2>: AVX2 with FMA
    avx512 = 2, ///< xsimd::avx512bw: AVX-512 F, CD, DQ and BW
};

/// The xsimd architecture of a level.
template <isa Level>
using isa_arch = std::conditional_t<Level == isa::sse2, xsimd::sse2,
                                    std::conditional_t<Level == isa::avx2, xsimd::fma3<xsimd::avx2>, xsimd::avx512bw>>;

/// Name of a level: "sse2", "avx2" or "avx512" (the values NF_ARCH accepts).
constexpr std::string_view isa_name(isa level) noexcept {
    switch (level) {
    case isa::sse2:
        return "sse2";
    case isa::avx2:
        return "avx2";
    case isa::avx512:
        return "avx512";
    }
    return "?";
}

namespace detail {

/// The widest level this CPU (and its operating system) runs, from xsimd's cpuid.
inline isa cpu_isa() noexcept {
    const unsigned best = xsimd::available_architectures().best;
    if (best >= xsimd::avx512bw::version()) return isa::avx512;
    if (best >= xsimd::fma3<xsimd::avx2>::version()) return isa::avx2;
    return isa::sse2;
}

/// The CPU's level, read once.
inline isa cached_cpu_isa() noexcept {
    static const isa level = cpu_isa();
    return level;
}

/// Parses a level name; throws std::invalid_argument naming `what` otherwise.
inline isa parse_isa(std::string_view name, std::string_view what) {
    if (name == "sse2") return isa::sse2;
    if (name == "avx2") return isa::avx2;
    if (name == "avx512") return isa::avx512;
    throw std::invalid_argument("normfuse: " + std::string(what) + ": unknown instruction set '" + std::string(name) +
                                "'; expected sse2, avx2 or avx512");
}

/// The cap on the level: NF_ARCH when first asked, later nf::set_max_arch. One per program (an
/// inline variable), shared by every kernel.
inline std::atomic<int>& max_isa_slot() {
    static std::atomic<int> slot{[] {
        const char* env = std::getenv("NF_ARCH");
        if (env == nullptr || *env == '\0') return static_cast<int>(isa::avx512);
        return static_cast<int>(parse_isa(env, "the environment variable NF_ARCH"));
    }()};
    return slot;
}

} // namespace detail

/// The level dispatched kernels run at: the widest the CPU has, capped by NF_ARCH (read once,
/// at the first call) and by nf::set_max_arch. A kernel compiled for fewer levels runs the widest
/// of its own that does not exceed this.
inline isa active_isa() {
    const isa cpu = detail::cached_cpu_isa();
    const isa cap = static_cast<isa>(detail::max_isa_slot().load(std::memory_order_relaxed));
    return static_cast<int>(cap) < static_cast<int>(cpu) ? cap : cpu;
}
/// isa_name(active_isa()).
inline std::string_view active_arch_name() {
    return isa_name(active_isa());
}

/// Caps the level of later dispatches (takes effect at the next nf::dispatch call); a cap above
/// what the CPU has is harmless. For tests and benchmarks that run every path on one machine.
inline void set_max_arch(isa level) noexcept {
    detail::max_isa_slot().store(static_cast<int>(level), std::memory_order_relaxed);
}
/// set_max_arch by name ("sse2", "avx2", "avx512"); throws std::invalid_argument for another.
inline void set_max_arch(std::string_view name) {
    set_max_arch(detail::parse_isa(name, "nf::set_max_arch"));
}

/// The levels a kernel is compiled for, narrowest first; NF_DISPATCH_DECLARE specializes it.
template <template <class> class Kernel>
struct dispatch_kernel_levels {
    static constexpr bool declared = false;
};

namespace detail {
/// The levels whose flags are on, narrowest first.
template <bool Sse2, bool Avx2, bool Avx512>
constexpr auto levels_of() {
    std::array<isa, std::size_t{Sse2} + Avx2 + Avx512> a{};
    std::size_t i = 0;
    if (Sse2) a[i++] = isa::sse2;
    if (Avx2) a[i++] = isa::avx2;
    if (Avx512) a[i++] = isa::avx512;
    return a;
}

/// Runs the widest of the kernel's levels 0..I that does not exceed `level`.
template <template <class> class Kernel, std::size_t I, class... Args>
decltype(auto) dispatch_from(isa level, Args&&... args) {
    constexpr isa mine = dispatch_kernel_levels<Kernel>::levels[I];
    if (mine <= level) return Kernel<isa_arch<mine>>{}(std::forward<Args>(args)...);
    if constexpr (I > 0) {
        return dispatch_from<Kernel, I - 1>(level, std::forward<Args>(args)...);
    } else {
        throw std::runtime_error("normfuse: nf::dispatch: the kernel is compiled for no instruction set this CPU "
                                 "runs (the narrowest is " +
                                 std::string(isa_name(mine)) + ", the CPU allows " + std::string(isa_name(level)) +
                                 ")");
    }
}

} // namespace detail

/// Calls `Kernel<Arch>{}(args...)` for the widest architecture the kernel is compiled for that
/// the CPU runs and the cap allows (see active_isa). The kernel must be declared with
/// NF_DISPATCH_DECLARE. Without the CMake helper it is compiled for one architecture only, the
/// one of its translation unit, and that one is called.
template <template <class> class Kernel, class... Args>
decltype(auto) dispatch(Args&&... args) {
    static_assert(dispatch_kernel_levels<Kernel>::declared,
                  "normfuse: nf::dispatch<Kernel>: declare the kernel with NF_DISPATCH_DECLARE(Kernel) "
                  "(at global scope, after the kernel's declaration; see normfuse/dispatch.hpp)");
    if constexpr (dispatch_kernel_levels<Kernel>::levels.size() == 0) {
        // No helper: the kernel exists for the architecture of its own translation unit only.
        return Kernel<xsimd::default_arch>{}(std::forward<Args>(args)...);
    } else {
        constexpr std::size_t n = dispatch_kernel_levels<Kernel>::levels.size();
        return detail::dispatch_from<Kernel, n - 1>(active_isa(), std::forward<Args>(args)...);
    }
}

/// `dest = x` evaluated for an explicit architecture; dest is a tensor or a view. What a kernel
/// writes instead of `dest = x` so that the loop it instantiates is the one of its Arch.
template <class Arch, class Dest, class X>
void assign(Dest&& dest, X&& x) {
    std::forward<Dest>(dest).template assign<Arch>(std::forward<X>(x));
}

} // namespace nf

// --- Macros for kernels ------------------------------------------------------------------------
// The CMake helper defines, for every source of the target and of its per-architecture parts,
// NF_DISPATCH_HAVE_SSE2 / _AVX2 / _AVX512 (=1) for the levels it compiles, and for each
// per-architecture source NF_DISPATCH_TARGET_ARCH (sse2, avx2 or avx512).

#if defined(NF_DISPATCH_HAVE_SSE2) && NF_DISPATCH_HAVE_SSE2
#define NF_DISPATCH_SSE2_ON 1
#define NF_DISPATCH_IF_SSE2(x) x
#else
#define NF_DISPATCH_SSE2_ON 0
#define NF_DISPATCH_IF_SSE2(x)
#endif
#if defined(NF_DISPATCH_HAVE_AVX2) && NF_DISPATCH_HAVE_AVX2
#define NF_DISPATCH_AVX2_ON 1
#define NF_DISPATCH_IF_AVX2(x) x
#else
#define NF_DISPATCH_AVX2_ON 0
#define NF_DISPATCH_IF_AVX2(x)
#endif
#if defined(NF_DISPATCH_HAVE_AVX512) && NF_DISPATCH_HAVE_AVX512
#define NF_DISPATCH_AVX512_ON 1
#define NF_DISPATCH_IF_AVX512(x) x
#else
#define NF_DISPATCH_AVX512_ON 0
#define NF_DISPATCH_IF_AVX512(x)
#endif

/// Declares a kernel class template (qualified name, at global scope): the levels it is compiled
/// for, and `extern template` for each, so that no other translation unit instantiates it.
#define NF_DISPATCH_DECLARE(Kernel)                                                                                    \
    NF_DISPATCH_IF_SSE2(extern template struct Kernel<::nf::isa_arch<::nf::isa::sse2>>;)                               \
    NF_DISPATCH_IF_AVX2(extern template struct Kernel<::nf::isa_arch<::nf::isa::avx2>>;)                               \
    NF_DISPATCH_IF_AVX512(extern template struct Kernel<::nf::isa_arch<::nf::isa::avx512>>;)                           \
    template <>                                                                                                        \
    struct nf::dispatch_kernel_levels<Kernel> {                                                                        \
        static constexpr bool declared = true;                                                                         \
        static constexpr auto levels =                                                                                 \
            ::nf::detail::levels_of<NF_DISPATCH_SSE2_ON, NF_DISPATCH_AVX2_ON, NF_DISPATCH_AVX512_ON>();                \
    };

#if defined(NF_DISPATCH_TARGET_ARCH)
#define NF_DISPATCH_CAT_(a, b) a##b
#define NF_DISPATCH_CAT(a, b) NF_DISPATCH_CAT_(a, b)
#define NF_DISPATCH_ARCH ::nf::isa_arch<::nf::isa::NF_DISPATCH_TARGET_ARCH>
// The unit must be compiled for exactly its level: its flags give xsimd's default architecture,
// which is what normfuse calls without an explicit Arch inside the kernel use.
static_assert(std::is_same_v<xsimd::default_arch, NF_DISPATCH_ARCH>,
              "normfuse: this per-architecture kernel unit is not compiled for its architecture (flags of "
              "normfuse_add_dispatched_sources overridden, e.g. by -march=native in the target's options?)");
#else
#define NF_DISPATCH_ARCH ::xsimd::default_arch
#endif

/// In the kernel source, after the member definitions: instantiates the kernel for the
/// architecture this unit is compiled for.
#define NF_DISPATCH_INSTANTIATE(Kernel) template struct Kernel<NF_DISPATCH_ARCH>;
