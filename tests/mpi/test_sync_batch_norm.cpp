// nn::sync_batch_norm and nf::mpi::allreduce(moments_state) under mpirun with any number of ranks
// (CTest runs 1, 2, 3 and 4). Every rank builds the whole batch from a seed, takes its own shard
// (uneven: a batch of 10 over 3 ranks is 5/4/1, over 4 ranks 4/0/5/1 with an empty shard), and
// compares its output and running statistics after two training steps and an eval step with those
// of nn::batch_norm on the whole batch in one process: NCHW, NHWC, NC, NCL, NLC, NCDHW and NDHWC,
// float and double, offsets 0 and 1e6 with a different mean on every rank. The running statistics
// must be the same bits on every rank. Faults: a rank with another channel count, a rank whose
// output is wrong, one value per channel in the whole batch: every rank throws, nothing written
// (a hang would exceed the CTest TIMEOUT). Rank 0 prints the largest differences measured.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/mpi/moments.hpp>
#include <normfuse/mpi/sync_batch_norm.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/reduce/merge.hpp>

using namespace nf::axes;

namespace {

int rank = 0, ranks = 1;
long checks = 0, failures = 0;

void check(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "rank %d: FAILED: %s\n", rank, what.c_str());
    }
}

/// The largest |sync - single process| / max(|single process|, 1) of the outputs, per offset kind.
struct measured {
    double output_offset0 = 0, output_offset1e6 = 0, running = 0;
    double exact_offset0 = 0, exact_offset1e6 = 0; // training output vs a float64 computation
};
measured worst;

/// Deterministic uniform numbers in [0, 1) (splitmix64 of an index), the same on every rank.
double uniform(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + i * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

template <class T>
constexpr double unit = std::is_same_v<T, float> ? 0x1.0p-24 : 0x1.0p-53;

template <class T>
double ulp(double v) {
    const T a = static_cast<T>(std::abs(v));
    return static_cast<double>(std::nextafter(a, std::numeric_limits<T>::infinity()) - a);
}

/// The batch split over the ranks: `total` samples, rank r gets split[r] of them.
std::vector<std::size_t> split_of(std::size_t total, bool all_on_first) {
    std::vector<std::size_t> s(static_cast<std::size_t>(ranks), 0);
    if (all_on_first) {
        s[0] = total;
        return s;
    }
    switch (ranks) {
    case 1:
        s = {total};
        break;
    case 2:
        s = {total - total / 3, total / 3};
        break; // 10: 7/3
    case 3:
        s = {total / 2, total - total / 2 - 1, 1};
        break; // 10: 5/4/1
    case 4:
        s = {4 * total / 10, 0, total - 4 * total / 10 - 1, 1};
        break; // 10: 4/0/5/1
    default:
        for (std::size_t i = 0; i < total; ++i) ++s[i % s.size()];
    }
    return s;
}

/// Extents of shape S in its axis order: N = n, C = c, the others from `spatial` by name.
template <class S>
nf::extents<S> extents_of(std::size_t n, std::size_t c, std::size_t d, std::size_t h, std::size_t w, std::size_t l) {
    constexpr auto names = nf::extents<S>::names();
    std::array<std::size_t, names.size()> e{};
    for (std::size_t i = 0; i < names.size(); ++i)
        e[i] = names[i] == "N"   ? n
               : names[i] == "C" ? c
               : names[i] == "D" ? d
               : names[i] == "H" ? h
               : names[i] == "W" ? w
                                 : l;
    return nf::extents<S>::from_all(e);
}

/// The index of axis C in S and its stride (row-major).
template <class S>
std::size_t channel_of(const nf::extents<S>& e, std::size_t i) {
    constexpr auto names = nf::extents<S>::names();
    std::size_t stride = 1;
    for (std::size_t j = names.size(); j-- > 0;) {
        if (names[j] == "C") return (i / stride) % e.values()[j];
        stride *= e.values()[j];
    }
    return 0;
}

/// The whole batch of a step: sample n belongs to rank owner[n], whose data have the mean
/// offset + 5 * owner (when per_rank_means) + channel, spread 1 + c / 2.
template <class T, class S>
nf::tensor<T, S> whole_batch(const nf::extents<S>& e, const std::vector<std::size_t>& split, double offset,
                             bool per_rank_means, std::uint64_t seed) {
    nf::tensor<T, S> x(e);
    const std::size_t n = e.values()[0], row = n ? x.size() / n : 0; // N is the first axis
    std::vector<std::size_t> owner;
    for (std::size_t r = 0; r < split.size(); ++r) owner.insert(owner.end(), split[r], r);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double c = static_cast<double>(channel_of(e, i));
        const double shift = per_rank_means ? 5.0 * static_cast<double>(owner[i / row]) : 0.0;
        x.data()[i] = static_cast<T>(offset + shift + c + (1 + c / 2) * (uniform(seed, i) - 0.5));
    }
    return x;
}

