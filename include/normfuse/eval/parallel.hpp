// normfuse/eval/parallel.hpp: how the evaluator runs on several threads: OpenMP by default, or the caller's own parallel-for.
//
// Every threaded loop of the library (assignments, boxes of blocked assignments, blocks of a
// layer's rows, reductions) cuts its work into `pieces` (at most nf::num_threads()) before it
// starts, prepares each piece's scratch memory on the calling thread, and hands the pieces to an
// executor chosen per call:
//   - inside a piece of another evaluation, or inside an OpenMP parallel region of the
//     application: serial (no nesting, no oversubscription);
//   - a `nf::scoped_parallel_for` alive on the calling thread: its callable and thread count;
//   - a process-wide callable installed with `nf::set_parallel_for`: it, with nf::num_threads();
//   - else, compiled with OpenMP: an OpenMP parallel region, its helper threads taken from a
//     process-wide budget of nf::num_threads() - 1, so that application threads calling the
//     library at the same time add at most that many threads between them (a call that finds the
//     budget spent runs serially);
//   - else serial, and nf::num_threads() reports 1.
// The split of the work into pieces depends on the number of pieces only, never on which thread
// runs which piece: results are the same whatever the executor. An exception thrown in a piece
// (std::bad_alloc, ...) is caught there, the remaining pieces are skipped, and the first one is
// rethrown to the caller after every piece has returned.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace nf {

/// The body of a parallel loop, as the library hands it to a parallel-for: `body(begin, end)`
/// processes the items [begin, end). A non-owning reference, valid during the parallel-for call;
/// it never throws (the library catches its own exceptions and rethrows them after the call).
class parallel_body {
public:
    template <class F>
    explicit parallel_body(F& f) noexcept
        : object_(&f), call_([](void* o, std::size_t b, std::size_t e) { (*static_cast<F*>(o))(b, e); }) {}
    void operator()(std::size_t begin, std::size_t end) const { call_(object_, begin, end); }

private:
    void* object_;
    void (*call_)(void*, std::size_t, std::size_t);
};

/// A parallel-for: `fn(begin, end, body)` must call `body` on disjoint sub-ranges that cover
/// [begin, end) exactly once, on any threads (the calling one included), and return when every
/// call has returned. The library passes [0, pieces) with pieces <= the thread count the callable
/// was installed with; each item is one piece of equal work, so a callable may hand out single
/// items (a thread pool) or let its scheduler split the range (a TBB arena).
using parallel_for_fn = std::function<void(std::size_t begin, std::size_t end, parallel_body body)>;

class scoped_parallel_for;

namespace detail {

struct thread_settings {
    std::atomic<int> requested{1};       // nf::set_num_threads
    std::atomic<int> extras_in_use{0};   // OpenMP helper threads currently lent to evaluations
    std::atomic<bool> has_global{false}; // a process-wide parallel-for is installed
    std::mutex global_mutex;             // guards `global`
    std::shared_ptr<const parallel_for_fn> global;
    // Statistics for the tests: pieces running now and at most, over all executors.
    std::atomic<int> active_pieces{0};
    std::atomic<int> peak_pieces{0};
};
inline thread_settings& threads_state() {
    static thread_settings s;
    return s;
}

/// The innermost nf::scoped_parallel_for alive on this thread (null: none).
inline thread_local const scoped_parallel_for* current_scope = nullptr;
/// True while this thread runs a piece of a parallel evaluation: evaluations started from it run
/// serially.
inline thread_local bool inside_piece = false;

inline bool global_parallel_for_installed() noexcept {
    return threads_state().has_global.load(std::memory_order_acquire);
}

} // namespace detail

/// Installs `fn` on the calling thread for the lifetime of this object (the previous one comes
/// back when it ends): every threaded loop of the library started on this thread cuts its work
/// into at most `threads` pieces and runs them through `fn`. With an empty `fn`, the library's
/// default (OpenMP, when compiled with it) runs them, with at most `threads` threads; a scope with
/// `threads == 1` makes the calls on this thread serial.
class scoped_parallel_for {
public:
    scoped_parallel_for(parallel_for_fn fn, int threads)
        : fn_(std::move(fn)), threads_(threads < 1 ? 1 : threads), previous_(detail::current_scope) {
        detail::current_scope = this;
    }
    ~scoped_parallel_for() { detail::current_scope = previous_; }
    scoped_parallel_for(const scoped_parallel_for&) = delete;
    scoped_parallel_for& operator=(const scoped_parallel_for&) = delete;

    const parallel_for_fn& function() const noexcept { return fn_; }
    int threads() const noexcept { return threads_; }

private:
    parallel_for_fn fn_;
    int threads_;
    const scoped_parallel_for* previous_;
};

/// Installs `fn` for the whole process (an empty `fn` goes back to the default): threaded loops
/// started on threads without a nf::scoped_parallel_for cut their work into at most
/// nf::num_threads() pieces and run them through `fn`. Works with or without OpenMP.
inline void set_parallel_for(parallel_for_fn fn) {
    auto& s = detail::threads_state();
    std::shared_ptr<const parallel_for_fn> p = fn ? std::make_shared<const parallel_for_fn>(std::move(fn)) : nullptr;
    const std::lock_guard<std::mutex> lock(s.global_mutex);
    s.global = std::move(p);
    s.has_global.store(s.global != nullptr, std::memory_order_release);
}

