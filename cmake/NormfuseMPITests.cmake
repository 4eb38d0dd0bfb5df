# Programs run under mpiexec as tests (tests/mpi, docs/examples/mpi).
#
#   normfuse_add_mpi_test(NAME <test> TARGET <target> RANKS <n> [LABEL <label>] [TIMEOUT <s>])
#
# Registers a CTest test that runs <target> with <n> ranks through FindMPI's MPIEXEC_EXECUTABLE.
# With Open MPI, --oversubscribe lets 4 ranks run on a 2-core machine, and --allow-run-as-root (and
# its environment variables) lets them run in CI containers, which run as root. The TIMEOUT (60 s
# by default) turns a hang, e.g. ranks waiting for a message that never comes, into a failure.

include_guard(GLOBAL)

# Cache variables (internal): the module is included once per configure run (include_guard), and
# its function is called from several directories.
set(_normfuse_flags "")
set(_normfuse_environment "")
execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version OUTPUT_VARIABLE _normfuse_version ERROR_VARIABLE _normfuse_version TIMEOUT 20)
if(_normfuse_version MATCHES "Open MPI|OpenRTE")
    set(_normfuse_flags --oversubscribe --allow-run-as-root)
    set(_normfuse_environment "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endif()
set(NORMFUSE_MPIEXEC_FLAGS "${_normfuse_flags}" CACHE INTERNAL "mpiexec flags of normfuse's MPI tests")
set(NORMFUSE_MPIEXEC_ENVIRONMENT "${_normfuse_environment}" CACHE INTERNAL "environment of normfuse's MPI tests")
unset(_normfuse_flags)
unset(_normfuse_environment)
unset(_normfuse_version)

function(normfuse_add_mpi_test)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;TARGET;RANKS;LABEL;TIMEOUT" "")
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 60)
    endif()
    if(NOT arg_LABEL)
        set(arg_LABEL mpi)
    endif()
    add_test(NAME "${arg_NAME}"
        COMMAND "${MPIEXEC_EXECUTABLE}" ${NORMFUSE_MPIEXEC_FLAGS} ${MPIEXEC_NUMPROC_FLAG} ${arg_RANKS}
                ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${arg_TARGET}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties("${arg_NAME}" PROPERTIES LABELS "${arg_LABEL}" TIMEOUT ${arg_TIMEOUT}
        PROCESSORS ${arg_RANKS} ENVIRONMENT "${NORMFUSE_MPIEXEC_ENVIRONMENT}")
endfunction()
