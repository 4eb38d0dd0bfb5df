// Guide, chapter 10: distributed statistics. Mergeable statistics over the batches of a data set
// and over micro-batches, nf::mpi::allreduce of them across ranks, and nn::sync_batch_norm2d
// training on a batch split unevenly over the ranks. Run under mpirun (CTest: 3 ranks); every rank
// compares its results with plain loops in double and with nn::batch_norm2d on the whole batch,
// and the program returns non-zero on a wrong value.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <vector>

#include <normfuse/mpi/moments.hpp>
#include <normfuse/mpi/sync_batch_norm.hpp>
#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << '\n';
        ++failures;
    }
}

/// A batch of n samples: channel c of sample i around offset + c, the same on every rank.
nf::tensor<float, nchw> make_batch(std::size_t n, std::size_t first_sample, double offset) {
    nf::tensor<float, nchw> x({n, 3, 4, 5});
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t c = (i / 20) % 3, global = first_sample * 60 + i;
        x.data()[i] = static_cast<float>(offset + double(c) + 0.25 * double((global * 37) % 17));
    }
    return x;
}

/// Per-channel mean and unbiased variance of batches of NCHW data, in double, two passes.
void plain_stats(const std::vector<nf::tensor<float, nchw>>& batches, std::vector<double>& mean,
                 std::vector<double>& var) {
    mean.assign(3, 0);
    var.assign(3, 0);
    std::vector<double> count(3, 0);
    for (const auto& x : batches)
        for (std::size_t i = 0; i < x.size(); ++i) {
            mean[(i / 20) % 3] += x.data()[i];
            ++count[(i / 20) % 3];
        }
    for (std::size_t c = 0; c < 3; ++c) mean[c] /= count[c];
    for (const auto& x : batches)
        for (std::size_t i = 0; i < x.size(); ++i)
            var[(i / 20) % 3] += std::pow(x.data()[i] - mean[(i / 20) % 3], 2);
    for (std::size_t c = 0; c < 3; ++c) var[c] /= count[c] - 1;
}
} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    {
        // Streaming statistics of a data set, one batch at a time (no MPI needed).
        std::vector<nf::tensor<float, nchw>> batches;
        for (std::size_t b = 0; b < 4; ++b) batches.push_back(make_batch(b + 1, 10 * b, 1e6));
        // [snippet streaming]
        nf::running_moments<N<>, H<>, W<>> stats; // per channel: reduces N, H and W
        for (const auto& batch : batches) stats.add(batch);
        std::vector<double> mean = stats.mean();                  // per channel
        std::vector<double> variance = stats.unbiased_variance(); // or variance(): biased
        // [/snippet]
        std::vector<double> want_mean, want_var;
        plain_stats(batches, want_mean, want_var);
        for (std::size_t c = 0; c < 3; ++c) {
            expect(std::abs(mean[c] - want_mean[c]) < 1e-9 * std::abs(want_mean[c]),
                   "streaming mean");
            expect(std::abs(variance[c] - want_var[c]) < 1e-9 * want_var[c], "streaming variance");
        }

        // Micro-batches (gradient accumulation): statistics merge in any order.
        const auto& first = batches[0];
        const auto& second = batches[1];
        // [snippet merge]
        nf::moments_state a = nf::moments_state_of<N, H, W>(first);
        nf::moments_state b = nf::moments_state_of<N, H, W>(second);
        nf::moments_state both = nf::merge(a, b); // as if first and second were one batch
        double mean0 = both.mean(0), var0 = both.variance(0);
        std::uint64_t count0 = both.count(0);
        // [/snippet]
        plain_stats({first, second}, want_mean, want_var);
        expect(count0 == 60, "merged count");
        expect(std::abs(mean0 - want_mean[0]) < 1e-9 * std::abs(want_mean[0]), "merged mean");
        expect(std::abs(var0 * 60 / 59 - want_var[0]) < 1e-9 * want_var[0], "merged variance");
    }

    // A batch of 10 split over the ranks unevenly (rank r has r + 1 samples, the last the rest).
    const std::size_t total = 10;
    std::size_t first_sample = 0, mine = 0;
    for (int r = 0; r <= rank; ++r) {
        first_sample += mine;
        mine = r == ranks - 1 ? total - first_sample
                              : std::min<std::size_t>(std::size_t(r) + 1, total - first_sample);
    }
    const nf::tensor<float, nchw> shard = make_batch(mine, first_sample, 0.0);
    nf::tensor<float, nchw> y({mine, 3, 4, 5});
    {
        // [snippet sync]
        nf::nn::sync_batch_norm2d<float> bn(3, MPI_COMM_WORLD); // every rank, at the same point
        bn.forward(shard, y); // training: normalized with the statistics of every rank's shard
        bn.forward(shard, y); // (a collective call: every rank makes it)
        bn.eval();
        bn.forward(shard, y); // eval: the running statistics, no communication
        // [/snippet]

        // The same as nn::batch_norm2d on the whole batch in one process.
        const nf::tensor<float, nchw> whole = make_batch(total, 0, 0.0);
        nf::tensor<float, nchw> want({total, 3, 4, 5});
        nf::nn::batch_norm2d<float> single(3);
        single.forward(whole, want);
        single.forward(whole, want);
        single.eval();
        single.forward(whole, want);
        for (std::size_t i = 0; i < y.size(); ++i)
            expect(std::abs(y.data()[i] - want.data()[first_sample * 60 + i]) < 1e-5f,
                   "sync_batch_norm2d output");
        for (std::size_t c = 0; c < 3; ++c) {
            expect(bn.running_mean().data()[c] == single.running_mean().data()[c], "running_mean");
            expect(std::abs(bn.running_var().data()[c] - single.running_var().data()[c]) <= 1e-6f,
                   "running_var");
        }
    }
    {
        // [snippet allreduce]
        nf::moments_state s = nf::moments_state_of<N, H, W>(shard); // this rank's shard
        nf::mpi::allreduce(s, MPI_COMM_WORLD); // every rank: the statistics of the whole batch
        // [/snippet]
        std::vector<double> want_mean, want_var;
        plain_stats({make_batch(total, 0, 0.0)}, want_mean, want_var);
        for (std::size_t c = 0; c < 3; ++c) {
            expect(s.count(c) == 200, "allreduce count");
            expect(std::abs(s.mean(c) - want_mean[c]) < 1e-12 * (1 + std::abs(want_mean[c])),
                   "allreduce mean");
            expect(std::abs(s.unbiased_variance(c) - want_var[c]) < 1e-12 * want_var[c],
                   "allreduce variance");
        }
    }
    int all_failures = failures;
    MPI_Allreduce(&failures, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        std::cout << "distributed statistics on " << ranks << " ranks: " << all_failures
                  << " failures\n";
    MPI_Finalize();
    return all_failures == 0 ? 0 : 1;
}
