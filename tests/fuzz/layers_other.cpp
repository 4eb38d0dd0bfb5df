// tests/fuzz/layers_other.cpp: layer cases on (N, C, L), (N, C) and (N, C, D, H, W) layouts.
#include "layers.hpp"

namespace fz {
std::vector<float> run_layer_other(const fuzz_case& c, int threads, checker& chk) {
    switch (c.set) {
    case set_seq:
        return run_layer_set<set_seq>(c, threads, chk);
    case set_vec:
        return run_layer_set<set_vec>(c, threads, chk);
    default:
        return run_layer_set<set_vol>(c, threads, chk);
    }
}
} // namespace fz
