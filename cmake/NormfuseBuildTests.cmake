# Tests whose subject is the compiler's verdict rather than a program's output.
#
#   normfuse_add_build_test(NAME <test> TARGET <target>... LABEL <label>)
#       A CTest test that builds the targets; it passes when the build succeeds. Used for the
#       static tests and the header-alone tests. Those targets are also part of `all`, so after
#       a normal build the test is an up-to-date check; after a failed build (or one run with
#       -k) it recompiles the broken file and shows the diagnostic under the test's name.
#
#   normfuse_add_compile_fail_test(SOURCE <file.cpp> [LINK <libs>...])
#       A CTest test `compile_fail.<stem>` that builds <file.cpp> as an object and passes only
#       when the compilation fails AND the compiler output matches the regular expression on
#       the file's first line, `// expect: <regex>` (CMake regex syntax; details in
#       scripts/expect_compile_failure.cmake). The target is excluded from `all`, since its
#       build is supposed to fail.
#
# A build test runs `cmake --build` on this build tree from inside CTest. Concurrent builds of one
# tree can corrupt the build tool's state (e.g. .ninja_deps), so these tests share a
# RESOURCE_LOCK and run one at a time, while CTest still runs other tests alongside them. A
# compile-fail test runs the target's compile command itself (from compile_commands.json), so
# those run in parallel, except with generators that write no compile_commands.json.

include_guard(GLOBAL)

set(NORMFUSE_EXPECT_COMPILE_FAILURE_SCRIPT
    "${CMAKE_CURRENT_LIST_DIR}/scripts/expect_compile_failure.cmake")

function(normfuse_add_build_test)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;LABEL" "TARGET")
    add_test(NAME "${arg_NAME}"
        COMMAND "${CMAKE_COMMAND}" --build "${CMAKE_BINARY_DIR}"
                --target ${arg_TARGET} --config "$<CONFIG>")
    set_tests_properties("${arg_NAME}" PROPERTIES
        LABELS "${arg_LABEL}"
        RESOURCE_LOCK normfuse_build_tree)
endfunction()

function(normfuse_add_compile_fail_test)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE" "LINK")
    get_filename_component(source "${arg_SOURCE}" ABSOLUTE)
    get_filename_component(stem "${source}" NAME_WE)
    set(target "compile_fail_${stem}")
    set(test "compile_fail.${stem}")

    add_library(${target} OBJECT EXCLUDE_FROM_ALL "${source}")
    normfuse_configure_target(${target} NO_WERROR)
    # Its compile command, for scripts/expect_compile_failure.cmake to run the compiler directly.
    set_target_properties(${target} PROPERTIES EXPORT_COMPILE_COMMANDS ON)
    # No source excerpt under the diagnostics: the expected text must then match the compiler's
    # message, not a quoted line of code that happens to contain it.
    target_compile_options(${target} PRIVATE
        $<$<CXX_COMPILER_ID:GNU>:-fno-diagnostics-show-caret>
        $<$<CXX_COMPILER_ID:Clang,AppleClang>:-fno-caret-diagnostics>)
    if(arg_LINK)
        target_link_libraries(${target} PRIVATE ${arg_LINK})
    endif()

    add_test(NAME "${test}"
        COMMAND "${CMAKE_COMMAND}"
                -D "BUILD_DIR=${CMAKE_BINARY_DIR}"
                -D "TARGET=${target}"
                -D "CONFIG=$<CONFIG>"
                -D "SOURCE=${source}"
                -P "${NORMFUSE_EXPECT_COMPILE_FAILURE_SCRIPT}")
    # No RESOURCE_LOCK: the test runs the compiler itself where the generator writes
    # compile_commands.json (Ninja, Makefiles), and these tests run in parallel.
    set(lock)
    if(NOT CMAKE_GENERATOR MATCHES "Ninja|Makefiles")
        set(lock RESOURCE_LOCK normfuse_build_tree)
    endif()
    set_tests_properties("${test}" PROPERTIES LABELS compile_fail ${lock})
endfunction()
