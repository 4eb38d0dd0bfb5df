// Runtime tests of the mergeable statistics (reduce/merge.hpp): nf::moments_state_of of shards of
// random sizes (empty and one-value shards included), merged in random orders and groupings,
// against a two-pass long double reference on the concatenated data, at offset 0 and 1e6 with
// shards whose means differ; commutativity (bitwise), associativity within a rounding bound,
// the identity of empty statistics; nf::running_moments over batches; misuse.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/reduce/merge.hpp>

using namespace nf::axes;

namespace {

/// Deterministic uniform numbers in [0, 1) (splitmix64), the same on every platform.
class random_source {
public:
    explicit random_source(std::uint64_t seed) : state_(seed) {}
    double uniform() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        return static_cast<double>(z >> 11) * 0x1.0p-53;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(uniform() * static_cast<double>(n)); }

private:
    std::uint64_t state_;
};

constexpr double unit_roundoff = 0x1.0p-53; // u of double

using nhwc = nf::shape<N<>, H<>, W<>, C<>>;
using nc = nf::shape<N<>, C<>>;

/// The exact-as-possible statistics of one slot of the concatenated data: two passes in long double.
struct reference_slot {
    double count = 0, mean = 0, m2 = 0;
    double range = 0;     // max - min: bounds every |x - shift| of the one-read pass
    double magnitude = 0; // max |x|
};

template <class T, class S>
std::vector<reference_slot> reference(const std::vector<nf::tensor<T, S>>& shards, std::size_t channels) {
    std::vector<std::vector<long double>> values(channels);
    for (const auto& x : shards)
        for (std::size_t i = 0; i < x.size(); ++i) values[i % channels].push_back(x.data()[i]); // C innermost
    std::vector<reference_slot> r(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        const auto& v = values[c];
        if (v.empty()) continue;
        long double sum = 0;
        for (const long double e : v) sum += e;
        const long double mean = sum / static_cast<long double>(v.size());
        long double m2 = 0;
        for (const long double e : v) m2 += (e - mean) * (e - mean);
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        r[c] = {static_cast<double>(v.size()), static_cast<double>(mean), static_cast<double>(m2),
                static_cast<double>(*hi - *lo), static_cast<double>(std::max(std::fabs(*lo), std::fabs(*hi)))};
    }
    return r;
}

/// Rounding bounds for statistics of n values built from `pieces` shards with one-read passes and
/// pieces - 1 merges in double (u = 2^-53, R the range of the values, |x| <= A):
/// * one shard's shifted sums S1 = sum (x - k), S2 = sum (x - k)^2 (every x - k exact, |x - k| <= R)
///   are off by at most n u n R and n u n R^2 (recursive summation, any order), so its mean - k by
///   n u R and its M2 by about 2 n^2 u R^2;
/// * a merge keeps one shard's k and computes delta = (k_b - k_a) + (d_b - d_a) (k_b - k_a exact:
///   both are values within a factor 2 of each other, |delta| <= R), so it rounds mean - k by a few
///   u R and M2 by a few u M2, and its delta^2 term inherits the means' error: 2 R err(delta) n;
/// * mean() = k + (mean - k) rounds once: u A.
/// The merges add no error proportional to |mean| (A): the bounds hold at offset 1e6 with R ~ 30.
/// Each term has a factor 4 of margin; the bounds depend only on the data.
double mean_bound(const reference_slot& r, std::size_t pieces) {
    return 4 * unit_roundoff * (r.count * r.range + r.magnitude + 4 * static_cast<double>(pieces) * r.range);
}
double m2_bound(const reference_slot& r, std::size_t pieces) {
    const double n = r.count;
    return 4 * unit_roundoff *
           (2 * n * n * r.range * r.range + 4 * static_cast<double>(pieces) * (r.m2 + 2 * n * r.range * r.range));
}

void check_against(const nf::moments_state& s, const std::vector<reference_slot>& ref, std::size_t pieces) {
    REQUIRE(s.slots() == ref.size());
    for (std::size_t c = 0; c < ref.size(); ++c) {
        INFO("slot " << c << ", count " << ref[c].count << ", pieces " << pieces);
        CHECK(static_cast<double>(s.count(c)) == ref[c].count);
        CHECK(std::fabs(s.mean(c) - ref[c].mean) <= mean_bound(ref[c], pieces));
        CHECK(std::fabs(s.m2(c) - ref[c].m2) <= m2_bound(ref[c], pieces));
    }
}

