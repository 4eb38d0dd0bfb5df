// normfuse/mpi/communicator.hpp: a private duplicate of the caller's communicator whose errors are returned, not fatal.
//
// A layer that communicates on every forward keeps its own MPI_Comm_dup of the communicator it is
// given: its messages cannot match the application's, and setting MPI_ERRORS_RETURN on the
// duplicate lets normfuse turn failures into exceptions (nf::mpi::error) without changing the
// error handler of the application's communicator.
#pragma once

#include <string>
#include <utility>

#include <normfuse/core/errors.hpp>
#include <normfuse/mpi/error.hpp>

namespace nf::mpi::detail {

/// Owns an MPI_Comm_dup (collective: every rank of `comm` constructs one at the same point) with
/// MPI_ERRORS_RETURN; frees it on destruction unless MPI was finalized first. Move-only.
class owned_communicator {
public:
    owned_communicator(MPI_Comm comm, const char* where) {
        if (!active())
            nf::detail::raise_logic(std::string(where) + ": MPI is not initialized (call MPI_Init first) or was "
                                                         "already finalized");
        if (comm == MPI_COMM_NULL)
            nf::detail::raise_invalid(std::string(where) + ": the communicator is MPI_COMM_NULL");
        check(MPI_Comm_dup(comm, &comm_), where, "MPI_Comm_dup");
        const int rc = MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        if (rc != MPI_SUCCESS) {
            MPI_Comm_free(&comm_);
            check(rc, where, "MPI_Comm_set_errhandler");
        }
    }
    owned_communicator(owned_communicator&& o) noexcept : comm_(std::exchange(o.comm_, MPI_COMM_NULL)) {}
    owned_communicator& operator=(owned_communicator&& o) noexcept {
        if (this != &o) {
            release();
            comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
        }
        return *this;
    }
    ~owned_communicator() { release(); }

    MPI_Comm get() const noexcept { return comm_; }

private:
    void release() noexcept {
        if (comm_ != MPI_COMM_NULL && active()) MPI_Comm_free(&comm_);
        comm_ = MPI_COMM_NULL;
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
};

} // namespace nf::mpi::detail
