// Guide, chapter 4: threads. The caller's own parallel-for for one scope, and what
// nf::set_num_threads reports. Checked against a plain loop in double.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <thread>
#include <vector>

#include <normfuse/normfuse.hpp>

using namespace nf::axes;
using nl = nf::shape<N<>, L<>>;

int main() {
    const std::size_t n = 64, l = 4096;
    nf::tensor<float, nl> x({n, l}), y({n, l});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 97) / 8.0f;

    // clang-format off
    // [snippet threads]
    // The application's own parallel-for: body(b, e) for pieces [b, e) of [begin, end); here
    // one std::thread per piece but the first, which the calling thread runs.
    auto my_pool = [](std::size_t begin, std::size_t end, nf::parallel_body body) {
        std::vector<std::thread> helpers;
        for (std::size_t k = begin + 1; k < end; ++k) helpers.emplace_back([=] { body(k, k + 1); });
        if (begin < end) body(begin, begin + 1);
        for (auto& t : helpers) t.join();
    };
    {
        nf::scoped_parallel_for guard(my_pool, 2); // this thread, this scope: 2 pieces via my_pool
        y = (x - nf::mean<L>(x)) * 2.0f;
    }
    // Without OpenMP and without nf::set_parallel_for, nothing can run threads: it returns 1.
    const int threads = nf::set_num_threads(2); // 2 when compiled with -fopenmp
    nf::set_num_threads(1);
    // [/snippet]
    // clang-format on

    int failures = 0;
#if defined(_OPENMP)
    if (threads != 2) ++failures;
#else
    if (threads != 1) ++failures;
#endif
    for (std::size_t r = 0; r < n; ++r) {
        double m = 0;
        for (std::size_t i = 0; i < l; ++i) m += x(r, i);
        m /= static_cast<double>(l);
        for (std::size_t i = 0; i < l; ++i) {
            const double want = (x(r, i) - m) * 2.0;
            if (!(std::abs(y(r, i) - want) <= 1e-5 * (1 + std::abs(want)))) {
                if (failures++ < 5)
                    std::cerr << "FAILED: y(" << r << ", " << i << ") = " << y(r, i) << ", want "
                              << want << '\n';
            }
        }
    }
    if (failures != 0) std::cerr << failures << " failures\n";
    return failures == 0 ? 0 : 1;
}
