// tests/fuzz/layers_img.cpp: layer cases on (N, C, H, W) layouts (one TU: compile time).
#include "layers.hpp"

namespace fz {
std::vector<float> run_layer_img(const fuzz_case& c, int threads, checker& chk) {
    return run_layer_set<set_img>(c, threads, chk);
}
} // namespace fz
