// benchmarks/compile_time/tu_normfuse_headers.cpp: tu_normfuse.cpp's includes and nothing else.
//
// Its compile time is what a translation unit pays for including normfuse before it uses it;
// run.sh subtracts it from tu_normfuse.cpp's to give the cost of the work itself (the layers'
// templates, instantiated and compiled).
#include <array>
#include <cstddef>
#include <cstdio>
#include <span>
#include <vector>

#include <normfuse/normfuse.hpp>

int main() {
    std::printf("%d\n", 0);
}
