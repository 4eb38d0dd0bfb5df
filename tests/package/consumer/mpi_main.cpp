// Uses the installed package's MPI component (find_package(normfuse COMPONENTS mpi), target
// normfuse::mpi), run under mpiexec with 2 ranks: each rank normalizes its shard with
// nn::sync_batch_norm2d, then the merged statistics of the outputs (nf::mpi::allreduce) must be
// those of a normalized batch: mean 0 and variance var / (var + eps) per channel.
#include <normfuse/mpi/moments.hpp>
#include <normfuse/mpi/sync_batch_norm.hpp>

#include <cmath>
#include <cstdio>

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    using namespace nf::axes;
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    bool ok = true;
    {
        nf::nn::sync_batch_norm2d<float> bn(3, MPI_COMM_WORLD);
        const std::size_t n = rank == 0 ? 3 : 1; // uneven shards
        nf::tensor<float, nchw> x({n, 3, 4, 5}), y({n, 3, 4, 5});
        for (std::size_t i = 0; i < x.size(); ++i)
            x.data()[i] = static_cast<float>((i * 7 + static_cast<std::size_t>(rank) * 3) % 11) * 0.5f + 2.0f * rank;
        bn.forward(x, y);
        auto sx = nf::moments_state_of<N, H, W>(x), sy = nf::moments_state_of<N, H, W>(y);
        nf::mpi::allreduce(sx, MPI_COMM_WORLD);
        nf::mpi::allreduce(sy, MPI_COMM_WORLD);
        for (std::size_t c = 0; c < 3; ++c) {
            const double want = sx.variance(c) / (sx.variance(c) + 1e-5);
            if (std::abs(sy.mean(c)) > 1e-5 || std::abs(sy.variance(c) - want) > 1e-5) {
                std::printf("FAILED: rank %d, channel %zu: mean %g, variance %g (want 0, %g)\n", rank, c, sy.mean(c),
                            sy.variance(c), want);
                ok = false;
            }
        }
        if (rank == 0 && ok)
            std::printf("consumer_mpi: sync_batch_norm2d over %llu values per channel: ok\n",
                        static_cast<unsigned long long>(sx.count(0)));
    }
    MPI_Finalize();
    return ok ? 0 : 1;
}