/// Shards of (N, H, W, C) float data with batch sizes from `sizes`; shard j has mean offset + 3 j
/// and channel c a spread of 1 + c.
std::vector<nf::tensor<float, nhwc>> make_shards(const std::vector<std::size_t>& sizes, std::size_t channels,
                                                 double offset, random_source& rng) {
    std::vector<nf::tensor<float, nhwc>> shards;
    for (std::size_t j = 0; j < sizes.size(); ++j) {
        nf::tensor<float, nhwc> x({sizes[j], 2, 3, channels});
        for (std::size_t i = 0; i < x.size(); ++i) {
            const std::size_t c = i % channels;
            x.data()[i] = static_cast<float>(offset + 3.0 * static_cast<double>(j) +
                                             (1.0 + static_cast<double>(c)) * (rng.uniform() - 0.5));
        }
        shards.push_back(std::move(x));
    }
    return shards;
}

/// Merges the states in a random binary tree (random pairs of the remaining partial results).
nf::moments_state merge_randomly(std::vector<nf::moments_state> parts, random_source& rng) {
    while (parts.size() > 1) {
        const std::size_t i = rng.below(parts.size());
        std::size_t j = rng.below(parts.size() - 1);
        if (j >= i) ++j;
        parts[i] = nf::merge(parts[i], parts[j]);
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(j));
    }
    return parts.front();
}

} // namespace

TEST_CASE("moments_state_of one array equals the two-pass reference", "[merge]") {
    random_source rng(11);
    for (const double offset : {0.0, 1e6}) {
        const auto shards = make_shards({7}, 5, offset, rng);
        check_against(nf::moments_state_of<N, H, W>(shards[0]), reference(shards, 5), 1);
    }
}

TEST_CASE("Shards of any size merge in any order into the statistics of the whole", "[merge]") {
    random_source rng(2026);
    for (const double offset : {0.0, 1e6, -3e5}) {
        for (int trial = 0; trial < 20; ++trial) {
            INFO("offset " << offset << ", trial " << trial);
            // 1 to 9 shards of 0 to 6 samples: empty shards and one-sample shards (count 6 per
            // channel: N = 1 of H x W = 2 x 3) appear in most trials.
            std::vector<std::size_t> sizes(1 + rng.below(9));
            for (auto& n : sizes) n = rng.below(7);
            sizes[rng.below(sizes.size())] = 0;
            const auto shards = make_shards(sizes, 4, offset, rng);
            std::vector<nf::moments_state> parts;
            for (const auto& x : shards) parts.push_back(nf::moments_state_of<N, H, W>(x));
            check_against(merge_randomly(parts, rng), reference(shards, 4), shards.size());
        }
    }
}

TEST_CASE("Shards of single values (N, C) merge exactly as the reference", "[merge]") {
    // One value per slot per shard: every shard has M2 = 0, and all of the variance comes from the
    // merges' delta^2 terms.
    random_source rng(5);
    for (const double offset : {0.0, 1e6}) {
        std::vector<nf::tensor<float, nc>> shards;
        for (int j = 0; j < 37; ++j) {
            nf::tensor<float, nc> x({1, 3});
            for (std::size_t i = 0; i < 3; ++i)
                x.data()[i] = static_cast<float>(offset + 10.0 * static_cast<double>(i) + 2.0 * rng.uniform());
            shards.push_back(std::move(x));
        }
        std::vector<nf::moments_state> parts;
        for (const auto& x : shards) {
            parts.push_back(nf::moments_state_of<N>(x));
            CHECK(parts.back().m2(0) == 0);
            CHECK(parts.back().count(0) == 1);
        }
        check_against(merge_randomly(parts, rng), reference(shards, 3), shards.size());
        // Left to right, as a stream would.
        nf::moments_state s(3);
        for (const auto& p : parts) s.merge(p);
        check_against(s, reference(shards, 3), shards.size());
    }
}

