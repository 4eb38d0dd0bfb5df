// Runtime tests of the threading design (eval/parallel.hpp, issue 16 "threads that compose", and
// issue 15 defect 10): the caller's own parallel-for per scope and per process, what
// nf::set_num_threads reports with and without OpenMP, exceptions thrown inside a parallel loop,
// no nested parallelism, and no more helper threads than nf::num_threads() - 1 for application
// threads that call the library at the same time.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;

namespace {

float input_value(std::size_t i) {
    return static_cast<float>(static_cast<int>((i * 7919) % 211) - 105) / 16.0f + 0.5f * static_cast<float>(i % 13);
}

/// A parallel-for as an application might write one: one std::thread per item but the first,
/// which the calling thread runs. Counts its calls and the items it was given.
struct spawning_for {
    std::atomic<int>* calls;
    std::atomic<std::size_t>* items;
    void operator()(std::size_t begin, std::size_t end, nf::parallel_body body) const {
        calls->fetch_add(1);
        items->fetch_add(end - begin);
        std::vector<std::thread> threads;
        for (std::size_t k = begin + 1; k < end; ++k) threads.emplace_back([body, k] { body(k, k + 1); });
        if (begin < end) body(begin, begin + 1);
        for (auto& t : threads) t.join();
    }
};

/// Restores the thread count and the process-wide parallel-for when a test ends.
struct restore_threads {
    int before = nf::num_threads();
    ~restore_threads() {
        nf::set_parallel_for({});
        nf::set_num_threads(before);
    }
};

using nl = nf::shape<N<>, L<>>;
using ngkhw = nf::shape<N<>, G<>, K<>, H<>, W<>>;

template <class X>
std::vector<float> values_of(const X& x) {
    return std::vector<float>(x.data(), x.data() + x.size());
}

/// Three kinds of threaded loops: one loop nest (element-wise), row-local reductions in place
/// (a group norm written in the DSL), a layer's blocks of rows (layer_norm over L of (N, L)).
std::vector<std::vector<float>> workload() {
    std::vector<std::vector<float>> out;
    nf::tensor<float, nl> a({64, 3001});
    for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = input_value(i);
    nf::tensor<float, nl> y({64, 3001});
    y = a * 2.0f + 1.0f;
    out.push_back(values_of(y));

    const std::array<std::size_t, 5> e{15, 17, 8, 9, 18};
    nf::tensor<float, ngkhw> x(nf::extents<ngkhw>::from_all(e));
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = input_value(i);
    x = (x - nf::mean<K, H, W>(x)) * nf::rsqrt(nf::var<K, H, W>(x) + 1e-5f);
    out.push_back(values_of(x));

    nf::nn::layer_norm<float, nf::shape<L<>>> ln({3001});
    ln(a, nf::nn::in_place);
    out.push_back(values_of(a));
    return out;
}

bool bit_identical(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
        if (a[k].size() != b[k].size() || std::memcmp(a[k].data(), b[k].data(), a[k].size() * sizeof(float)) != 0)
            return false;
    return true;
}

} // namespace

TEST_CASE("threads: a scoped parallel-for runs every threaded loop, with the serial results", "[threads]") {
    restore_threads restore;
    nf::set_num_threads(1);
    const auto serial = workload();
    std::atomic<int> calls{0};
    std::atomic<std::size_t> items{0};
    {
        nf::scoped_parallel_for pool(spawning_for{&calls, &items}, 3);
        CHECK(nf::num_threads() == 3);
        const auto pooled = workload();
        CHECK(bit_identical(serial, pooled));
    }
    // One call per top-level loop (the boxes and rows inside a piece run serially): at least one
    // per part of the workload, each with at most 3 items.
    CHECK(calls.load() >= 3);
    CHECK(items.load() <= 3 * static_cast<std::size_t>(calls.load()));
    CHECK(nf::num_threads() == 1); // the scope ended
    const int before = calls.load();
    workload();
    CHECK(calls.load() == before);
}

TEST_CASE("threads: a process-wide parallel-for works with or without OpenMP", "[threads]") {
    restore_threads restore;
    nf::set_num_threads(1);
    const auto serial = workload();
    std::atomic<int> calls{0};
    std::atomic<std::size_t> items{0};
    nf::set_parallel_for(spawning_for{&calls, &items});
    CHECK(nf::set_num_threads(2) == 2);
    CHECK(nf::num_threads() == 2);
    const auto pooled = workload();
    CHECK(bit_identical(serial, pooled));
    CHECK(calls.load() >= 3);
    // Another application thread uses it too.
    std::thread other([&] { CHECK(bit_identical(serial, workload())); });
    other.join();
    nf::set_parallel_for({});
}

