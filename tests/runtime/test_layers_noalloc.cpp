// Runtime test that a layer forward into a caller-provided destination allocates nothing once the
// layer has seen an input of that size: nf::nn::batch_norm2d in training and eval on NCHW and NHWC
// [4, 64, 8, 8] (and the other layers, whose headers promise the same).
//
// This file replaces the global operator new/delete of the whole test executable. The replacement
// forwards every call to malloc/free (so it stays correct, and visible to ASan, for every other
// test) and only COUNTS, on the current thread, while a `counting_scope` is alive. Every form is
// replaced (plain, array, aligned, nothrow, sized), so each delete matches its new.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>
#include <normfuse/reduce/reductions.hpp>

#include "support/test_layers_util.hpp"

namespace {

// Constant-initialized and trivially destructible: touching them from operator new neither
// allocates nor runs a TLS initializer.
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
thread_local std::size_t allocated_bytes = 0;

void* allocate(std::size_t n) {
    if (counting) {
        ++allocations;
        allocated_bytes += n;
    }
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* allocate(std::size_t n, std::align_val_t al) {
    if (counting) {
        ++allocations;
        allocated_bytes += n;
    }
    // std::aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t a = std::max(static_cast<std::size_t>(al), sizeof(void*));
    if (void* p = std::aligned_alloc(a, (std::max<std::size_t>(n, 1) + a - 1) / a * a)) return p;
    throw std::bad_alloc();
}

/// Counts the allocations of this thread while alive.
class counting_scope {
public:
    counting_scope() {
        allocations = 0;
        allocated_bytes = 0;
        counting = true;
    }
    ~counting_scope() { counting = false; }
    counting_scope(const counting_scope&) = delete;
    counting_scope& operator=(const counting_scope&) = delete;
    std::size_t count() const { return allocations; }
    std::size_t bytes() const { return allocated_bytes; }
};

} // namespace

void* operator new(std::size_t n) {
    return allocate(n);
}
void* operator new[](std::size_t n) {
    return allocate(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return allocate(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return allocate(n, a);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try {
        return allocate(n, a);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try {
        return allocate(n, a);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}

using namespace nf::axes;

namespace {

using nchw = nf::shape<N<>, C<>, H<>, W<>>;
using nhwc = nf::shape<N<>, H<>, W<>, C<>>;

template <class T, class S>
nf::tensor<T, S> data_like(const nf::extents<S>& e) {
    nf::tensor<T, S> x(e);
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>((i * 7919) % 257) / T(37) + T(3);
    return x;
}

/// Allocations made by `f()`.
template <class F>
std::size_t allocations_of(F&& f) {
    counting_scope scope;
    f();
    return scope.count();
}

template <class S>
nf::extents<S> extents_4x64x8x8() {
    if constexpr (std::is_same_v<S, nchw>)
        return nf::extents<S>({4, 64, 8, 8});
    else
        return nf::extents<S>({4, 8, 8, 64});
}

} // namespace

TEST_CASE("noalloc: the counting operator new sees allocations in a counting scope only", "[layers][noalloc]") {
    // Without this, a broken hook would make every test below pass vacuously.
    CHECK(allocations_of([] { auto p = std::make_unique<int>(1); }) == 1);
    CHECK(allocations_of([] { auto p = std::make_unique<double[]>(3); }) == 1);
    CHECK(allocations_of([] { nf::tensor<float, nchw> t({1, 2, 3, 4}); }) == 1); // aligned new
    CHECK(allocations_of([] {}) == 0);
    auto outside = std::make_unique<int>(2); // not counted: no scope
    CHECK(allocations_of([] {}) == 0);
}

TEMPLATE_TEST_CASE("noalloc: batch_norm2d forward into a caller-provided destination, after the first call",
                   "[layers][noalloc]", float, double) {
    using T = TestType;
    auto run = [&]<class S>(S*) {
        const auto x = data_like<T, S>(extents_4x64x8x8<S>());
        nf::tensor<T, S> y(x.extents());
        nf_layers::unaligned_buffer<T> user(x.size(), 1);
        const nf::view<T, S> yv(user.data(), x.extents());

        nf::nn::batch_norm2d<T> bn(64);
        bn.forward(x, y); // a first call (the layer keeps no buffers: see the const tests below)
        CHECK(allocations_of([&] { bn.forward(x, y); }) == 0);
        CHECK(allocations_of([&] { bn.forward(x, yv); }) == 0);
        CHECK(allocations_of([&] { bn(y, nf::nn::in_place); }) == 0);
        CHECK(bn.num_batches_tracked() == 4);
        bn.eval();
        CHECK(allocations_of([&] { bn.forward(x, y); }) == 0);
        CHECK(allocations_of([&] { bn.forward(x, yv); }) == 0);

        // Batch statistics in eval (no running stats), and the momentum=None path.
        nf::nn::batch_norm2d<T> plain(64, {.momentum = std::nullopt, .affine = false});
        plain.forward(x, y);
        CHECK(allocations_of([&] { plain.forward(x, y); }) == 0);
        nf::nn::batch_norm2d<T> untracked(64, {.track_running_stats = false});
        untracked.eval();
        untracked.forward(x, y);
        CHECK(allocations_of([&] { untracked.forward(x, y); }) == 0);
    };
    SECTION("NCHW") {
        run(static_cast<nchw*>(nullptr));
    }
    SECTION("NHWC") {
        run(static_cast<nhwc*>(nullptr));
    }
}

TEST_CASE("noalloc: the other layers' forward, after the first call", "[layers][noalloc]") {
    auto run = [&]<class S>(S*) {
        const auto x = data_like<float, S>(extents_4x64x8x8<S>());
        nf::tensor<float, S> y(x.extents());
        nf::nn::instance_norm2d<float> in(64, {.affine = true, .track_running_stats = true});
        in.forward(x, y);
        CHECK(allocations_of([&] { in.forward(x, y); }) == 0);
        in.eval();
        CHECK(allocations_of([&] { in.forward(x, y); }) == 0);
        nf::nn::group_norm<float> gn(8, 64);
        gn.forward(x, y);
        CHECK(allocations_of([&] { gn.forward(x, y); }) == 0);
        nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> ln({64, 8, 8});
        ln.forward(x, y);
        CHECK(allocations_of([&] { ln.forward(x, y); }) == 0);
        nf::nn::rms_norm<float, nf::shape<C<>>> rn({64});
        rn.forward(x, y);
        CHECK(allocations_of([&] { rn.forward(x, y); }) == 0);
    };
    SECTION("NCHW") {
        run(static_cast<nchw*>(nullptr));
    }
    SECTION("NHWC") {
        run(static_cast<nhwc*>(nullptr));
    }
}

TEST_CASE("noalloc: layers and expressions that work in blocks of rows (inputs above 256 KiB)", "[layers][noalloc]") {
    // 8 x 64 x 16 x 16 floats, 512 KiB: InstanceNorm on NCHW (rows of 256), LayerNorm over
    // (C, H, W) (rows of 16384) and RMSNorm over C of NHWC (rows of 64) run block by block, and so
    // does the RMSNorm expression (boxes of N and H).
    const auto x = data_like<float, nchw>(nf::extents<nchw>({8, 64, 16, 16}));
    nf::tensor<float, nchw> y(x.extents());
    nf::nn::instance_norm2d<float> in(64, {.affine = true, .track_running_stats = true});
    in.forward(x, y);
    CHECK(allocations_of([&] { in.forward(x, y); }) == 0);
    nf::nn::layer_norm<float, nf::shape<C<>, H<>, W<>>> ln({64, 16, 16});
    ln.forward(x, y);
    CHECK(allocations_of([&] { ln.forward(x, y); }) == 0);
    const auto xl = data_like<float, nhwc>(nf::extents<nhwc>({8, 16, 16, 64}));
    nf::tensor<float, nhwc> yl(xl.extents());
    nf::nn::rms_norm<float, nf::shape<C<>>> rn({64});
    rn.forward(xl, yl);
    CHECK(allocations_of([&] { rn.forward(xl, yl); }) == 0);
    CHECK(allocations_of([&] { yl = xl * nf::rsqrt(nf::mean<C>(nf::square(xl)) + 1e-6f); }) == 0);
}

TEST_CASE("noalloc: const eval forward and the functional API allocate nothing, even on the first call",
          "[layers][noalloc][const]") {
    // Up to nf::nn::detail::slot_scratch's inline_slots slots, the per-call scratch is on the
    // stack: nothing to warm up, nothing kept in the layer.
    const auto x = data_like<float, nchw>(extents_4x64x8x8<nchw>());
    nf::tensor<float, nchw> y(x.extents());
    nf::tensor<float, nhwc> yl(extents_4x64x8x8<nhwc>());
    nf::nn::batch_norm2d<float> bn(64);
    bn.eval();
    const auto& cbn = bn;
    CHECK(allocations_of([&] { cbn.forward(x, y); }) == 0);
    CHECK(allocations_of([&] { cbn.forward(x, yl); }) == 0);
    CHECK(allocations_of([&] { bn.forward(x, y); }) == 0); // mutable, in eval
    std::vector<float> rm(64, 0.5f), rv(64, 2.f), w(64, 1.5f);
    const nf::view<const float, nf::shape<C<>>> rmv(rm.data(), {64}), rvv(rv.data(), {64}), wv(w.data(), {64});
    CHECK(allocations_of([&] { nf::nn::functional::batch_norm(x, y, rmv, rvv, wv, std::nullopt); }) == 0);
    const nf::view<float, nf::shape<C<>>> rmw(rm.data(), {64}), rvw(rv.data(), {64});
    CHECK(allocations_of([&] { nf::nn::functional::batch_norm(x, y, rmw, rvw, wv, wv, true); }) == 0);
    std::vector<float> scale(64), shift(64);
    CHECK(allocations_of([&] {
              nf::nn::fold_batch_norm(cbn, nf::view<float, nf::shape<C<>>>(scale.data(), {64}),
                                      nf::view<float, nf::shape<C<>>>(shift.data(), {64}));
          }) == 0);

    nf::nn::instance_norm2d<float> in(64, {.affine = true, .track_running_stats = true});
    in.eval();
    CHECK(allocations_of([&] { std::as_const(in).forward(x, y); }) == 0); // 256 slots
    nf::nn::group_norm<float> gn(8, 64);
    CHECK(allocations_of([&] { std::as_const(gn).forward(x, y); }) == 0);
    CHECK(allocations_of([&] { std::as_const(gn).forward(x, yl); }) == 0);
    nf::nn::layer_norm<float, nf::shape<C<>>> ln({64}); // 256 strided slots of NCHW
    CHECK(allocations_of([&] { std::as_const(ln).forward(x, y); }) == 0);
    nf::nn::rms_norm<float, nf::shape<C<>>> rn({64});
    CHECK(allocations_of([&] { std::as_const(rn).forward(x, y); }) == 0);
    nf::nn::normalize<float> norm({0.5}, {2.0});
    CHECK(allocations_of([&] { norm.forward(x, y); }) == 0);
}

TEST_CASE("noalloc: beyond the stack scratch, a thread allocates once and then never again",
          "[layers][noalloc][const]") {
    // 8 x 64 = 512 instances: more slots than the stack scratch holds. The thread's scratch grows
    // on the first such call (if this thread has not grown it already) and is reused after that;
    // another layer of the same size shares it.
    const auto x = data_like<float, nchw>(nf::extents<nchw>({8, 64, 4, 4}));
    nf::tensor<float, nchw> y(x.extents());
    const nf::nn::instance_norm2d<float> in(64);
    in.forward(x, y);
    CHECK(allocations_of([&] { in.forward(x, y); }) == 0);
    const nf::nn::instance_norm2d<float> other(64, {.affine = true});
    CHECK(allocations_of([&] { other.forward(x, y); }) == 0);
    const nf::nn::group_norm<float> gn(8, 64); // coefficients for 512 (n, c)
    CHECK(allocations_of([&] { gn.forward(x, y); }) == 0);
}

TEST_CASE("noalloc: a reduction over an outer axis needs scratch of its slots' size, not of tiles",
          "[reduce][noalloc]") {
    // Issue 15, defect 10: sum<N> over (2, L) keeps L slots that the loop walks periodically; the
    // periodic tiles held lcm(batch, L) doubles three times over (16 L of them for a prime L). The
    // scratch needed: the hoisted result (L floats) and one double per slot for sum (12 L bytes),
    // three for the unbiased var (k, c1, c2: 28 L bytes). Allowed: 16 L and 32 L bytes, plus 1 MiB.
    using namespace nf::axes;
    for (const std::size_t l : {std::size_t{1000003}, std::size_t{1} << 20}) {
        INFO("L " << l);
        nf::tensor<float, nf::shape<N<>, L<>>> x({2, l});
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 1013) * 0.25f - 60.0f;
        const nf::extents<nf::shape<L<>>> kept({l});
        nf::tensor<float, nf::shape<L<>>> y(kept), v(kept);
        counting_scope scope;
        y = nf::sum<N>(x);
        const std::size_t sum_bytes = scope.bytes();
        v = nf::var<N>(x, nf::unbiased);
        const std::size_t var_bytes = scope.bytes() - sum_bytes;
        CHECK(sum_bytes <= 16 * l + (std::size_t{1} << 20));
        CHECK(var_bytes <= 32 * l + (std::size_t{1} << 20));
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < l; ++i) {
            const double a = x.data()[i], b = x.data()[l + i];
            // Two floats summed in double and rounded once: the float nearest the exact sum. The
            // unbiased variance of two values is (a - b)^2 / 2, as exactly.
            wrong += y.data()[i] != static_cast<float>(a + b);
            wrong += v.data()[i] != static_cast<float>((a - b) * (a - b) / 2);
        }
        CHECK(wrong == 0);
    }
}

TEST_CASE("noalloc: batch_norm2d training forward and backward with saved statistics over caller storage",
          "[layers][noalloc][backward]") {
    // nf::nn::saved_statistics over caller storage never allocates, nor does the backward's scratch
    // for up to a few hundred channels, from the very first call.
    auto run = [&]<class S>(S*) {
        const auto x = data_like<float, S>(extents_4x64x8x8<S>());
        nf::tensor<float, S> y(x.extents()), dy(x.extents(), 0.5f), dx(x.extents());
        std::vector<double> mean(64), invstd(64);
        nf::nn::saved_statistics saved(mean, invstd);
        nf::nn::batch_norm2d<float> bn(64);
        CHECK(allocations_of([&] { bn.forward(x, y, saved); }) == 0);
        CHECK(saved.size() == 64);
        CHECK(allocations_of([&] { bn.backward(x, dy, dx, saved); }) == 0);
        CHECK(allocations_of([&] { bn.backward(x, dy, dy, saved, {.input = nf::nn::grad_write::accumulate}); }) == 0);
        bn.eval();
        CHECK(allocations_of([&] { bn.backward(x, dy, dx, saved); }) == 0);
    };
    run(static_cast<nchw*>(nullptr));
    run(static_cast<nhwc*>(nullptr));
}