template <class T>
std::vector<double> values_of(const nf::tensor<T, nf::shape<C<>>>& v) {
    return std::vector<double>(v.data(), v.data() + v.size());
}

/// Checks that a per-channel vector is the same bits on every rank.
template <class T>
void check_same_everywhere(const nf::tensor<T, nf::shape<C<>>>& v, const std::string& what) {
    std::vector<double> lo = values_of(v), hi = lo;
    MPI_Allreduce(MPI_IN_PLACE, lo.data(), static_cast<int>(lo.size()), MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, hi.data(), static_cast<int>(hi.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    check(lo == hi, what + ": the same on every rank");
}

/// One case: a layout S of a Dims-d BatchNorm, two training steps and an eval step.
template <class T, std::size_t Dims, class S>
void layout_case(const std::string& name, std::size_t total, std::size_t c, double offset, bool per_rank_means,
                 bool all_on_first, nf::nn::batch_norm_options options = {}) {
    const std::string label = name + (std::is_same_v<T, float> ? " float" : " double") + " offset " +
                              std::to_string(offset) + (all_on_first ? " (all on rank 0)" : "") + ": ";
    const auto split = split_of(total, all_on_first);
    std::size_t first = 0;
    for (int r = 0; r < rank; ++r) first += split[static_cast<std::size_t>(r)];
    const std::size_t mine = split[static_cast<std::size_t>(rank)];
    const std::size_t d = 2, h = 3, w = 4, l = 7;
    const auto whole_e = extents_of<S>(total, c, d, h, w, l);
    const auto shard_e = extents_of<S>(mine, c, d, h, w, l);

    nf::nn::batch_norm<T, Dims> single(c, options);
    nf::nn::sync_batch_norm<T, Dims> sync(c, MPI_COMM_WORLD, options);
    if (options.affine)
        for (std::size_t ch = 0; ch < c; ++ch) {
            single.weight().data()[ch] = sync.weight().data()[ch] =
                static_cast<T>(0.5 + 0.25 * static_cast<double>(ch));
            single.bias().data()[ch] = sync.bias().data()[ch] = static_cast<T>(0.1 * static_cast<double>(ch) - 0.2);
        }

    auto step = [&](std::uint64_t seed, const char* what) {
        const auto x = whole_batch<T>(whole_e, split, offset, per_rank_means, seed);
        nf::tensor<T, S> y(whole_e);
        single.forward(x, y);
        const std::size_t row = total ? x.size() / total : 0;
        const nf::view<const T, S> xs(x.data() + first * row, shard_e);
        nf::tensor<T, S> ys(shard_e);
        sync.forward(xs, ys);
        double scale = 1, err = 0;
        for (std::size_t i = 0; i < ys.size(); ++i)
            scale = std::max(scale, std::abs(double(y.data()[first * row + i])));
        for (std::size_t i = 0; i < ys.size(); ++i)
            err = std::max(err, std::abs(double(ys.data()[i]) - double(y.data()[first * row + i])));
        // Both are within 8 units of T of the exact result (see tests/support/test_layers_util.hpp,
        // output_tolerance: coefficients rounded once each, three roundings of the evaluation), each
        // with its own shift: 16 units of max |output| apart at most (64 for double, whose
        // statistics' summation order also differs).
        const double tol = (std::is_same_v<T, float> ? 16.0 : 64.0) * unit<T> * scale;
        check(err <= tol, label + what + " output: max error " + std::to_string(err) + " > " + std::to_string(tol));
        if (std::is_same_v<T, float>) {
            double& slot = std::abs(offset) > 1 ? worst.output_offset1e6 : worst.output_offset0;
            slot = std::max(slot, err / scale);
        }
        if (sync.training()) {
            // Against a float64 computation on the whole batch (two passes in long double): the
            // merge must keep the accuracy of the shifted one-read statistics, within the 8 units
            // of output_tolerance's analysis (checked at 16, as nn::batch_norm's own tests do).
            // Sums of x - k, k the channel's first value: x - k is exact in long double, so the
            // reference keeps its 64-bit precision relative to the spread at offset 1e6 (plain sums
            // of x would lose 1e-11 to the offset, more than double data's own error).
            std::vector<long double> shift(c, 0), sum(c, 0), sq(c, 0);
            std::vector<double> count(c, 0);
            for (std::size_t i = 0; i < x.size(); ++i) {
                const std::size_t ch = channel_of(whole_e, i);
                if (count[ch] == 0) shift[ch] = x.data()[i];
                sum[ch] += x.data()[i] - shift[ch];
                ++count[ch];
            }
            for (std::size_t i = 0; i < x.size(); ++i) {
                const std::size_t ch = channel_of(whole_e, i);
                const long double d = (x.data()[i] - shift[ch]) - sum[ch] / count[ch];
                sq[ch] += d * d;
            }
            double exact_err = 0;
            for (std::size_t i = 0; i < ys.size(); ++i) {
                const std::size_t ch = channel_of(shard_e, i);
                const long double centered = sum[ch] / count[ch], var = sq[ch] / count[ch];
                const long double w = options.affine ? single.weight().data()[ch] : 1.0L;
                const long double b = options.affine ? single.bias().data()[ch] : 0.0L;
                const long double want = ((xs.data()[i] - shift[ch]) - centered) / std::sqrt(var + options.eps) * w + b;
                exact_err = std::max(exact_err, static_cast<double>(std::fabs(ys.data()[i] - want)));
            }
            check(exact_err <= tol, label + what + " output vs float64: max error " +
                                        std::to_string(exact_err / scale / unit<T>) + " units" +
                                        " of max(|output|, 1)");
            if (std::is_same_v<T, float>) {
                double& slot = std::abs(offset) > 1 ? worst.exact_offset1e6 : worst.exact_offset0;
                slot = std::max(slot, exact_err / scale);
            }
        }
        if (options.track_running_stats) {
            double data_scale = 1;
            for (std::size_t i = 0; i < x.size(); ++i) data_scale = std::max(data_scale, std::abs(double(x.data()[i])));
            auto cmp = [&](const auto& got, const auto& want, const char* stat) {
                for (std::size_t ch = 0; ch < c; ++ch) {
                    const double g = got.data()[ch], v = want.data()[ch];
                    // nn::batch_norm's running tolerance (2 ulps of T, summation error of double).
                    const double tol2 = 2 * ulp<T>(v) + 64 * 0x1.0p-53 * std::max(data_scale, std::abs(v));
                    check(std::abs(g - v) <= tol2, label + what + " " + stat + "[" + std::to_string(ch) +
                                                       "]: " + std::to_string(g) + " vs " + std::to_string(v));
                    if (std::is_same_v<T, float>) worst.running = std::max(worst.running, std::abs(g - v) / ulp<T>(v));
                }
            };
            cmp(sync.running_mean(), single.running_mean(), "running_mean");
            cmp(sync.running_var(), single.running_var(), "running_var");
            check_same_everywhere(sync.running_mean(), label + what + " running_mean");
            check_same_everywhere(sync.running_var(), label + what + " running_var");
        }
        check(sync.num_batches_tracked() == single.num_batches_tracked(), label + what + " num_batches_tracked");
    };
    step(1, "step 1");
    step(2, "step 2");
    if (options.track_running_stats) {
        single.eval();
        sync.eval();
        step(3, "eval");
    }
}

template <class T>
void layout_cases(double offset, bool per_rank_means, bool all_on_first) {
    using nchw = nf::shape<N<>, C<>, H<>, W<>>;
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    using nc = nf::shape<N<>, C<>>;
    using ncl = nf::shape<N<>, C<>, L<>>;
    using nlc = nf::shape<N<>, L<>, C<>>;
    using ncdhw = nf::shape<N<>, C<>, D<>, H<>, W<>>;
    using ndhwc = nf::shape<N<>, D<>, H<>, W<>, C<>>;
    layout_case<T, 2, nchw>("NCHW", 10, 3, offset, per_rank_means, all_on_first);
    layout_case<T, 2, nhwc>("NHWC", 10, 5, offset, per_rank_means, all_on_first);
    layout_case<T, 1, nc>("NC", 10, 3, offset, per_rank_means, all_on_first);
    layout_case<T, 1, ncl>("NCL", 10, 4, offset, per_rank_means, all_on_first);
    layout_case<T, 1, nlc>("NLC", 10, 17, offset, per_rank_means, all_on_first);
    layout_case<T, 3, ncdhw>("NCDHW", 10, 2, offset, per_rank_means, all_on_first);
    layout_case<T, 3, ndhwc>("NDHWC", 10, 3, offset, per_rank_means, all_on_first);
    // More channels than the merge's stack buffer holds (256): the statistics go through the heap.
    layout_case<T, 1, nc>("NC, 300 channels", 10, 300, offset, per_rank_means, all_on_first);
}

/// Runs `f` and returns the text of what it threw ("" when nothing), checking the type.
template <class E, class F>
std::string thrown(F&& f, const std::string& what) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        check(false, what + ": threw the wrong type: " + e.what());
        return e.what();
    }
    check(false, what + ": did not throw");
    return "";
}