TEST_CASE("threads: set_num_threads reports what it can do", "[threads]") {
    restore_threads restore;
    const int got = nf::set_num_threads(4);
#if defined(_OPENMP)
    // With OpenMP the default runs the threads.
    CHECK(got == 4);
    CHECK(nf::num_threads() == 4);
#else
    // Without OpenMP and without a parallel-for there is nothing to run threads with: it says so.
    CHECK(got == 1);
    CHECK(nf::num_threads() == 1);
#endif
    CHECK(nf::set_num_threads(0) == 1); // at least one
    {
        nf::scoped_parallel_for serial_here({}, 1);
        nf::set_num_threads(4);
        CHECK(nf::num_threads() == 1); // the scope decides on this thread
    }
}

TEST_CASE("threads: an exception inside a parallel loop reaches the caller", "[threads]") {
    restore_threads restore;
    nf::set_num_threads(2);
    std::atomic<int> calls{0};
    std::atomic<std::size_t> items{0};
    auto throw_in_piece_one = [](std::size_t piece) {
        if (piece == 1) throw std::bad_alloc();
    };
    {
        // The library's default executor: OpenMP when compiled with it, else serial.
        nf::detail::executor ex(std::size_t{1} << 20);
        INFO("pieces: " << ex.pieces());
#if defined(_OPENMP)
        CHECK(ex.pieces() == 2);
        CHECK_THROWS_AS(ex.run(throw_in_piece_one), std::bad_alloc);
#else
        CHECK(ex.pieces() == 1);
#endif
    }
    {
        nf::scoped_parallel_for pool(spawning_for{&calls, &items}, 2);
        nf::detail::executor ex(std::size_t{1} << 20);
        CHECK(ex.pieces() == 2);
        CHECK_THROWS_AS(ex.run(throw_in_piece_one), std::bad_alloc);
        CHECK(calls.load() == 1);
        // The blocks of a blocked evaluation or of a layer: the same.
        CHECK_THROWS_AS(nf::detail::for_each_block(8,
                                                   [](std::size_t k) {
                                                       if (k == 5) throw std::runtime_error("block 5");
                                                   }),
                        std::runtime_error);
    }
}

TEST_CASE("threads: a loop started inside a piece of another runs serially", "[threads]") {
    restore_threads restore;
    std::atomic<int> calls{0};
    std::atomic<std::size_t> items{0};
    nf::scoped_parallel_for pool(spawning_for{&calls, &items}, 2);
    std::atomic<std::size_t> inner_pieces{0};
    nf::detail::executor outer(std::size_t{1} << 20);
    REQUIRE(outer.pieces() == 2);
    outer.run([&](std::size_t) {
        nf::detail::executor inner(std::size_t{1} << 20);
        inner_pieces.fetch_add(inner.pieces());
    });
    CHECK(inner_pieces.load() == 2); // one each
    CHECK(calls.load() == 1);
}

#if defined(_OPENMP)
TEST_CASE("threads: application threads calling at the same time share one budget of helper threads", "[threads]") {
    // Two application workers, each assigning in a loop with nf::set_num_threads(2) on a 2-core
    // machine: the library adds at most one helper thread between them (before: one each, and an
    // OpenMP team per worker). Counted as the most pieces of the default executor running at once.
    restore_threads restore;
    nf::set_num_threads(2);
    auto& st = nf::detail::threads_state();
    st.peak_pieces.store(0);
    const auto tasks_before =
        std::distance(std::filesystem::directory_iterator("/proc/self/task"), std::filesystem::directory_iterator{});
    std::atomic<bool> wrong{false};
    auto worker = [&] {
        // Pieces long enough to overlap in time with the other worker's (the library's loops on
        // this data take microseconds; the executor is the one they use).
        for (int r = 0; r < 4; ++r) {
            nf::detail::executor ex(std::size_t{1} << 20);
            ex.run([](std::size_t) { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
        }
        nf::tensor<float, nl> a({64, 8192}), y({64, 8192});
        for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = input_value(i);
        for (int r = 0; r < 100; ++r) {
            y = a * 2.0f + 1.0f;
            for (std::size_t i = 0; i < y.size(); i += 997)
                if (y.data()[i] != a.data()[i] * 2.0f + 1.0f) wrong = true;
        }
    };
    std::thread w1(worker), w2(worker);
    w1.join();
    w2.join();
    const auto tasks_after =
        std::distance(std::filesystem::directory_iterator("/proc/self/task"), std::filesystem::directory_iterator{});
    CHECK_FALSE(wrong.load());
    INFO("OS threads of the process before " << tasks_before << ", after " << tasks_after);
    INFO("most pieces at once: " << st.peak_pieces.load());
    CHECK(st.peak_pieces.load() <= 2);   // never two teams of two at once
    CHECK(st.extras_in_use.load() == 0); // every helper returned
}

TEST_CASE("threads: inside the application's own OpenMP region the library runs serially", "[threads]") {
    restore_threads restore;
    nf::set_num_threads(2);
    std::atomic<std::size_t> pieces{0};
#pragma omp parallel num_threads(2)
    {
        nf::detail::executor ex(std::size_t{1} << 20);
        pieces.fetch_add(ex.pieces());
    }
    CHECK(pieces.load() == static_cast<std::size_t>(omp_get_max_threads() >= 2 ? 2 : 1));
}
#endif
