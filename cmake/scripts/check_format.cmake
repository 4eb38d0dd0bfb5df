# Checks that the C++ sources are formatted as .clang-format says (clang-format 14, Debian 12):
#   cmake -D CLANG_FORMAT=<program> -D SOURCE_DIR=<repository root> -P check_format.cmake
# Lists every file clang-format would change and fails if there is one; `clang-format -i <file>`
# fixes it. Run by the test `format.sources` (tests/CMakeLists.txt).
cmake_minimum_required(VERSION 3.25)

file(GLOB_RECURSE sources LIST_DIRECTORIES false
    "${SOURCE_DIR}/include/*.hpp" "${SOURCE_DIR}/tests/*.hpp" "${SOURCE_DIR}/tests/*.cpp"
    "${SOURCE_DIR}/examples/*.cpp" "${SOURCE_DIR}/docs/examples/*.cpp"
    "${SOURCE_DIR}/benchmarks/*.hpp" "${SOURCE_DIR}/benchmarks/*.cpp")
# One clang-format process for all files (one per file took 48 s, nearly all of it start-up; one
# for all, 3 s). Each file it would change is named at the start of its diagnostics,
# "<file>:<line>:<column>: error: code should be clang-formatted".
execute_process(COMMAND "${CLANG_FORMAT}" --dry-run --Werror ${sources}
                RESULT_VARIABLE result OUTPUT_QUIET ERROR_VARIABLE diagnostics)
set(unformatted)
if(NOT result EQUAL 0)
    string(REGEX MATCHALL "[^\n]+:[0-9]+:[0-9]+: error: code should be clang-formatted" lines "${diagnostics}")
    foreach(line IN LISTS lines)
        string(REGEX REPLACE ":[0-9]+:[0-9]+: error: code should be clang-formatted$" "" file "${line}")
        file(RELATIVE_PATH relative "${SOURCE_DIR}" "${file}")
        if(NOT relative IN_LIST unformatted)
            list(APPEND unformatted "${relative}")
        endif()
    endforeach()
    if(NOT unformatted)
        message(FATAL_ERROR "check_format: ${CLANG_FORMAT} failed (exit ${result}):\n${diagnostics}")
    endif()
endif()
list(LENGTH sources count)
if(unformatted)
    list(JOIN unformatted "\n  " listing)
    message(FATAL_ERROR "check_format: not formatted as .clang-format says (fix: clang-format -i <file>):\n  ${listing}")
endif()
message(STATUS "check_format: ${count} files formatted as .clang-format says")
