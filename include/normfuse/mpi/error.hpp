// normfuse/mpi/error.hpp: MPI failures as exceptions: nf::mpi::error, with the call, the code and MPI's own text.
//
// normfuse's MPI code runs on communicators whose error handler is MPI_ERRORS_RETURN (it duplicates
// the caller's), so that a failed call returns its code instead of aborting the job; every code is
// checked and a failure becomes an exception on the rank that saw it.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

// normfuse uses MPI's C interface only. Unless the program asks otherwise, leave out the C++
// bindings that OpenMPI's and MPICH's <mpi.h> pull in (deprecated since MPI 2.2, removed in MPI 3):
// they cost compile time and do not compile warning-free (-Wcast-function-type).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

namespace nf::mpi {

/// An MPI call failed: `what()` names the call and gives MPI's error string; `code()` is the code.
class error : public std::runtime_error {
public:
    error(const std::string& text, int code) : std::runtime_error(text), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

/// Throws nf::mpi::error "normfuse: <where>: <call> failed: <MPI's text> (error code <rc>)" unless
/// `rc` is MPI_SUCCESS.
inline void check(int rc, const char* where, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    std::string reason;
    if (MPI_Error_string(rc, text, &length) == MPI_SUCCESS)
        reason.assign(text, static_cast<std::size_t>(length));
    else
        reason = "unknown MPI error";
    throw error(std::string("normfuse: ") + where + ": " + call + " failed: " + reason + " (error code " +
                    std::to_string(rc) + ")",
                rc);
}

/// True while MPI is usable: initialized and not yet finalized (destructors that free MPI objects
/// after MPI_Finalize must not call MPI).
inline bool active() noexcept {
    int initialized = 0, finalized = 0;
    if (MPI_Initialized(&initialized) != MPI_SUCCESS || MPI_Finalized(&finalized) != MPI_SUCCESS) return false;
    return initialized && !finalized;
}

} // namespace detail
} // namespace nf::mpi
