// benchmarks/half/peer_none_half.cpp: no peer (the benchmark is built without libtorch).
#include "peers.hpp"

namespace half_bench {
std::vector<impl> libtorch_impls(const buffers&) {
    return {};
}
} // namespace half_bench
