# Compile options for normfuse's own targets (tests, examples, benchmarks).
#
#   normfuse_configure_target(<target> [NO_NATIVE] [NO_WERROR])
#
# Links <target> to normfuse::normfuse and adds strict warnings, -Werror (if NORMFUSE_WERROR)
# and -march=native (if NORMFUSE_NATIVE). The library's INTERFACE target never carries these:
# they are our policy for our code, not something to impose on consumers.
#   NO_NATIVE  for targets that choose their instruction set themselves (the ODR test).
#   NO_WERROR  for targets whose compilation is expected to fail (compile-fail tests), so that
#              a misuse has to be rejected by a real error, as it is for users without -Werror.

include_guard(GLOBAL)
include(CheckCXXCompilerFlag)

if(NORMFUSE_NATIVE)
    check_cxx_compiler_flag(-march=native NORMFUSE_HAVE_MARCH_NATIVE)
    if(NOT NORMFUSE_HAVE_MARCH_NATIVE)
        message(STATUS "normfuse: ${CMAKE_CXX_COMPILER_ID} does not accept -march=native; "
                       "NORMFUSE_NATIVE has no effect")
    endif()
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

    if(NORMFUSE_NATIVE AND NORMFUSE_HAVE_MARCH_NATIVE AND NOT arg_NO_NATIVE)
        target_compile_options(${target} PRIVATE -march=native)
    endif()
endfunction()
