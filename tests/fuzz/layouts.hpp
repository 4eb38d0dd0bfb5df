// tests/fuzz/layouts.hpp: the layouts the fuzzer instantiates (types are compile-time, so the
// "random layouts" are chosen at run time from these sets), and their run-time description.
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/axis.hpp>
#include <normfuse/core/shape.hpp>

#include "fuzz.hpp"

namespace fz {

namespace ax = nf::axes;

// Channels first, last, in the middle, before N; static extents mixed with dynamic ones.
// NF_FUZZ_FEW_LAYOUTS (the sanitizer builds of the test command, for compile time) keeps the
// first layouts of each set: channels first, last and, for images, before N. The generator draws
// from the layouts compiled, so a seed gives other cases in that build.
#if !defined(NF_FUZZ_FEW_LAYOUTS)
using img_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::H<>, ax::W<>>,           // NCHW
                               nf::shape<ax::N<>, ax::H<>, ax::W<>, ax::C<>>,           // NHWC
                               nf::shape<ax::C<>, ax::N<>, ax::H<>, ax::W<>>,           // CNHW
                               nf::shape<ax::N<>, ax::H<>, ax::C<>, ax::W<>>,           // NHCW
                               nf::shape<ax::N<>, ax::C<3>, ax::H<>, ax::W<>>,          // NC3HW
                               nf::shape<ax::N<>, ax::H<>, ax::W<8>, ax::C<16>>>;       // NHW8C16
using seq_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::L<>>,                    // NCL
                               nf::shape<ax::N<>, ax::L<>, ax::C<>>,                    // NLC
                               nf::shape<ax::C<>, ax::N<>, ax::L<>>,                    // CNL
                               nf::shape<ax::L<>, ax::N<>, ax::C<>>,                    // LNC
                               nf::shape<ax::N<>, ax::C<4>, ax::L<>>>;                  // NC4L
using vol_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::D<>, ax::H<>, ax::W<>>,  // NCDHW
                               nf::shape<ax::N<>, ax::D<>, ax::H<>, ax::W<>, ax::C<>>,  // NDHWC
                               nf::shape<ax::C<>, ax::N<>, ax::D<>, ax::H<>, ax::W<>>>; // CNDHW
using vec_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>>,                             // NC
                               nf::shape<ax::C<>, ax::N<>>,                             // CN
                               nf::shape<ax::N<>, ax::C<5>>>;                           // NC5
// GroupNorm written in the DSL: C seen as (G, K).
using grp_layouts = std::tuple<nf::shape<ax::N<>, ax::G<>, ax::K<>, ax::H<>, ax::W<>>,  // NGKHW
                               nf::shape<ax::N<>, ax::H<>, ax::W<>, ax::G<>, ax::K<>>,  // NHWGK
                               nf::shape<ax::G<>, ax::K<>, ax::N<>, ax::H<>, ax::W<>>>; // GKNHW
#else
using img_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::H<>, ax::W<>>,           // NCHW
                               nf::shape<ax::N<>, ax::H<>, ax::W<>, ax::C<>>,           // NHWC
                               nf::shape<ax::C<>, ax::N<>, ax::H<>, ax::W<>>>;          // CNHW
using seq_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::L<>>,                    // NCL
                               nf::shape<ax::N<>, ax::L<>, ax::C<>>>;                   // NLC
using vol_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>, ax::D<>, ax::H<>, ax::W<>>,  // NCDHW
                               nf::shape<ax::N<>, ax::D<>, ax::H<>, ax::W<>, ax::C<>>>; // NDHWC
using vec_layouts = std::tuple<nf::shape<ax::N<>, ax::C<>>,                             // NC
                               nf::shape<ax::C<>, ax::N<>>>;                            // CN
using grp_layouts = std::tuple<nf::shape<ax::N<>, ax::G<>, ax::K<>, ax::H<>, ax::W<>>,  // NGKHW
                               nf::shape<ax::N<>, ax::H<>, ax::W<>, ax::G<>, ax::K<>>>; // NHWGK
#endif

enum layout_set : int { set_img, set_seq, set_vol, set_vec, set_grp, set_count };

template <int Set>
using set_tuple =
    std::tuple_element_t<Set, std::tuple<img_layouts, seq_layouts, vol_layouts, vec_layouts, grp_layouts>>;

/// The output layout that a case may pair with input layout I (besides I itself).
template <int Set>
constexpr int partner(int i) {
    return (i + 1) % static_cast<int>(std::tuple_size_v<set_tuple<Set>>);
}

template <class A>
constexpr int axis_of() {
    constexpr std::string_view n = A::name;
    for (int i = 0; i < n_axes; ++i)
        if (n.size() == 1 && n[0] == axis_letter[i]) return i;
    return -1;
}

template <class S>
layout_info info_of() {
    layout_info li;
    [&]<class... As>(nf::axis_list<As...>) {
        (li.order.push_back(axis_of<As>()), ...);
        (li.fixed.push_back(As::is_static ? As::extent : 0), ...);
    }(typename S::axes{});
    return li;
}

/// True when no axis has two different static extents in S1 and S2 (else `out = f(in)` would
/// rightly not compile).
template <class S1, class S2>
constexpr bool compatible() {
    return []<class... As>(nf::axis_list<As...>) {
        return ([]<class A>(A*) {
            bool ok = true;
            [&]<class... Bs>(nf::axis_list<Bs...>) {
                (([&] {
                     if constexpr (axis_of<A>() == axis_of<Bs>())
                         if (A::is_static && Bs::is_static && A::extent != Bs::extent) ok = false;
                 }()),
                 ...);
            }(typename S2::axes{});
            return ok;
        }(static_cast<As*>(nullptr)) &&
                ...);
    }(typename S1::axes{});
}

/// A layout's axes as a constexpr value (for the instantiation policy shared by the generator).
struct layout_info_c {
    std::size_t rank = 0;
    int order[8] = {};
};
template <class S>
constexpr layout_info_c layout_c() {
    layout_info_c li;
    [&]<class... As>(nf::axis_list<As...>) { ((li.order[li.rank++] = axis_of<As>()), ...); }(typename S::axes{});
    return li;
}
inline layout_info_c layout_c(const layout_info& l) {
    layout_info_c li;
    for (int a : l.order) li.order[li.rank++] = a;
    return li;
}

/// Whether reduction cases over `mask` (bit i = the i-th axis) with `form` exist for the layout
/// `index` of its set. Every subset on the first layout of each set, with the forms that take a
/// variance (full form 0, kept form 1); the canonical subsets (all axes but C, as BatchNorm; all
/// but N, as LayerNorm) on every layout, with every form on the first two layouts and the
/// variance forms on the others. Types are compile-time: this keeps the instantiations (and the
/// compile time) in check; the generator asks the same question.
constexpr bool reduction_instantiated(int index, const layout_info_c& li, unsigned mask, int form, bool kept) {
    const unsigned full = (1u << li.rank) - 1;
    unsigned all_but_c = full, all_but_n = full;
    for (std::size_t r = 0; r < li.rank; ++r) {
        if (li.order[r] == aC) all_but_c &= ~(1u << r);
        if (li.order[r] == aN) all_but_n &= ~(1u << r);
    }
    const bool variance_form = form == (kept ? 1 : 0);
    if (mask == 0 || mask > full) return false;
    if (mask == all_but_c || mask == all_but_n) return index <= 1 || variance_form;
    return index == 0 && variance_form;
}
/// The nested-function form (2) of the elementwise cases and the normalized shapes 1..3 of
/// LayerNorm / RMSNorm exist for the first two layouts of a set only (same reason).
constexpr bool all_forms(int index) {
    return index <= 1;
}

/// The run-time descriptions of every layout of a set.
const std::vector<layout_info>& layouts(int set);

/// Calls f(std::type_identity<In>{}, std::type_identity<Out>{}, integral_constant<int, I>{}) with the case's input and output
/// layouts of set `Set`; the output is the input's layout or its partner (a fixed pairing keeps
/// the number of instantiations linear in the number of layouts).
template <int Set, class F>
void with_layouts(const fuzz_case& c, F&& f) {
    using T = set_tuple<Set>;
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (([&] {
             if (c.layout != static_cast<int>(Is)) return;
             using In = std::tuple_element_t<Is, T>;
             if (c.out_layout == static_cast<int>(Is)) {
                 f(std::type_identity<In>{}, std::type_identity<In>{}, std::integral_constant<int, Is>{});
             } else {
                 using Out = std::tuple_element_t<static_cast<std::size_t>(partner<Set>(Is)), T>;
                 if constexpr (compatible<In, Out>())
                     f(std::type_identity<In>{}, std::type_identity<Out>{}, std::integral_constant<int, Is>{});
             }
         }()),
         ...);
    }
    (std::make_index_sequence<std::tuple_size_v<T>>{});
}

} // namespace fz
