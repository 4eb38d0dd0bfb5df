// Guide, chapter 2: expressions are lazy. Stored with `auto`, they hold named tensors by reference,
// temporaries by value and views by pointer. Returns non-zero on a wrong value.
#include <cstddef>
#include <iostream>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nchw = nf::shape<N<>, C<3>, H<>, W<>>;
using sequence = nf::shape<L<>>;

namespace {
int failures = 0;
void expect_all(const auto& t, float want, const char* what) {
    for (float v : t)
        if (v != want) {
            std::cerr << "FAILED: " << what << ": " << v << " instead of " << want << '\n';
            ++failures;
            return;
        }
}

// clang-format off
// [snippet temporary]
nf::tensor<float, sequence> ramp(std::size_t n) {
    nf::tensor<float, sequence> t(nf::extents<sequence>({n}));
    for (std::size_t i = 0; i < n; ++i) t(i) = static_cast<float>(i);
    return t;
}
// [/snippet]
// clang-format on
} // namespace

int main() {
    {
        // clang-format off
        // [snippet by_reference]
        nf::tensor<float, nchw> x({2, 4, 4});
        auto e = x * 2.f + 1.f; // nothing is computed yet; e refers to x

        x = 3.f;                       // e sees the change...
        nf::tensor<float, nchw> y = e; // ...when it is evaluated: every element is 7
        x = 0.f;
        y = e; // evaluated again: every element is 1
        // [/snippet]
        // clang-format on
        expect_all(y, 1.f, "re-evaluated expression");
        x = 3.f;
        y = e;
        expect_all(y, 7.f, "expression sees later changes");
    }
    {
        // clang-format off
        // [snippet by_value]
        auto squares = nf::square(ramp(8)); // the temporary tensor is moved into the expression
        nf::tensor<float, sequence> s = squares + 1.f; // safe: squares owns its data
        // [/snippet]
        // clang-format on
        bool ok = s.size() == 8;
        for (std::size_t i = 0; i < s.size(); ++i) ok = ok && s(i) == static_cast<float>(i * i + 1);
        if (!ok) {
            std::cerr << "FAILED: temporary held by value\n";
            ++failures;
        }
    }
    {
        // clang-format off
        // [snippet views]
        std::vector<float> memory(2 * 3 * 4 * 4, 1.f);
        nf::view<float, nchw> v(memory.data(), {2, 4, 4});
        auto doubled = v * 2.f;                // a view is copied into the expression: a pointer
        memory.assign(memory.size(), 5.f);     // same storage, new values
        nf::tensor<float, nchw> out = doubled; // every element is 10
        // [/snippet]
        // clang-format on
        expect_all(out, 10.f, "expression over a view reads the memory when evaluated");
    }
    {
        // clang-format off
        // [snippet compose]
        nf::tensor<float, nchw> x({2, 4, 4}, 8.f);
        nf::tensor<float, nf::shape<C<3>>> mean{1.f, 2.f, 3.f}, stdev{1.f, 2.f, 4.f};
        auto centered = x - mean; // name the parts of a formula...
        auto scaled = centered / stdev;
        nf::tensor<float, nchw> y = nf::relu(scaled); // ...and still run one loop at the end
        // [/snippet]
        // clang-format on
        bool ok = true;
        for (std::size_t n = 0; n < 2; ++n)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t h = 0; h < 4; ++h)
                    for (std::size_t w = 0; w < 4; ++w)
                        ok = ok && y(n, c, h, w) == (8.f - mean(c)) / stdev(c);
        if (!ok) {
            std::cerr << "FAILED: composed expression\n";
            ++failures;
        }
    }
    return failures == 0 ? 0 : 1;
}