using nchw = nf::shape<N<>, C<>, H<>, W<>>;

/// A layer whose type fixes C (sync_batch_norm2d<float, 3>) on channels-last data with a static C.
void static_channels_case() {
    using nhwc3 = nf::shape<N<>, H<>, W<>, C<3>>;
    const std::size_t total = 7, first = static_cast<std::size_t>(rank) * total / static_cast<std::size_t>(ranks),
                      end = static_cast<std::size_t>(rank + 1) * total / static_cast<std::size_t>(ranks);
    nf::tensor<float, nhwc3> x({total, 2, 5}), y({total, 2, 5}), ys({end - first, 2, 5});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(3 * uniform(12, i) + double(i % 3));
    nf::nn::batch_norm2d<float, 3> single;
    nf::nn::sync_batch_norm2d<float, 3> sync(MPI_COMM_WORLD);
    single.forward(x, y);
    const std::size_t row = x.size() / total;
    sync.forward(nf::view<const float, nhwc3>(x.data() + first * row, {end - first, 2, 5}), ys);
    double err = 0, scale = 1;
    for (std::size_t i = 0; i < ys.size(); ++i) {
        err = std::max(err, std::abs(double(ys.data()[i]) - double(y.data()[first * row + i])));
        scale = std::max(scale, std::abs(double(y.data()[first * row + i])));
    }
    check(err <= 16 * unit<float> * scale, "static C: output"); // as in layout_case
    for (std::size_t c = 0; c < 3; ++c)
        check(std::abs(sync.running_var().data()[c] - single.running_var().data()[c]) <=
                  2 * ulp<float>(single.running_var().data()[c]),
              "static C: running_var");
}

