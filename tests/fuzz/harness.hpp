// tests/fuzz/harness.hpp: what the runners share: memory for inputs and outputs (owning tensors or
// views at an offset, in place or shifted), index loops of the reference, the run entry points.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "fuzz.hpp"
#include "layouts.hpp"

namespace fz {

/// Runs the case once with `threads` threads; checks every value against the reference into
/// `chk` and returns the outputs (for the comparison of thread counts). One per family of kinds.
std::vector<float> run_expression(const fuzz_case& c, int threads, checker& chk);
std::vector<float> run_layer(const fuzz_case& c, int threads, checker& chk);
/// True when the case's outputs come from elementwise operations only (so that 1 and 2
/// threads must agree bit for bit).
bool elementwise_only(const fuzz_case& c);

/// Calls f(idx, linear) for every multi-index of `order` (row-major: linear is the offset in a
/// dense array laid out as `order`).
template <class F>
void for_each_index(const std::vector<int>& order, const extent_map& ext, F&& f) {
    const std::size_t n = count_of(order, ext);
    extent_map idx{};
    for (std::size_t lin = 0; lin < n; ++lin) {
        f(static_cast<const extent_map&>(idx), lin);
        for (std::size_t r = order.size(); r-- > 0;) {
            if (++idx[order[r]] < ext[order[r]]) break;
            idx[order[r]] = 0;
        }
    }
}
inline std::size_t offset_of(const extent_map& idx, const extent_map& strides) {
    std::size_t o = 0;
    for (int a = 0; a < n_axes; ++a) o += idx[a] * strides[a];
    return o;
}

template <class S>
std::array<std::size_t, S::rank> extents_array(const extent_map& ext) {
    std::array<std::size_t, S::rank> a{};
    const layout_info li = info_of<S>();
    for (std::size_t r = 0; r < S::rank; ++r) a[r] = ext[li.order[r]];
    return a;
}
template <class S>
nf::extents<S> extents_of(const extent_map& ext) {
    return nf::extents<S>::from_all(extents_array<S>(ext));
}

/// Memory for one array of layout S: an owning nf::tensor, or a view `offset` floats into a
/// vector (so any alignment); `before`/`after` spare floats allow views shifted into it.
template <class S>
struct memory {
    std::optional<nf::tensor<float, S>> owned;
    std::vector<float> raw;
    float* ptr = nullptr;
    nf::extents<S> ext;
    memory(const extent_map& e, bool owning, unsigned offset, std::size_t spare = 0) : ext(extents_of<S>(e)) {
        if (owning && spare == 0) {
            owned.emplace(ext);
            ptr = owned->data();
        } else {
            raw.assign(ext.size() + offset + 2 * spare + 1, 0.f);
            ptr = raw.data() + offset + spare;
        }
    }
    std::size_t size() const { return ext.size(); }
    nf::view<float, S> view() const { return nf::view<float, S>(ptr, ext); }
    nf::view<const float, S> cview() const { return nf::view<const float, S>(ptr, ext); }
    void fill(const std::vector<float>& v) { std::copy(v.begin(), v.end(), ptr); }
    std::vector<float> values() const { return std::vector<float>(ptr, ptr + size()); }
};

/// A per-channel (or any rank-1) parameter tensor from values.
template <class A>
nf::tensor<float, nf::shape<A>> vector_of(const std::vector<float>& v) {
    using S = nf::shape<A>;
    nf::tensor<float, S> t(nf::extents<S>::from_all({v.size()}));
    std::copy(v.begin(), v.end(), t.data());
    return t;
}

/// Sets the number of threads and the streaming threshold of the case for one run.
struct run_settings {
    run_settings(const fuzz_case& c, int threads) {
        // A 2-thread run that silently ran serially would compare nothing: refuse it.
        if (nf::set_num_threads(threads) != threads) {
            std::fprintf(stderr,
                         "normfuse_fuzz: nf::set_num_threads(%d) is not in effect (no OpenMP and no "
                         "parallel-for installed)\n",
                         threads);
            std::abort();
        }
        nf::set_streaming_threshold(c.streaming);
    }
    ~run_settings() {
        nf::set_num_threads(1);
        nf::set_streaming_threshold(static_cast<std::size_t>(-1));
    }
};

/// Runs `body` and reports an exception as a failure (the generated cases are all valid input).
template <class F>
bool guarded(checker& chk, F&& body) {
    try {
        body();
        return true;
    } catch (const std::exception& e) {
        chk.fail(std::string("unexpected exception: ") + e.what());
        return false;
    }
}

} // namespace fz
