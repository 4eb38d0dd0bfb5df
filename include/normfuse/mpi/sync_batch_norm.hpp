// normfuse/mpi/sync_batch_norm.hpp: SyncBatchNorm over MPI: BatchNorm with the statistics of the batch split over the ranks of a communicator.
//
// Data-parallel training gives each rank a shard of the batch. In training mode the layer computes
// its shard's per-channel statistics with nn::batch_norm's one-read pass, merges them with every
// other rank's in ONE MPI_Allreduce of {count, shift, mean - shift, M2} per channel (mpi/moments.hpp: Chan's
// merge as the MPI operation, exact for shards of any size, empty ones included, as PyTorch's
// batch_norm_gather_stats_with_counts weighs them by their counts), and normalizes its shard with
// the statistics of the whole batch; every rank updates its running statistics identically (the
// unbiased variance from the global count). A smaller MPI_Allreduce before it makes every rank
// agree that all inputs were accepted and have the same channel count, so a rank whose input is
// wrong makes every rank throw instead of leaving them waiting. Eval mode does not communicate.
// Include this header (and link normfuse::mpi) only in programs built with MPI.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <normfuse/core/axis.hpp>
#include <normfuse/mpi/communicator.hpp>
#include <normfuse/mpi/error.hpp>
#include <normfuse/mpi/moments.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/common.hpp>
#include <normfuse/reduce/merge.hpp>

namespace nf::nn {

namespace detail {
inline constexpr const char* sync_batch_norm_call = "nn::sync_batch_norm::forward";

/// The merge policy of nn::batch_norm's training forward (see local_statistics) that combines the
/// shards of every rank of a communicator. `agreed` records that the first collective was made, so
/// that a rank whose call fails before it can still make it (see sync_batch_norm::forward_views).
struct mpi_statistics {
    static constexpr bool collective = true;
    static constexpr std::string_view layer_name = "nn::sync_batch_norm";
    MPI_Comm comm;
    const nf::mpi::detail::moments_reduction* reduction;
    bool* agreed;

    std::size_t operator()(std::size_t c, std::size_t m, const double* shift, double* centered,
                           double* variance) const {
        *agreed = true;
        nf::mpi::detail::require_agreement(nf::mpi::detail::agree(comm, false, c, sync_batch_norm_call), c,
                                           sync_batch_norm_call, "channels");
        if (c == 0) return m; // no channel on any rank (a layer without parameters): nothing to merge
        constexpr std::size_t inline_channels = 256;
        std::array<double, nf::detail::moments_stride * inline_channels> local;
        std::vector<double> heap;
        double* v = local.data();
        if (c > inline_channels) {
            heap.resize(nf::detail::moments_stride * c);
            v = heap.data();
        }
        const double n = static_cast<double>(m);
        for (std::size_t ch = 0; ch < c; ++ch) {
            double* t = v + nf::detail::moments_stride * ch;
            t[0] = n;
            t[1] = m ? shift[ch] : 0.0;
            t[2] = m ? centered[ch] : 0.0;
            t[3] = m ? variance[ch] * n : 0.0;
        }
        reduction->allreduce(v, c, comm, sync_batch_norm_call);
        // Every channel has the same count: the values of all the ranks.
        const double total = v[0];
        for (std::size_t ch = 0; ch < c; ++ch) {
            const double* t = v + nf::detail::moments_stride * ch;
            if (total > 0) { // the merged mean is t[1] + t[2], t[1] a value of some rank's channel
                centered[ch] = (t[1] - shift[ch]) + t[2];
                variance[ch] = t[3] / total;
            }
        }
        return static_cast<std::size_t>(total);
    }
};
} // namespace detail

/// PyTorch's torch.nn.SyncBatchNorm on CPUs, over MPI: nn::batch_norm{1,2,3}d (any layout of N, C
/// and the spatial axes, the same options, parameters and PyTorch 1.13 semantics) whose training
/// forward normalizes with the statistics of the batch formed by every rank's input, and updates
/// the running statistics with them on every rank alike.
///
/// * Construct it on every rank of `comm` at the same point (it duplicates the communicator:
///   MPI_Comm_dup is collective); MPI must be initialized. Move-only.
/// * A training forward is collective: every rank of the communicator calls it, with inputs of
///   the same channel count and any batch size (0 included). Two MPI_Allreduce per call: three
///   integers (every rank accepted its input; the channel counts agree), then 4 doubles per
///   channel. The whole batch must hold more than one value per channel (else every rank throws
///   std::invalid_argument); if it holds none, nothing changes but num_batches_tracked.
/// * If a rank's input is rejected (wrong channel count, output of other extents, ...), that rank
///   throws its error and every other rank throws std::runtime_error naming it; if the channel
///   counts differ, every rank throws nf::extent_error. In every case no rank has written its
///   output or changed its running statistics.
/// * An MPI failure throws nf::mpi::error (the layer's communicator returns errors).
/// * Eval mode (and a const layer without running statistics in eval) does not communicate:
///   each rank normalizes with its running statistics, as nn::batch_norm.
/// * Threads: calls on one layer from several threads at once need MPI_THREAD_MULTIPLE and the
///   same order of calls on every rank; one layer per thread is simpler.
template <class T, std::size_t Dims, std::size_t Channels = dynamic_extent>
class sync_batch_norm : public detail::layer_calls<sync_batch_norm<T, Dims, Channels>> {
public:
    using value_type = T;
    using local_layer = batch_norm<T, Dims, Channels>;
    using channel_vector = typename local_layer::channel_vector;

