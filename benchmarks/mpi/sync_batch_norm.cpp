// Cost of synchronization: the training forward of nn::sync_batch_norm2d against nn::batch_norm2d
// on the same per-rank shard, and the two MPI_Allreduce of a sync forward alone (3 integers, then
// 4 doubles per channel with the Chan-merge operation). Run under mpirun with any number of ranks:
//   mpirun -np 4 build/gcc/benchmarks/mpi/normfuse_bench_sync_batch_norm
// Each repetition times the three in a rotating order, each after an MPI_Barrier; the table gives
// per variant the median over repetitions of the slowest rank's time (every rank's medians are
// reduced with MPI_MAX), in microseconds. Not part of the test command.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <vector>

#include <normfuse/mpi/communicator.hpp>
#include <normfuse/mpi/moments.hpp>
#include <normfuse/mpi/sync_batch_norm.hpp>
#include <normfuse/nn/batch_norm.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<>, H<>, W<>>;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct shard_shape {
    const char* name;
    std::size_t n, c, h, w;
    int repetitions;
};

} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const std::array<shard_shape, 3> shapes{{{"(4, 64, 14, 14)", 4, 64, 14, 14, 1001},
                                             {"(8, 64, 56, 56)", 8, 64, 56, 56, 201},
                                             {"(8, 256, 28, 28)", 8, 256, 28, 28, 201}}};
    if (rank == 0)
        std::printf("| ranks | shard (N, C, H, W) float | batch_norm2d | sync_batch_norm2d | ratio | 2 allreduces | "
                    "(sync - allreduces) / batch_norm |\n|---|---|---|---|---|---|---|\n");
    for (const auto& s : shapes) {
        nf::tensor<float, nchw> x({s.n, s.c, s.h, s.w}), y({s.n, s.c, s.h, s.w});
        for (std::size_t i = 0; i < x.size(); ++i)
            x.data()[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f + static_cast<float>(rank);
        nf::nn::batch_norm2d<float> bn(s.c);
        nf::nn::sync_batch_norm2d<float> sync(s.c, MPI_COMM_WORLD);
        // The communication of one sync forward, alone, on a communicator of its own.
        const nf::mpi::detail::owned_communicator comm(MPI_COMM_WORLD, "benchmark");
        const nf::mpi::detail::moments_reduction reduction;
        std::vector<double> stats(nf::detail::moments_stride * s.c, 1.0);
        auto communicate = [&] {
            nf::mpi::detail::require_agreement(nf::mpi::detail::agree(comm.get(), false, s.c, "benchmark"), s.c,
                                               "benchmark", "channels");
            reduction.allreduce(stats.data(), s.c, comm.get(), "benchmark");
        };
        std::array<std::vector<double>, 3> times;
        auto timed = [&](int which) {
            MPI_Barrier(MPI_COMM_WORLD);
            const auto t0 = std::chrono::steady_clock::now();
            if (which == 0)
                bn.forward(x, y);
            else if (which == 1)
                sync.forward(x, y);
            else
                communicate();
            const auto t1 = std::chrono::steady_clock::now();
            return std::chrono::duration<double, std::micro>(t1 - t0).count();
        };
        for (int warm = 0; warm < 3; ++warm)
            for (int which = 0; which < 3; ++which) timed(which);
        for (int r = 0; r < s.repetitions; ++r)
            for (int k = 0; k < 3; ++k) {
                const int which = (r + k) % 3;
                times[static_cast<std::size_t>(which)].push_back(timed(which));
            }
        // Per repetition, the slowest rank's time: the others wait for it at the next collective.
        for (auto& t : times)
            MPI_Allreduce(MPI_IN_PLACE, t.data(), static_cast<int>(t.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        const double b = median(times[0]), sy = median(times[1]), c = median(times[2]);
        if (rank == 0)
            std::printf("| %d | %s | %.1f | %.1f | %.3f | %.1f | %.3f |\n", ranks, s.name, b, sy, sy / b, c,
                        (sy - c) / b);
    }
    MPI_Finalize();
    return 0;
}
