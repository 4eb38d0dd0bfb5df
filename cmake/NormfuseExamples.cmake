# Programs that are built and run as tests: examples/ and the documentation snippets.
#
#   normfuse_add_run_tests(SOURCES <file.cpp>... TEST_PREFIX <prefix> LABEL <label>
#                          [TARGET_PREFIX <prefix>])
#
# Builds one executable per source, named <TARGET_PREFIX><stem>, and registers a CTest test
# <TEST_PREFIX><stem> that runs it; the test passes when the program exits with 0.

include_guard(GLOBAL)

function(normfuse_add_run_tests)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "TEST_PREFIX;TARGET_PREFIX;LABEL" "SOURCES")
    foreach(source IN LISTS arg_SOURCES)
        get_filename_component(stem "${source}" NAME_WE)
        set(target "${arg_TARGET_PREFIX}${stem}")
        add_executable(${target} "${source}")
        normfuse_configure_target(${target})
        add_test(NAME "${arg_TEST_PREFIX}${stem}" COMMAND ${target})
        set_tests_properties("${arg_TEST_PREFIX}${stem}" PROPERTIES LABELS "${arg_LABEL}")
    endforeach()
endfunction()