    sync_batch_norm(std::size_t num_features, MPI_Comm comm, batch_norm_options options = {})
        : layer_(num_features, options), comm_(comm, "nn::sync_batch_norm") {}
    explicit sync_batch_norm(MPI_Comm comm, batch_norm_options options = {}) requires(Channels != dynamic_extent)
        : sync_batch_norm(Channels, comm, options) {}

    void train(bool on = true) noexcept { layer_.train(on); }
    void eval() noexcept { layer_.eval(); }
    bool training() const noexcept { return layer_.training(); }
    const batch_norm_options& options() const noexcept { return layer_.options(); }
    std::size_t num_features() const noexcept { return layer_.num_features(); }
    channel_vector& weight() { return layer_.weight(); }
    channel_vector& bias() { return layer_.bias(); }
    const channel_vector& weight() const { return layer_.weight(); }
    const channel_vector& bias() const { return layer_.bias(); }
    channel_vector& running_mean() { return layer_.running_mean(); }
    channel_vector& running_var() { return layer_.running_var(); }
    const channel_vector& running_mean() const { return layer_.running_mean(); }
    const channel_vector& running_var() const { return layer_.running_var(); }
    std::int64_t num_batches_tracked() const noexcept { return layer_.num_batches_tracked(); }
    void set_num_batches_tracked(std::int64_t n) noexcept { layer_.set_num_batches_tracked(n); }

    /// The layer's parameters and state as an nn::batch_norm: e.g. for fold_batch_norm, or for a
    /// forward of this rank's data alone.
    local_layer& local() noexcept { return layer_; }
    const local_layer& local() const noexcept { return layer_; }
    /// The layer's own communicator (a duplicate of the one it was given).
    MPI_Comm communicator() const noexcept { return comm_.get(); }

private:
    friend class detail::layer_calls<sync_batch_norm<T, Dims, Channels>>;

    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) {
        run<Arch>(layer_, x, out);
    }
    template <class Arch, class X, class Out>
    void forward_views(const X& x, Out&& out) const {
        run<Arch>(layer_, x, out);
    }

    // A training call is collective. If this rank's call fails before its first collective (a
    // local check), it still makes that collective, reporting the failure, so that the other
    // ranks throw too instead of waiting for it.
    template <class Arch, class Layer, class X, class Out>
    void run(Layer& layer, const X& x, const Out& out) const {
        if (!layer.training()) return detail::batch_norm_access::forward_views<Arch>(layer, x, out, local_statistics());
        bool agreed = false;
        const detail::mpi_statistics merge{comm_.get(), &reduction_, &agreed};
        try {
            detail::batch_norm_access::forward_views<Arch>(layer, x, out, merge);
        } catch (...) {
            if (!agreed) {
                std::size_t c = 0;
                if constexpr (contains<axes::C<>, typename X::axes>) c = x.template extent<axes::C<>>();
                try {
                    nf::mpi::detail::agree(comm_.get(), true, c, detail::sync_batch_norm_call);
                } catch (...) { // this rank's own error says more than a failure to report it
                }
            }
            throw;
        }
    }
    static detail::local_statistics local_statistics() { return {}; }

    local_layer layer_;
    nf::mpi::detail::owned_communicator comm_;
    nf::mpi::detail::moments_reduction reduction_;
};

/// SyncBatchNorm for (N, C) or (N, C, L) input in any order.
template <class T, std::size_t Channels = dynamic_extent>
using sync_batch_norm1d = sync_batch_norm<T, 1, Channels>;
/// SyncBatchNorm for (N, C, H, W) input in any order.
template <class T, std::size_t Channels = dynamic_extent>
using sync_batch_norm2d = sync_batch_norm<T, 2, Channels>;
/// SyncBatchNorm for (N, C, D, H, W) input in any order.
template <class T, std::size_t Channels = dynamic_extent>
using sync_batch_norm3d = sync_batch_norm<T, 3, Channels>;

} // namespace nf::nn
