# Runs one compile-fail test (cmake -P); registered by normfuse_add_compile_fail_test().
#
# Inputs (-D): BUILD_DIR, TARGET, CONFIG, SOURCE.
# Builds TARGET and passes only if the build fails and the compiler's diagnostics match the
# regex on SOURCE's first line, `// expect: <regex>`, and name the user's line: SOURCE's own file
# name with a line number (the line that ends with `// <- rejected here` when SOURCE marks one),
# in a diagnostic or in the chain of instantiations that leads to it, not in an "In file included
# from" line. A file that compiles fails the test: that is a misuse the library no longer rejects.
# The tests run under g++ and clang++ (scripts/test.sh), whose texts differ: a regex names the
# readable text of each, e.g. `operator\*: axis C has extent 3 on the left and 16 on the right`
# (g++ prints the computed message) `|in<nf::op::multiplies>::axis<nf::axes::C>::has_extent<3>::...`
# (clang prints the type that spells it; see include/normfuse/core/diagnostics.hpp).
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
# The compiler runs directly, with the command the build system would run: the compile-fail
# targets export theirs to BUILD_DIR/compile_commands.json (EXPORT_COMPILE_COMMANDS). Not through
# `cmake --build`: builds of one tree must not run concurrently, and these tests would then have
# to run one at a time. Generators without compile_commands.json (Visual Studio, Xcode) build the
# target instead.
set(compile_commands "${BUILD_DIR}/compile_commands.json")
set(command "")
if(EXISTS "${compile_commands}")
    file(READ "${compile_commands}" commands_json)
    # An entry is {"directory": ..., "command": ..., "file": ...}: find this source's "file" and
    # take the entry around it (CMake writes one entry per object, one key per line, strings
    # JSON-escaped).
    string(FIND "${commands_json}" "\"file\": \"${SOURCE}\"" file_at)
    if(file_at GREATER -1)
        string(SUBSTRING "${commands_json}" 0 ${file_at} before)
        string(FIND "${before}" "{" entry_at REVERSE)
        string(SUBSTRING "${commands_json}" ${entry_at} -1 entry)
        string(FIND "${entry}" "}" entry_end)
        string(SUBSTRING "${entry}" 0 ${entry_end} entry)
        foreach(key IN ITEMS directory command)
            if(NOT entry MATCHES "\"${key}\": \"([^\n]*)\",?\n")
                message(FATAL_ERROR "${compile_commands}: no \"${key}\" in the entry of ${SOURCE}")
            endif()
            # JSON's escapes: \\ and \" (the only ones in a command line).
            string(ASCII 1 placeholder)
            string(REPLACE "\\\\" "${placeholder}" value "${CMAKE_MATCH_1}")
            string(REPLACE "\\\"" "\"" value "${value}")
            string(REPLACE "${placeholder}" "\\" value "${value}")
            set(${key} "${value}")
        endforeach()
    endif()
endif()
if(command)
    # The object's directory, which the build tool would have made (should the file compile).
    if(command MATCHES " -o ([^ ]+)")
        get_filename_component(object_dir "${CMAKE_MATCH_1}" DIRECTORY)
        file(MAKE_DIRECTORY "${directory}/${object_dir}")
    endif()
    execute_process(
        COMMAND sh -c "${command}"
        WORKING_DIRECTORY "${directory}"
        RESULT_VARIABLE result
        OUTPUT_VARIABLE output
        ERROR_VARIABLE output)
else()
    execute_process(
        COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" --config "${CONFIG}"
        RESULT_VARIABLE result
        OUTPUT_VARIABLE output
        ERROR_VARIABLE output)
endif()

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

# The user's line. Without it (e.g. when clang instantiates the function that reports the
# misuse at the end of the file, outside the chain of calls), the diagnostic points only into
# the library's headers and leaves the user to search for the misuse.
get_filename_component(source_name "${SOURCE}" NAME)
string(REPLACE "." "\\." source_name_regex "${source_name}") # (names are [A-Za-z0-9_.])
file(READ "${SOURCE}" source_text)
string(FIND "${source_text}" "// <- rejected here" marker_at)
if(marker_at GREATER -1)
    string(SUBSTRING "${source_text}" 0 ${marker_at} before_marker)
    string(REGEX MATCHALL "\n" newlines "${before_marker}")
    list(LENGTH newlines user_line)
    math(EXPR user_line "${user_line} + 1")
else()
    set(user_line "[0-9]+")
endif()
set(chain "\n${output}")
string(REGEX REPLACE "\nIn file included from [^\n]*" "" chain "${chain}")      # clang, g++ first
string(REGEX REPLACE "\n[ \t]+from [^\n]*:[0-9]+[:,][^\n]*" "" chain "${chain}") # g++ continued
if(NOT chain MATCHES "[\n /]${source_name_regex}:${user_line}:[0-9]+:")
    message(FATAL_ERROR "failed to compile with the expected text, but the diagnostics above never "
                        "name the user's line, ${source_name}:${user_line} (outside \"In file "
                        "included from\" lines)")
endif()
message(STATUS "compile failed as expected; the diagnostics match `${expected}` and name "
               "${source_name}:${user_line}")
