// tests/fuzz/expr_img.cpp: expression cases on (N, C, H, W) layouts (one TU: compile time).
#include "expr.hpp"

namespace fz {
std::vector<float> run_expression_img(const fuzz_case& c, int threads, checker& chk) {
    return run_expression_set<set_img>(c, threads, chk);
}
} // namespace fz