TEST_CASE("Merge is commutative bitwise, associative within rounding, with empty statistics as identity", "[merge]") {
    random_source rng(77);
    for (const double offset : {0.0, 1e6}) {
        const auto shards = make_shards({3, 1, 5}, 3, offset, rng);
        const auto a = nf::moments_state_of<N, H, W>(shards[0]);
        const auto b = nf::moments_state_of<N, H, W>(shards[1]);
        const auto c = nf::moments_state_of<N, H, W>(shards[2]);
        CHECK(nf::merge(a, b) == nf::merge(b, a));
        CHECK(nf::merge(nf::merge(a, b), c) == nf::merge(c, nf::merge(b, a)));
        const nf::moments_state empty(3);
        CHECK(nf::merge(a, empty) == a);
        CHECK(nf::merge(empty, a) == a);
        CHECK(nf::merge(empty, empty) == empty);
        // An empty shard's own statistics are the identity too.
        const auto none = nf::moments_state_of<N, H, W>(make_shards({0}, 3, offset, rng)[0]);
        CHECK(none == empty);
        CHECK(nf::merge(none, b) == b);

        const auto left = nf::merge(nf::merge(a, b), c);
        const auto right = nf::merge(a, nf::merge(b, c));
        const auto ref = reference(shards, 3);
        for (std::size_t s = 0; s < 3; ++s) {
            INFO("offset " << offset << ", slot " << s);
            CHECK(left.count(s) == right.count(s));
            // Both are within the bound of the reference, so within twice of each other.
            CHECK(std::fabs(left.mean(s) - right.mean(s)) <= 2 * mean_bound(ref[s], 3));
            CHECK(std::fabs(left.m2(s) - right.m2(s)) <= 2 * m2_bound(ref[s], 3));
        }
    }
}

TEST_CASE("moments_state: variances, set, and misuse", "[merge]") {
    nf::moments_state s(2);
    CHECK(std::isnan(s.variance(0)));
    CHECK(std::isnan(s.unbiased_variance(0)));
    s.set(0, 4, 2.5, 6.0);
    CHECK(s.mean(0) == 2.5);
    CHECK(s.m2(0) == 6.0);
    CHECK(s.variance(0) == 1.5);
    CHECK(s.unbiased_variance(0) == 2.0);
    s.set(1, 1, 7.0, 0.0);
    CHECK(s.variance(1) == 0.0);
    CHECK(std::isnan(s.unbiased_variance(1)));
    CHECK_THROWS_AS(s.set(0, 3, 1.0, -1.0), std::invalid_argument);
    CHECK_THROWS_AS(s.set(0, 0, 1.0, 0.0), std::invalid_argument);
    CHECK_THROWS_AS(s.mean(2), nf::extent_error);
    const nf::moments_state before = s;
    CHECK_THROWS_WITH(s.merge(nf::moments_state(3)),
                      "normfuse: moments_state::merge: the statistics have 2 slots on the left and 3 on the right; "
                      "nothing was merged");
    CHECK(s == before);
}

TEST_CASE("running_moments over the batches of a data set", "[merge]") {
    random_source rng(9);
    for (const double offset : {0.0, 1e6}) {
        const auto batches = make_shards({4, 0, 1, 6, 2}, 3, offset, rng);
        nf::running_moments<N<>, H<>, W<>> stats;
        CHECK(stats.slots() == 0);
        for (const auto& x : batches) stats.add(x);
        const auto ref = reference(batches, 3);
        check_against(stats.state(), ref, batches.size());
        const auto mean = stats.mean(), var = stats.variance(), unbiased = stats.unbiased_variance();
        REQUIRE(mean.size() == 3);
        for (std::size_t c = 0; c < 3; ++c) {
            const double n = ref[c].count;
            CHECK(std::fabs(mean[c] - ref[c].mean) <= mean_bound(ref[c], batches.size()));
            CHECK(std::fabs(var[c] - ref[c].m2 / n) <= m2_bound(ref[c], batches.size()) / n);
            CHECK(std::fabs(unbiased[c] - ref[c].m2 / (n - 1)) <= m2_bound(ref[c], batches.size()) / (n - 1));
        }
        // A batch with another channel count is refused and changes nothing.
        const auto kept = stats.state();
        CHECK_THROWS_AS(stats.add(make_shards({2}, 4, offset, rng)[0]), nf::extent_error);
        CHECK(stats.state() == kept);
    }
}
