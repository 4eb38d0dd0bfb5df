// benchmarks/compile_time/tu_eigen_headers.cpp: tu_eigen.cpp's includes and nothing else.
//
// Its compile time is what a translation unit pays for including Eigen's Tensor module before
// it uses it; run.sh subtracts it from tu_eigen.cpp's to give the cost of the work itself.
#include <cstddef>
#include <cstdio>
#include <vector>

#include <unsupported/Eigen/CXX11/Tensor>

int main() {
    std::printf("%d\n", 0);
}
