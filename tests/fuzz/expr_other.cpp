// tests/fuzz/expr_other.cpp: expression cases on (N, C, L), (N, C), (N, C, D, H, W) and
// (N, G, K, H, W) layouts.
#include "expr.hpp"

namespace fz {
std::vector<float> run_expression_other(const fuzz_case& c, int threads, checker& chk) {
    switch (c.set) {
    case set_seq:
        return run_expression_set<set_seq>(c, threads, chk);
    case set_vec:
        return run_expression_set<set_vec>(c, threads, chk);
    case set_vol:
        return run_expression_set<set_vol>(c, threads, chk);
    default:
        return run_expression_set<set_grp>(c, threads, chk);
    }
}
} // namespace fz