/// Faults: every rank throws, no output written, no running statistic changed.
void fault_cases() {
    const float sentinel = -7.0f;
    // A rank with another channel count (the last one, with 2 ranks or more).
    {
        const std::size_t c = ranks > 1 && rank == ranks - 1 ? 4 : 3;
        nf::nn::sync_batch_norm2d<float> bn(c, MPI_COMM_WORLD);
        nf::tensor<float, nchw> x({2, c, 3, 3}), y({2, c, 3, 3}, sentinel);
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(uniform(9, i));
        if (ranks > 1) {
            const std::string msg = thrown<nf::extent_error>([&] { bn.forward(x, y); }, "channel mismatch");
            check(msg.find("the ranks have between 3 and 4 channels") != std::string::npos,
                  "channel mismatch message: " + msg);
            check(std::all_of(y.data(), y.data() + y.size(), [&](float v) { return v == sentinel; }),
                  "channel mismatch: nothing written");
            check(bn.num_batches_tracked() == 0 && bn.running_mean().data()[0] == 0 && bn.running_var().data()[0] == 1,
                  "channel mismatch: running statistics unchanged");
        }
        // The layer still works afterwards: the same channel count everywhere.
        nf::nn::sync_batch_norm2d<float> ok(3, MPI_COMM_WORLD);
        nf::tensor<float, nchw> x3({2, 3, 3, 3}), y3({2, 3, 3, 3});
        for (std::size_t i = 0; i < x3.size(); ++i) x3.data()[i] = static_cast<float>(uniform(10, i));
        ok.forward(x3, y3);
        check(ok.num_batches_tracked() == 1, "after a fault: a forward works");
    }
    // A rank whose own input is rejected (an output of other extents on rank 0): that rank throws
    // its error, the others a runtime_error naming rank 0.
    {
        nf::nn::sync_batch_norm2d<float> bn(3, MPI_COMM_WORLD);
        nf::tensor<float, nchw> x({2, 3, 3, 3}), y({2, 3, 3, rank == 0 ? 2u : 3u}, sentinel);
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(uniform(11, i));
        if (rank == 0) {
            const std::string msg = thrown<nf::extent_error>([&] { bn.forward(x, y); }, "rejected output on rank 0");
            check(msg.find("nn::sync_batch_norm") != std::string::npos, "rank 0's own message: " + msg);
        } else {
            const std::string msg = thrown<std::runtime_error>([&] { bn.forward(x, y); }, "rank 0 rejected");
            check(msg.find("rank 0 rejected its input") != std::string::npos, "rejection message: " + msg);
        }
        check(std::all_of(y.data(), y.data() + y.size(), [&](float v) { return v == sentinel; }),
              "rejected input: nothing written");
        check(bn.num_batches_tracked() == 0 && bn.running_mean().data()[0] == 0, "rejected input: state unchanged");
        // The same layer, called right on every rank, works.
        nf::tensor<float, nchw> good({2, 3, 3, 3});
        bn.forward(x, good);
        check(bn.num_batches_tracked() == 1 && bn.running_mean().data()[0] != 0, "after a rejection: a forward works");
    }
    // One value per channel in the whole batch (N = 1 on the last rank, 0 elsewhere): every rank
    // throws std::invalid_argument, as nn::batch_norm on the whole batch.
    {
        using nc = nf::shape<N<>, C<>>;
        nf::nn::sync_batch_norm1d<float> bn(3, MPI_COMM_WORLD);
        const std::size_t n = rank == ranks - 1 ? 1 : 0;
        nf::tensor<float, nc> x({n, 3}, 1.0f), y({n, 3}, sentinel);
        const std::string msg = thrown<std::invalid_argument>([&] { bn.forward(x, y); }, "one value per channel");
        check(msg.find("nn::sync_batch_norm: expected more than 1 value per channel when training") !=
                  std::string::npos,
              "one value per channel message: " + msg);
        check(std::all_of(y.data(), y.data() + y.size(), [&](float v) { return v == sentinel; }),
              "one value per channel: nothing written");
        check(bn.num_batches_tracked() == 0, "one value per channel: not counted");
        // No value at all: nothing changes but the count, as nn::batch_norm on an empty batch.
        nf::tensor<float, nc> e({0, 3}), ey({0, 3});
        bn.forward(e, ey);
        check(bn.num_batches_tracked() == 1 && bn.running_mean().data()[1] == 0 && bn.running_var().data()[1] == 1,
              "empty batch on every rank: only counted");
    }
    // No channel at all (a layer without affine parameters or running statistics accepts any C).
    {
        nf::nn::batch_norm_options none;
        none.affine = false;
        none.track_running_stats = false;
        nf::nn::sync_batch_norm2d<float> bn(3, MPI_COMM_WORLD, none);
        nf::tensor<float, nchw> x({2, 0, 3, 3}), y({2, 0, 3, 3});
        bn.forward(x, y);
        check(y.size() == 0, "no channel: nothing to do");
    }
    // Eval mode does not communicate: rank 0 alone runs a forward (it would wait for the others
    // forever if it called MPI on the layer's communicator).
    {
        nf::nn::sync_batch_norm2d<float> bn(3, MPI_COMM_WORLD);
        bn.eval();
        nf::tensor<float, nchw> x({1, 3, 2, 2}, 2.0f), y({1, 3, 2, 2});
        if (rank == 0) {
            bn.forward(x, y);
            check(std::abs(y.data()[0] - 2.0f / std::sqrt(1.0f + 1e-5f)) < 1e-6f, "eval output");
            const auto& cbn = bn;
            cbn.forward(x, y); // a const layer in eval mode: inference
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    // MPI errors are reported as nf::mpi::error, not swallowed.
    {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        nf::moments_state s(2);
        const std::string msg =
            thrown<nf::mpi::error>([&] { nf::mpi::allreduce(s, MPI_COMM_NULL); }, "allreduce on MPI_COMM_NULL");
        check(msg.find("MPI_Comm_rank failed") != std::string::npos, "MPI error message: " + msg);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
        thrown<std::invalid_argument>([&] { nf::nn::sync_batch_norm2d<float> bad(3, MPI_COMM_NULL); },
                                      "layer on MPI_COMM_NULL");
    }
}

/// nf::mpi::allreduce of mergeable statistics equals the merge of every rank's, bitwise on every rank.
void allreduce_case() {
    using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
    nf::moments_state all(4);
    nf::moments_state mine;
    for (int r = 0; r < ranks; ++r) {
        const std::size_t n = static_cast<std::size_t>(r % 3); // 0, 1, 2, 0, ...: empty shards too
        nf::tensor<float, nhwc> x({n, 2, 2, 4});
        for (std::size_t i = 0; i < x.size(); ++i)
            x.data()[i] = static_cast<float>(1e6 + 3.0 * r + uniform(static_cast<std::uint64_t>(20 + r), i));
        const auto s = nf::moments_state_of<N, H, W>(x);
        all.merge(s);
        if (r == rank) mine = s;
    }
    nf::mpi::allreduce(mine, MPI_COMM_WORLD);
    for (std::size_t c = 0; c < 4; ++c) {
        check(mine.count(c) == all.count(c), "allreduce count");
        check(std::abs(mine.mean(c) - all.mean(c)) <= 1e-9, "allreduce mean");
        check(std::abs(mine.m2(c) - all.m2(c)) <= 1e-9 * std::max(1.0, all.m2(c)), "allreduce m2");
    }
    std::vector<double> lo(mine.data(), mine.data() + 4 * nf::detail::moments_stride), hi = lo;
    MPI_Allreduce(MPI_IN_PLACE, lo.data(), static_cast<int>(lo.size()), MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, hi.data(), static_cast<int>(hi.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    check(lo == hi, "allreduce: the same bits on every rank");
    // Slot counts that differ: every rank throws.
    if (ranks > 1) {
        nf::moments_state s(rank == 0 ? 3 : 2);
        thrown<nf::extent_error>([&] { nf::mpi::allreduce(s, MPI_COMM_WORLD); }, "allreduce slot mismatch");
    }
}

} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    try {
        for (const bool all_on_first : {false, true}) {
            if (all_on_first && ranks == 1) continue;
            layout_cases<float>(0.0, false, all_on_first);
            layout_cases<float>(1e6, true, all_on_first);
        }
        layout_case<double, 2, nchw>("NCHW", 10, 3, 1e6, true, false);
        layout_case<double, 3, nf::shape<N<>, D<>, H<>, W<>, C<>>>("NDHWC", 10, 3, 1e6, true, false);
        nf::nn::batch_norm_options cumulative;
        cumulative.momentum = std::nullopt;
        layout_case<float, 2, nchw>("NCHW momentum=None", 10, 3, 0.0, true, false, cumulative);
        nf::nn::batch_norm_options plain;
        plain.affine = false;
        plain.track_running_stats = false;
        layout_case<float, 2, nchw>("NCHW no affine, no running stats", 10, 3, 0.0, true, false, plain);
        static_channels_case();
        fault_cases();
        allreduce_case();
    } catch (const std::exception& e) {
        check(false, std::string("unexpected exception: ") + e.what());
    }
    long totals[2] = {checks, failures};
    MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    double w[5] = {worst.output_offset0, worst.output_offset1e6, worst.running, worst.exact_offset0,
                   worst.exact_offset1e6};
    MPI_Allreduce(MPI_IN_PLACE, w, 5, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        std::printf("sync_batch_norm on %d ranks: float output vs nn::batch_norm on the whole batch, max |diff| / "
                    "max(|output|, 1): %.3g at offset 0, %.3g at offset 1e6; running statistics: %.3g ulps\n",
                    ranks, w[0], w[1], w[2]);
        std::printf("sync_batch_norm on %d ranks: float training output vs float64, max |diff| / max(|output|, 1): "
                    "%.3g at offset 0, %.3g at offset 1e6\n",
                    ranks, w[3], w[4]);
        std::printf("%ld checks, %ld failed\n", totals[0], totals[1]);
    }
    MPI_Finalize();
    return totals[1] == 0 ? 0 : 1;
}
