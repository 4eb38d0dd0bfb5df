// normfuse/mpi/moments.hpp: mergeable statistics across the ranks of an MPI communicator: one MPI_Allreduce with a Chan-merge MPI_Op.
//
// The slots' {count, shift, mean - shift, M2} quadruples (reduce/merge.hpp) travel as one MPI
// datatype of four doubles, so that MPI never splits one when it cuts a message into segments, and combine
// with a user-defined operation that applies nf::detail::merge_moments. That merge gives the same
// bits whatever the order of its two operands (it is declared commutative), so the ranks, which
// receive the partial results of the same reduction tree, agree bitwise on the result.
#pragma once

#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include <normfuse/core/errors.hpp>
#include <normfuse/mpi/error.hpp>
#include <normfuse/reduce/merge.hpp>

namespace nf::mpi {

namespace detail {

/// The MPI_User_function of the merge: inout[i] = merge(in[i], inout[i]) for `*len` slots.
inline void merge_moments_op(void* in, void* inout, int* len, MPI_Datatype*) {
    const double* a = static_cast<const double*>(in);
    double* b = static_cast<double*>(inout);
    for (int i = 0; i < *len; ++i)
        nf::detail::merge_moments(b + nf::detail::moments_stride * static_cast<std::size_t>(i),
                                  a + nf::detail::moments_stride * static_cast<std::size_t>(i));
}

/// The MPI datatype of one slot's statistics and the merge operation on it, created on construction
/// and freed by the destructor (unless MPI was finalized first). Move-only.
class moments_reduction {
public:
    moments_reduction() {
        check(MPI_Type_contiguous(static_cast<int>(nf::detail::moments_stride), MPI_DOUBLE, &type_), "nf::mpi moments",
              "MPI_Type_contiguous");
        int rc = MPI_Type_commit(&type_);
        if (rc == MPI_SUCCESS) rc = MPI_Op_create(&merge_moments_op, 1, &op_);
        if (rc != MPI_SUCCESS) {
            MPI_Type_free(&type_);
            check(rc, "nf::mpi moments", "MPI_Type_commit / MPI_Op_create");
        }
    }
    moments_reduction(moments_reduction&& o) noexcept
        : type_(std::exchange(o.type_, MPI_DATATYPE_NULL)), op_(std::exchange(o.op_, MPI_OP_NULL)) {}
    moments_reduction& operator=(moments_reduction&& o) noexcept {
        if (this != &o) {
            release();
            type_ = std::exchange(o.type_, MPI_DATATYPE_NULL);
            op_ = std::exchange(o.op_, MPI_OP_NULL);
        }
        return *this;
    }
    ~moments_reduction() { release(); }

    MPI_Datatype type() const noexcept { return type_; }
    MPI_Op op() const noexcept { return op_; }

    /// Merges the statistics of `slots` slots at `data` across the ranks of `comm`, in place (one MPI_Allreduce).
    void allreduce(double* data, std::size_t slots, MPI_Comm comm, const char* where) const {
        if (slots > static_cast<std::size_t>(INT_MAX))
            nf::detail::raise_length(std::string(where) + ": " + std::to_string(slots) +
                                     " slots do not fit MPI's int count");
        check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(slots), type_, op_, comm), where, "MPI_Allreduce");
    }

private:
    void release() noexcept {
        if (!active()) return;
        if (op_ != MPI_OP_NULL) MPI_Op_free(&op_);
        if (type_ != MPI_DATATYPE_NULL) MPI_Type_free(&type_);
    }

    MPI_Datatype type_ = MPI_DATATYPE_NULL;
    MPI_Op op_ = MPI_OP_NULL;
};

/// What the ranks learn before they exchange per-slot data: whether some rank failed before the
/// exchange (its rank + 1, the highest such, or 0) and the smallest and largest slot count.
struct agreement {
    long long failed_rank_plus_one = 0;
    long long min_slots = 0, max_slots = 0;
};

/// One MPI_Allreduce (MPI_MAX of three integers) that every rank makes, failed or not, before the
/// data: a rank that rejected its input, or slot counts that differ, are then known on every rank,
/// and no rank waits for a message that will never come.
inline agreement agree(MPI_Comm comm, bool failed, std::size_t slots, const char* where) {
    int rank = 0;
    check(MPI_Comm_rank(comm, &rank), where, "MPI_Comm_rank");
    long long v[3] = {failed ? rank + 1LL : 0LL, static_cast<long long>(slots), -static_cast<long long>(slots)};
    check(MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_LONG_LONG, MPI_MAX, comm), where, "MPI_Allreduce");
    return {v[0], -v[2], v[1]};
}

/// Throws on every rank unless the agreement says all went well; `what` names the slots.
inline void require_agreement(const agreement& a, std::size_t slots, const char* where, const char* what) {
    if (a.failed_rank_plus_one)
        throw std::runtime_error(std::string("normfuse: ") + where + ": rank " +
                                 std::to_string(a.failed_rank_plus_one - 1) +
                                 " rejected its input (it throws the reason); nothing was written");
    if (a.min_slots != a.max_slots)
        nf::detail::raise_extent(std::string(where) + ": the ranks have between " + std::to_string(a.min_slots) +
                                 " and " + std::to_string(a.max_slots) + " " + what + " (this rank: " +
                                 std::to_string(slots) + "); every rank needs the same number; nothing was written");
}

} // namespace detail

/// Merges `s` with the statistics of the same slots on every rank of `comm`: afterwards every
/// rank holds the statistics of all the ranks' values, the same bits on every rank. A collective
/// call (every rank of `comm` makes it); two MPI_Allreduce: one that checks that every rank has
/// the same number of slots (otherwise every rank throws nf::extent_error and `s` is unchanged),
/// then the data. MPI failures are reported as nf::mpi::error if `comm`'s error handler returns
/// them (MPI_ERRORS_RETURN); with MPI's default handler they abort the job.
inline void allreduce(nf::moments_state& s, MPI_Comm comm) {
    constexpr const char* where = "nf::mpi::allreduce(moments_state)";
    detail::require_agreement(detail::agree(comm, false, s.slots(), where), s.slots(), where, "slots");
    if (s.slots() == 0) return;
    const detail::moments_reduction reduction;
    nf::moments_state merged = s;
    reduction.allreduce(merged.data(), merged.slots(), comm, where);
    s = std::move(merged);
}

} // namespace nf::mpi
