# Runtime instruction-set dispatch for targets that use normfuse (see docs/dispatch.md).
#
#   normfuse_add_dispatched_sources(<target> SOURCES <file>... [ARCHS <arch>...])
#
# Compiles each source once per architecture, <arch> one of sse2, avx2, avx512 (default: all
# three; sse2, the x86-64 baseline, is always added: it is what runs on any CPU), with that
# architecture's flags and -DNF_DISPATCH_TARGET_ARCH=<arch>, into a static library
# <target>_nf_<arch> linked to <target>. The sources define kernels (class templates on the xsimd
# architecture) and end with NF_DISPATCH_INSTANTIATE(kernel); the rest of the program, compiled
# with any flags or none, calls them through nf::dispatch<kernel>(...), which picks the widest
# architecture the CPU has once (capped by the environment variable NF_ARCH=sse2|avx2|avx512 or
# nf::set_max_arch). <target> and its per-architecture libraries get NF_DISPATCH_HAVE_<ARCH>=1
# for each compiled architecture (NF_DISPATCH_DECLARE reads them).
#
# The per-architecture libraries see <target>'s include directories, compile definitions and
# compile options, its link dependencies' included (-fopenmp from normfuse::openmp, sanitizer and
# warning flags), except the options that start with -m (-march=native, -mavx2: each level has its
# own). Code of one program must agree on them: a kernel compiled without the caller's -fopenmp
# would run serially and compile the library's inline threading code a second way. Add options to
# them as to any target: target_compile_options(<target>_nf_avx2 PRIVATE ...).
#
# Link order: the libraries come after <target>'s own objects, narrowest first. Inline functions
# that every unit compiles (the standard library's, normfuse's non-SIMD helpers) are then taken
# from the narrowest unit that has them, so code that any CPU runs never picks up a copy compiled
# for a wider instruction set. normfuse's SIMD code carries the architecture in its name and is
# never shared between the units.
#
# Off x86-64, or with a compiler that rejects the flags, the sources are compiled once, for the
# target's own flags, and nf::dispatch calls that single version.

include_guard(GLOBAL)
include(CheckCXXSourceCompiles)

# The flags of a level. A function, not variables: the helper is also called from directories
# that do not see the variables of the one that included this file (add_subdirectory(normfuse)).
function(_normfuse_dispatch_flags arch result_var)
    if(arch STREQUAL "sse2")
        set(flags -mno-sse3 -mno-avx)
    elseif(arch STREQUAL "avx2")
        set(flags -mavx2 -mfma -mno-avx512f)
    else()
        set(flags -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma)
    endif()
    set(${result_var} ${flags} PARENT_SCOPE)
endfunction()

# Whether the compiler builds xsimd's kernel of an architecture with its flags (once per arch).
function(_normfuse_dispatch_check arch result_var)
    if(DEFINED NORMFUSE_DISPATCH_OK_${arch})
        set(${result_var} ${NORMFUSE_DISPATCH_OK_${arch}} PARENT_SCOPE)
        return()
    endif()
    set(ok OFF)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$" AND NOT MSVC)
        set(intrinsic_sse2 "_mm_add_ps(_mm_setzero_ps(), _mm_setzero_ps())")
        set(intrinsic_avx2 "_mm256_fmadd_ps(_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps())")
        set(intrinsic_avx512 "_mm512_add_ps(_mm512_setzero_ps(), _mm512_setzero_ps())")
        _normfuse_dispatch_flags(${arch} flags)
        list(JOIN flags " " CMAKE_REQUIRED_FLAGS)
        set(CMAKE_REQUIRED_QUIET ON)
        check_cxx_source_compiles("
            #include <immintrin.h>
            int main() { auto v = ${intrinsic_${arch}}; (void)v; return 0; }"
            NORMFUSE_DISPATCH_OK_${arch})
        set(ok ${NORMFUSE_DISPATCH_OK_${arch}})
    else()
        set(NORMFUSE_DISPATCH_OK_${arch} OFF CACHE INTERNAL "")
    endif()
    set(${result_var} ${ok} PARENT_SCOPE)
endfunction()

function(normfuse_add_dispatched_sources target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;ARCHS")
    if(NOT TARGET ${target})
        message(FATAL_ERROR "normfuse_add_dispatched_sources: ${target} is not a target")
    endif()
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "normfuse_add_dispatched_sources(${target}): SOURCES is empty")
    endif()
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "normfuse_add_dispatched_sources(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT arg_ARCHS)
        set(arg_ARCHS sse2 avx2 avx512)
    endif()
    foreach(arch IN LISTS arg_ARCHS)
        if(NOT arch MATCHES "^(sse2|avx2|avx512)$")
            message(FATAL_ERROR
                "normfuse_add_dispatched_sources(${target}): unknown arch '${arch}' (sse2, avx2, avx512)")
        endif()
    endforeach()

    set(sources)
    foreach(source IN LISTS arg_SOURCES)
        get_filename_component(source "${source}" ABSOLUTE)
        list(APPEND sources "${source}")
    endforeach()

    # Narrowest first: the link order of the libraries (see the comment at the top).
    set(archs)
    foreach(arch IN ITEMS sse2 avx2 avx512)
        if(arch STREQUAL "sse2" OR arch IN_LIST arg_ARCHS)
            _normfuse_dispatch_check(${arch} ok)
            if(ok)
                list(APPEND archs ${arch})
            elseif(NOT arch STREQUAL "sse2")
                _normfuse_dispatch_flags(${arch} flags)
                message(STATUS "normfuse: ${target}: no ${arch} kernels (the compiler rejects ${flags})")
            endif()
        endif()
    endforeach()

    if(NOT "sse2" IN_LIST archs)
        # Not x86-64 (or not GCC/Clang): one build with the target's own flags.
        target_sources(${target} PRIVATE ${sources})
        return()
    endif()

    foreach(arch IN LISTS archs)
        string(TOUPPER "${arch}" upper)
        target_compile_definitions(${target} PRIVATE NF_DISPATCH_HAVE_${upper}=1)
    endforeach()
    foreach(arch IN LISTS archs)
        set(lib ${target}_nf_${arch})
        add_library(${lib} STATIC ${sources})
        target_link_libraries(${lib} PRIVATE normfuse::normfuse)
        target_include_directories(${lib} PRIVATE $<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>)
        target_compile_definitions(${lib} PRIVATE
            $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>
            NF_DISPATCH_TARGET_ARCH=${arch})
        target_compile_options(${lib} PRIVATE
            "$<FILTER:$<TARGET_PROPERTY:${target},COMPILE_OPTIONS>,EXCLUDE,^-m>")
        _normfuse_dispatch_flags(${arch} flags)
        target_compile_options(${lib} PRIVATE ${flags})
        set_target_properties(${lib} PROPERTIES POSITION_INDEPENDENT_CODE ON)
        target_link_libraries(${target} PRIVATE ${lib})
    endforeach()
endfunction()
