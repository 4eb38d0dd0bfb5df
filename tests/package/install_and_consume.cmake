# Runs the packaging test (cmake -P); registered in tests/package/CMakeLists.txt.
#
# Inputs (-D): SOURCE_DIR, WORK_DIR, CONSUMER_DIR, CONFIG, GENERATOR, MAKE_PROGRAM, CXX_COMPILER,
# CTEST_COMMAND.
# 1. configure SOURCE_DIR afresh as a packager would, with tests, examples and benchmarks off and
#    Catch2 made unfindable (installing must not need it), and cmake --install it into
#    WORK_DIR/prefix (a fresh, empty prefix);
# 2. configure consumer/ with only that prefix on CMAKE_PREFIX_PATH, and check that
#    normfuse_DIR points into it (not at the source or build tree);
# 3. build the consumer (no -m flags; its kernel goes through normfuse_add_dispatched_sources) and
#    run it through its own CTest test: it prints which instruction set ran; with EXPECT_MPI, the
#    consumer also requires normfuse::mpi (COMPONENTS mpi) and runs a 2-rank program with it, and
#    the exported targets must not mention MPI (the core target never depends on it);
# 4. the same with normfuse added by add_subdirectory(SOURCE_DIR) instead of find_package.

foreach(var IN ITEMS SOURCE_DIR WORK_DIR CONSUMER_DIR GENERATOR CXX_COMPILER CTEST_COMMAND)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "install_and_consume.cmake: -D ${var}=... is required")
    endif()
endforeach()
if(NOT CONFIG)
    set(CONFIG Release)
endif()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${WORK_DIR}")

function(run_step description)
    message(STATUS "package test: ${description}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "package test: ${description} failed (${result})")
    endif()
endfunction()

set(package_build "${WORK_DIR}/package-build")
set(package_args
    -S "${SOURCE_DIR}" -B "${package_build}" -G "${GENERATOR}"
    "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    -DNORMFUSE_BUILD_TESTS=OFF -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_BUILD_BENCHMARKS=OFF
    -DNORMFUSE_INSTALL=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON)
if(MAKE_PROGRAM)
    list(APPEND package_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
run_step("configure normfuse for installation (no tests, no Catch2)" "${CMAKE_COMMAND}" ${package_args})
run_step("install into ${prefix}"
    "${CMAKE_COMMAND}" --install "${package_build}" --prefix "${prefix}" --config "${CONFIG}")

set(common_args
    -S "${CONSUMER_DIR}" -G "${GENERATOR}"
    "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
    list(APPEND common_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
set(configure_args ${common_args} -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    # Never fall back to a normfuse registered by some other build of the project.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(EXPECT_MPI)
    list(APPEND configure_args -DCONSUMER_EXPECT_MPI=ON)
endif()
file(GLOB_RECURSE exported_targets_file "${prefix}/normfuseTargets.cmake")
if(NOT exported_targets_file)
    message(FATAL_ERROR "package test: no normfuseTargets.cmake under ${prefix}")
endif()
file(READ "${exported_targets_file}" exported_targets)
if(exported_targets MATCHES "MPI::|normfuse::mpi")
    message(FATAL_ERROR "package test: the exported targets (normfuseTargets.cmake) depend on MPI")
endif()
run_step("configure the consumer" "${CMAKE_COMMAND}" ${configure_args})

file(STRINGS "${consumer_build}/CMakeCache.txt" normfuse_dir_line REGEX "^normfuse_DIR:")
string(REGEX REPLACE "^[^=]*=" "" normfuse_dir "${normfuse_dir_line}")
file(REAL_PATH "${normfuse_dir}" normfuse_dir)
file(REAL_PATH "${prefix}" real_prefix)
string(FIND "${normfuse_dir}/" "${real_prefix}/" position)
if(NOT position EQUAL 0)
    message(FATAL_ERROR
        "package test: the consumer found normfuse in ${normfuse_dir}, not in ${prefix}")
endif()
message(STATUS "package test: found normfuse in ${normfuse_dir}")

run_step("build the consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${CONFIG}")
run_step("run the consumer"
    "${CTEST_COMMAND}" --test-dir "${consumer_build}" -C "${CONFIG}" --output-on-failure --verbose)

set(subdirectory_build "${WORK_DIR}/consumer-subdirectory-build")
run_step("configure the consumer with add_subdirectory(normfuse)"
    "${CMAKE_COMMAND}" ${common_args} -B "${subdirectory_build}" "-DNORMFUSE_SOURCE_DIR=${SOURCE_DIR}")
run_step("build the consumer (add_subdirectory)" "${CMAKE_COMMAND}" --build "${subdirectory_build}" --config "${CONFIG}")
run_step("run the consumer (add_subdirectory)"
    "${CTEST_COMMAND}" --test-dir "${subdirectory_build}" -C "${CONFIG}" --output-on-failure --verbose)