/// The number of threads a threaded loop started now on this thread may use: that of the
/// innermost nf::scoped_parallel_for; else the nf::set_num_threads value when the program is
/// compiled with OpenMP or a process-wide parallel-for is installed; else 1 (nothing to run the
/// threads). A call made from inside a piece of another evaluation or from an OpenMP parallel
/// region runs serially whatever this says.
inline int num_threads() noexcept {
    if (const scoped_parallel_for* s = detail::current_scope) return s->threads();
    const int n = detail::threads_state().requested.load(std::memory_order_relaxed);
#if defined(_OPENMP)
    return n;
#else
    return detail::global_parallel_for_installed() ? n : 1;
#endif
}

/// Sets the number of threads of the library's threaded loops (default 1: serial) and returns
/// nf::num_threads(): the number in effect. Without OpenMP and without a process-wide
/// parallel-for (nf::set_parallel_for) there is nothing to run threads with: it returns 1 (the
/// value is kept, and takes effect once a parallel-for is installed). Results are the same as the
/// serial ones up to the order of additions in reductions.
inline int set_num_threads(int n) noexcept {
    detail::threads_state().requested.store(n < 1 ? 1 : n);
    return num_threads();
}

namespace detail {

/// Evaluations smaller than this many elements run serially.
inline constexpr std::size_t parallel_min_work = std::size_t{1} << 15;

/// The first exception thrown by a piece, kept for the caller.
class first_exception {
public:
    void capture() noexcept {
        if (!taken_.exchange(true)) error_ = std::current_exception();
    }
    bool failed() const noexcept { return taken_.load(std::memory_order_relaxed); }
    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::atomic<bool> taken_{false};
    std::exception_ptr error_;
};

/// Runs the pieces of one threaded loop (see the top of this file). Made per call: chooses the
/// executor and, for OpenMP, takes helper threads from the process budget until it ends.
class executor {
public:
    /// For a loop of about `work` elements (smaller than parallel_min_work: serial).
    explicit executor(std::size_t work) {
        if (inside_piece || work < parallel_min_work) return;
#if defined(_OPENMP)
        if (omp_in_parallel()) return;
#endif
        if (const scoped_parallel_for* s = current_scope) {
            if (s->threads() < 2) return;
            if (s->function()) {
                fn_ = &s->function();
                pieces_ = static_cast<std::size_t>(s->threads());
                return;
            }
            take_openmp(s->threads());
            return;
        }
        auto& st = threads_state();
        const int n = st.requested.load(std::memory_order_relaxed);
        if (n < 2) return;
        if (global_parallel_for_installed()) {
            {
                const std::lock_guard<std::mutex> lock(st.global_mutex);
                global_ = st.global;
            }
            if (global_) {
                fn_ = global_.get();
                pieces_ = static_cast<std::size_t>(n);
                return;
            }
        }
        take_openmp(n);
    }
    ~executor() {
        if (reserved_ > 0) threads_state().extras_in_use.fetch_sub(reserved_);
    }
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    /// How many pieces to cut the loop into (1: it runs serially, on the calling thread).
    std::size_t pieces() const noexcept {
        return pieces_;
    }

    /// Calls `piece(k)` for every k in [0, pieces()), concurrently, and returns when all have
    /// returned; rethrows the first exception one of them threw (the others are then skipped
    /// when they have not started).
    template <class F>
    void run(F&& piece) {
        if (pieces_ == 1) {
            piece(std::size_t{0});
            return;
        }
        first_exception error;
        auto body = [&](std::size_t begin, std::size_t end) {
            const bool was_inside = inside_piece;
            inside_piece = true;
            auto& st = threads_state();
            for (std::size_t k = begin; k < end && !error.failed(); ++k) {
                const int now = st.active_pieces.fetch_add(1) + 1;
                int peak = st.peak_pieces.load();
                while (now > peak && !st.peak_pieces.compare_exchange_weak(peak, now)) {}
                try {
                    piece(k);
                } catch (...) {
                    error.capture();
                }
                st.active_pieces.fetch_sub(1);
            }
            inside_piece = was_inside;
        };
        if (fn_ != nullptr) {
            (*fn_)(0, pieces_, parallel_body(body));
        } else {
#if defined(_OPENMP)
            const std::size_t total = pieces_;
#pragma omp parallel num_threads(static_cast <int>(total))
            {
                const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
                const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
                for (std::size_t k = t; k < total; k += nt) body(k, k + 1);
            }
#else
            body(0, pieces_);
#endif
        }
        error.rethrow();
    }

private:
    /// Takes up to n - 1 helper threads from the process budget: n - 1 helpers at most for all
    /// the evaluations that run at the same time (n: this call's thread count).
    void take_openmp([[maybe_unused]] int n) {
#if defined(_OPENMP)
        auto& st = threads_state();
        int used = st.extras_in_use.load();
        int got = 0;
        do {
            got = (n - 1) - used;
            if (got <= 0) return;
        } while (!st.extras_in_use.compare_exchange_weak(used, used + got));
        reserved_ = got;
        pieces_ = static_cast<std::size_t>(got) + 1;
#endif
    }

    std::size_t pieces_ = 1;
    const parallel_for_fn* fn_ = nullptr;
    std::shared_ptr<const parallel_for_fn> global_;
    int reserved_ = 0;
};

} // namespace detail
} // namespace nf
