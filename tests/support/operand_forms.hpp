// tests/support/operand_forms.hpp: the same operation written with every kind of operand (tensor,
// view, expression, number on either side), checked against the double reference; shared by the
// operator and function tests. Arrays are N=2, C=3, H=5, W=7: 210 elements, so every run has full
// batches and a scalar tail, whatever the SIMD width.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/expr/operators.hpp>

#include "support/reference.hpp"

namespace nf_test {

/// Which operand kinds a check combines. The operand kinds (tensor, view, expression node, number,
/// temporary) are leaves of the expression tree and the operation is its node: the two meet only in
/// the node's SIMD and scalar code, which sees batches and numbers, never the kind of a leaf. So
/// every pairing of kinds is checked once, for a representative operation (`every`), and each other
/// operation is checked on the kinds that reach its code differently (`representative`): arrays on
/// both sides, an expression node on both sides, and a number on either side (which side matters to
/// an operation that does not commute). Each combination is its own instantiation of the whole
/// evaluation, so the full matrix for every operation and element type would cost minutes of
/// compile time in each build of the tests.
enum class forms { every, representative };

using forms_shape = nf::shape<nf::axes::N<>, nf::axes::C<3>, nf::axes::H<>, nf::axes::W<>>;

/// Two operands of every kind over the same logical data: tensors `a`, `b`, views of other memory
/// holding the same values, and the number `s`.
template <class T>
struct operands {
    nf::tensor<T, forms_shape> a{{2, 5, 7}}, b{{2, 5, 7}}, y{{2, 5, 7}};
    std::vector<T> a_copy, b_copy;
    nf::view<const T, forms_shape> av;
    nf::view<T, forms_shape> bv;

    operands(double a_lo, double a_hi, double b_lo, double b_hi, bool b_signed)
        : a_copy(init(a, 1, a_lo, a_hi, false)), b_copy(init(b, 2, b_lo, b_hi, b_signed)), av(a_copy.data(), {2, 5, 7}),
          bv(b_copy.data(), {2, 5, 7}) {}

    static std::vector<T> init(nf::tensor<T, forms_shape>& t, std::uint64_t seed, double lo, double hi, bool sign) {
        if (sign)
            nf_test::fill_signed(t, seed, lo, hi);
        else
            nf_test::fill_uniform(t, seed, lo, hi);
        return {t.begin(), t.end()};
    }
};

/// Checks `f(l, r)` for the combinations of operand kinds that `Which` selects against `f` applied to
/// doubles. `f` is a generic lambda such as `[](auto&& l, auto&& r) { return l + r; }`: on nf
/// operands it builds an expression, on doubles it is the reference.
template <forms Which = forms::every, class T, class F>
void check_binary_forms(F f, double steps, operands<T>& o, T s) {
    auto &a = o.a, &b = o.b, &y = o.y;
    auto& av = o.av;
    auto& bv = o.bv;
    const double sd = static_cast<double>(s);
    auto reference = [&](const named_index& i) { return f(ref(a, i), ref(b, i)); };

    SECTION("tensor, tensor") {
        y = f(a, b);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("view, view") {
        y = f(av, bv);
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("expression, expression") {
        // Negation is exact, so -(-a) is an expression node with a's values.
        y = f(-(-a), -(-bv));
        CHECK(nf_test::near(y, reference, steps));
    }
    SECTION("number on either side") {
        y = f(s, b);
        CHECK(nf_test::near(
            y, [&](const named_index& i) { return f(sd, ref(b, i)); }, steps));
        y = f(a, s);
        CHECK(nf_test::near(
            y, [&](const named_index& i) { return f(ref(a, i), sd); }, steps));
    }
    if constexpr (Which == forms::every) {
        SECTION("view, tensor") {
            y = f(av, b);
            CHECK(nf_test::near(y, reference, steps));
        }
        SECTION("tensor, view") {
            y = f(a, bv);
            CHECK(nf_test::near(y, reference, steps));
        }
        SECTION("expression, tensor and tensor, expression") {
            y = f(-(-a), b);
            CHECK(nf_test::near(y, reference, steps));
            y = f(a, -(-b));
            CHECK(nf_test::near(y, reference, steps));
        }
        SECTION("number and expression") {
            y = f(-(-a), s);
            CHECK(nf_test::near(
                y, [&](const named_index& i) { return f(ref(a, i), sd); }, steps));
            y = f(s, -(-bv));
            CHECK(nf_test::near(
                y, [&](const named_index& i) { return f(sd, ref(b, i)); }, steps));
        }
        SECTION("into a view destination") {
            std::vector<T> out(y.size(), T(0));
            nf::view<T, forms_shape> yv(out.data(), {2, 5, 7});
            yv = f(av, b);
            CHECK(nf_test::near(yv, reference, steps));
        }
    }
}

/// Checks a unary function on a tensor and an expression operand (`forms::every`: also a view and a
/// temporary) against `reference`.
template <class T, forms Which = forms::every, class NF, class Ref>
void check_unary_forms(NF f, Ref reference_fn, double steps, double lo, double hi) {
    nf::tensor<T, forms_shape> x({2, 5, 7}), y({2, 5, 7});
    nf_test::fill_uniform(x, 7, lo, hi);
    std::vector<T> copy(x.begin(), x.end());
    nf::view<const T, forms_shape> xv(copy.data(), {2, 5, 7});
    auto reference = [&](const named_index& i) { return reference_fn(ref(x, i)); };

    y = f(x);
    CHECK(nf_test::near(y, reference, steps));
    y = f(-(-x));
    CHECK(nf_test::near(y, reference, steps));
    if constexpr (Which == forms::every) {
        y = f(xv);
        CHECK(nf_test::near(y, reference, steps));
        y = f(nf::tensor<T, forms_shape>(x)); // a temporary operand
        CHECK(nf_test::near(y, reference, steps));
    }
}

} // namespace nf_test
