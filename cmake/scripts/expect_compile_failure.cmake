# Runs one compile-fail test (cmake -P); registered by normfuse_add_compile_fail_test().
#
# Inputs (-D): BUILD_DIR, TARGET, CONFIG, SOURCE.
# Builds TARGET and passes only if the build fails and the compiler's diagnostics match the
# regex on SOURCE's first line, `// expect: <regex>`. A file that compiles fails the test:
# that is a misuse the library no longer rejects.
#
# What the regex (CMake syntax; `.` also matches a newline) is matched against: the compiler's
# messages, with the build tool's own lines (progress, `FAILED:`, the echoed command line)
# removed and every absolute path replaced by `<path>`. So a regex cannot pass by matching a
# file name; it has to match the text of the diagnostic.

foreach(var IN ITEMS BUILD_DIR TARGET SOURCE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "expect_compile_failure.cmake: -D ${var}=... is required")
    endif()
endforeach()

file(READ "${SOURCE}" head LIMIT 4096)
string(REGEX MATCH "^[^\n]*" first_line "${head}")
string(REGEX REPLACE "[ \t\r]+$" "" first_line "${first_line}")
if(NOT first_line MATCHES "^// expect: (.+)$")
    message(FATAL_ERROR
        "${SOURCE}: the first line must be `// expect: <regex>` naming the diagnostic "
        "this misuse must produce; found `${first_line}`")
endif()
set(expected "${CMAKE_MATCH_1}")

# Untranslated messages with ASCII quotes, so that a regex written against one machine's
# output matches on another.
set(ENV{LC_ALL} C)
execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" --config "${CONFIG}"
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)

# Colour codes appear if the user configured CMAKE_COLOR_DIAGNOSTICS=ON.
string(ASCII 27 esc)
string(REGEX REPLACE "${esc}\\[[0-9;]*[A-Za-z]" "" output "${output}")
message("${output}")

if(result EQUAL 0)
    message(FATAL_ERROR "compiled, but this is a compile-fail test: it must be rejected with "
                        "a diagnostic matching `${expected}`")
endif()

# Each line pattern starts at a "\n", so it removes whole lines.
set(diagnostics "\n${output}")
string(REGEX REPLACE "\nFAILED: [^\n]*\n[^\n]*" "" diagnostics "${diagnostics}") # + command
string(REGEX REPLACE "\nninja: [^\n]*" "" diagnostics "${diagnostics}")
string(REGEX REPLACE "\n\\[[0-9]+/[0-9]+\\] [^\n]*" "" diagnostics "${diagnostics}")
string(REGEX REPLACE "\n\\[ *[0-9]+%\\] [^\n]*" "" diagnostics "${diagnostics}")
string(REGEX REPLACE "\ng?make(\\[[0-9]+\\])?: [^\n]*" "" diagnostics "${diagnostics}")
# Absolute paths: at a line start or after a blank or "(", with at least two components, so
# that e.g. `operator/` in a message is left alone.
string(REGEX REPLACE "(\n|[ \t(])/[A-Za-z0-9_.+-]+/[^\n \t:'\"]*" "\\1<path>"
    diagnostics "${diagnostics}")

if(NOT diagnostics MATCHES "${expected}")
    message(FATAL_ERROR "failed to compile as it should, but the diagnostics above do not "
                        "match `${expected}` (paths in them read as <path> for this match)")
endif()
message(STATUS "compile failed as expected; the diagnostics match `${expected}`")
