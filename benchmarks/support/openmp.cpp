// benchmarks/support/openmp.cpp: sets the OpenMP thread count that oneDNN, libtorch and the two-thread loops read.
#include "cases.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bench {

void set_openmp_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
    omp_set_num_threads(n);
#endif
}

} // namespace bench
