# Compile options for normfuse's own targets (tests, examples, benchmarks).
#
#   normfuse_configure_target(<target> [NO_NATIVE] [NO_WERROR])
#
# Links <target> to normfuse::normfuse and adds strict warnings, -Werror (if NORMFUSE_WERROR)
# and the instruction-set flags NORMFUSE_ARCH_FLAGS. The library's INTERFACE target never
# carries these: they are our policy for our code, not something to impose on consumers.
#   NO_NATIVE  for targets that choose their instruction set themselves (the ODR test).
#   NO_WERROR  for targets whose compilation is expected to fail (compile-fail tests), so that
#              a misuse has to be rejected by a real error, as it is for users without -Werror.
#
# NORMFUSE_ARCH_FLAGS (space-separated): the instruction set of normfuse's own targets. Empty
# (the default): -march=native when NORMFUSE_NATIVE is ON and the compiler takes it, else nothing
# (the compiler's baseline, SSE2 on x86-64). Set it to test another ISA level on this machine,
# e.g. -DNORMFUSE_ARCH_FLAGS="-mavx2 -mfma" for AVX2+FMA (scripts/test.sh does so for its sanitize
# configuration) or "-mavx2 -mno-fma". normfuse_arch_flags holds the flags in effect, as a list.

include_guard(GLOBAL)
include(CheckCXXCompilerFlag)

set(NORMFUSE_ARCH_FLAGS "" CACHE STRING
    "Instruction-set flags of normfuse's own tests, examples and benchmarks (empty: -march=native if NORMFUSE_NATIVE)")
set(normfuse_arch_flags "")
if(NORMFUSE_ARCH_FLAGS)
    separate_arguments(normfuse_arch_flags UNIX_COMMAND "${NORMFUSE_ARCH_FLAGS}")
elseif(NORMFUSE_NATIVE)
    check_cxx_compiler_flag(-march=native NORMFUSE_HAVE_MARCH_NATIVE)
    if(NORMFUSE_HAVE_MARCH_NATIVE)
        set(normfuse_arch_flags -march=native)
    else()
        message(STATUS "normfuse: ${CMAKE_CXX_COMPILER_ID} does not accept -march=native; "
                       "NORMFUSE_NATIVE has no effect")
    endif()
endif()
list(JOIN normfuse_arch_flags " " normfuse_arch_flags_text)
if(normfuse_arch_flags)
    message(STATUS "normfuse: own targets compiled with ${normfuse_arch_flags_text}")
else()
    message(STATUS "normfuse: own targets get no instruction-set flags (CMAKE_CXX_FLAGS or the compiler's baseline decide)")
endif()

function(normfuse_configure_target target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "NO_NATIVE;NO_WERROR" "" "")

    target_link_libraries(${target} PRIVATE normfuse::normfuse)
    # Strict ISO C++20 (-std=c++20, not gnu++20): the headers must not rely on extensions.
    set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)

    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 /permissive-)
        if(NORMFUSE_WERROR AND NOT arg_NO_WERROR)
            target_compile_options(${target} PRIVATE /WX)
        endif()
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
        if(NORMFUSE_WERROR AND NOT arg_NO_WERROR)
            target_compile_options(${target} PRIVATE -Werror)
        endif()
    endif()

    if(normfuse_arch_flags AND NOT arg_NO_NATIVE)
        target_compile_options(${target} PRIVATE ${normfuse_arch_flags})
    endif()
endfunction()
