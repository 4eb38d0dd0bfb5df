// normfuse/nn/common.hpp: what the layers share: the in-place tag, shape messages, checks before writing, per-call scratch, functional parameters.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/core/simd.hpp>

#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/errors.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/slot_layout.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/eval/settings.hpp>
#include <normfuse/expr/cast.hpp>

namespace nf::nn {

/// Selects the in-place form of a layer call: `layer(x, nf::nn::in_place)`.
struct in_place_t {
    explicit in_place_t() = default;
};
inline constexpr in_place_t in_place{};

/// A tensor or a view: what a layer reads and writes.
template <class X>
concept Array = is_tensor_v<std::remove_cvref_t<X>> || is_view_v<std::remove_cvref_t<X>>;

namespace detail {

/// "[N=2, C=4, H=5, W=5]": the extents of an array with its axis names, for messages.
template <class X>
std::string describe(const X& x) {
    constexpr auto names = X::extents_type::names();
    return nf::detail::describe_extents(names.data(), x.extents().values().data(), names.size());
}

/// Throws unless `out` has the axes of `x` with the same extents (before anything is written).
template <class X, class Out>
void check_output(std::string_view call, const X& x, const Out& out) {
    static_assert(is_subset<typename X::axes, typename Out::axes> && is_subset<typename Out::axes, typename X::axes>,
                  "normfuse: layer forward: the output must have the same axes as the input (in any order)");
    [&]<class... As>(axis_list<As...>) {
        auto one = [&]<class A>(A*) {
            const std::size_t in = x.template extent<A>(), o = out.template extent<A>();
            if (in != o) nf::detail::raise_output_mismatch(call, A::name, in, o);
        };
        (one(static_cast<As*>(nullptr)), ...);
    }(typename X::axes{});
}

/// Throws unless a parameter tensor (weight, bias, running statistics) still has `expected`
/// elements: they can be reassigned whole, with another length.
template <class P>
void check_parameter(std::string_view layer, const char* name, const P& p, std::size_t expected) {
    if (p.size() != expected) nf::detail::raise_parameter_length(layer, name, p.size(), expected);
}

/// Throws unless a parameter laid out as a layer's normalized shape (LayerNorm's and RMSNorm's
/// weight and bias) has that shape's extents axis by axis: a weight of (5, 4) for a normalized
/// shape of (4, 5) has the right number of elements but would be read as (4, 5).
template <class P, class E>
void check_parameter_extents(std::string_view layer, const char* name, const P& p, const E& expected) {
    if (p.extents().values() != expected.values()) {
        constexpr auto names = E::names();
        nf::detail::raise_extent(std::string(layer) + ": " + name + " has extents " + describe(p) +
                                 " but the normalized shape is " +
                                 nf::detail::describe_extents(names.data(), expected.values().data(), names.size()) +
                                 "; nothing was written");
    }
}

/// A parameter or statistic as double (16-bit types widened exactly).
template <class T>
double to_double(T v) {
    if constexpr (nf::detail::is_half_element_v<T>)
        return static_cast<float>(v);
    else
        return static_cast<double>(v);
}

/// A double as the element type T: for nf::bf16 and nf::fp16, through float (as PyTorch computes
/// their statistics and running averages in float, then rounds once to the 16-bit type).
template <class T>
T from_double(double v) {
    if constexpr (nf::detail::is_half_element_v<T>)
        return T(static_cast<float>(v));
    else
        return static_cast<T>(v);
}

/// 1 / sqrt(var + eps) as PyTorch's batch-norm kernels compute it from batch (or instance)
/// statistics (ATen's InvStd): 0 when var and eps are both 0, so that a constant slot normalized
/// with eps = 0 gives the bias instead of 0 * inf = NaN. A NaN variance stays NaN.
inline double batch_inv_std(double var, double eps) {
    return var == 0 && eps == 0 ? 0.0 : 1.0 / std::sqrt(var + eps);
}

/// The coefficients of `(x - hi) * scale + offset` from running statistics (eval mode):
/// hi = rm, scale = w / sqrt(rv + eps), offset = b. When that scale is not finite (rv + eps = 0, or
/// a NaN or infinite statistic), they are PyTorch's folded form instead, `x * a + (b - rm * a)`
/// (spec 2.5), so that the infinities and NaNs fall where PyTorch's do.
/// (P: the statistics' element type; C: the coefficients' type, the compute type of P.)
template <class P, class C>
void running_affine(P rm, P rv, double w, double b, double eps, C& hi, C& scale, C& offset) {
    const double a = w / std::sqrt(to_double(rv) + eps);
    if (std::isfinite(static_cast<C>(a))) {
        hi = static_cast<C>(to_double(rm));
        scale = static_cast<C>(a);
        offset = static_cast<C>(b);
    } else {
        hi = C(0);
        scale = static_cast<C>(a);
        offset = static_cast<C>(b - to_double(rm) * a);
    }
}

/// Per-slot working memory of one forward call: the statistics (shift, centered mean, variance:
/// double) and the coefficients (hi, scale, offset: T) of every slot. It belongs to the call, never
/// to a layer, so that any number of threads can run one layer at once. Up to `inline_slots` slots
/// it lives on the stack; beyond, it borrows a grow-only buffer of the calling thread
/// (thread_local: it allocates only when a thread first meets a larger slot count), or, if that
/// buffer is already lent out on this thread (a forward run from inside another one, e.g. by a
/// thread pool that runs queued work while it waits), allocates its own. Slot workers that run on
/// other threads (nf::set_num_threads) write disjoint slot ranges of the caller's buffer.
template <class T>
class slot_scratch {
public:
    static constexpr std::size_t inline_slots = 256;

    slot_scratch(std::size_t slots, std::size_t coefficient_slots) {
        // Bytes (whose arrays implicitly create the double and T objects): the statistics first,
        // at the alignment of the storage, then the coefficients.
        const std::size_t bytes = 3 * slots * sizeof(double) + 3 * coefficient_slots * sizeof(T);
        std::byte* base = inline_;
        if (bytes > sizeof(inline_)) {
            thread_buffer& tb = thread_buffer::get();
            if (!tb.lent) {
                if (tb.data.size() < bytes) {
                    tb.data = std::vector<std::byte>(); // release first: at most one buffer alive
                    tb.data.resize(bytes);
                }
                tb.lent = true;
                lent_ = &tb;
                base = tb.data.data();
            } else {
                own_.resize(bytes);
                base = own_.data();
            }
        }
        shift = reinterpret_cast<double*>(base);
        centered = shift + slots;
        variance = shift + 2 * slots;
        hi = reinterpret_cast<T*>(base + 3 * slots * sizeof(double));
        scale = hi + coefficient_slots;
        offset = hi + 2 * coefficient_slots;
    }
    ~slot_scratch() {
        if (lent_) lent_->lent = false;
    }
    slot_scratch(const slot_scratch&) = delete;
    slot_scratch& operator=(const slot_scratch&) = delete;

    double *shift, *centered, *variance; // per slot of the statistics
    T *hi, *scale, *offset;              // per slot of the coefficients

private:
    struct thread_buffer {
        std::vector<std::byte> data; // operator new: aligned for double
        bool lent = false;
        static thread_buffer& get() {
            thread_local thread_buffer b;
            return b;
        }
    };
    alignas(64) std::byte inline_[inline_slots * 3 * (sizeof(double) + sizeof(T))];
    thread_buffer* lent_ = nullptr;
    std::vector<std::byte> own_;
};

/// A per-channel (or per-element) parameter of a functional call, as the call sees it: absent
/// (`std::nullopt`), read-only, or writable (running statistics that training updates).
template <class T>
struct param_ref {
    const T* data = nullptr;
    T* writable = nullptr;
    std::size_t size = 0;
    const std::size_t* extents = nullptr; // the array's extents, in the order of its axes (alive for the call)
    bool present = false;
    T operator[](std::size_t i) const { return data[i]; }
};

/// True when QL has the axes of PL (by name, any extents), in the same order.
template <class QL, class PL>
constexpr bool same_axes_in_order() {
    if constexpr (QL::size != PL::size)
        return false;
    else
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return ((index_of<axis_at_t<I, QL>, PL> == I) && ...);
        }
    (std::make_index_sequence<QL::size>{});
}

template <class P>
struct is_optional : std::false_type {};
template <class P>
struct is_optional<std::optional<P>> : std::true_type {};

/// A parameter argument of the functional API: `std::nullopt`, an std::optional of an array, or a
/// tensor or view (const elements: read-only) over the axes `PL` (in this order, any extents).
template <class T, class PL, class P>
param_ref<T> param_of(P&& p) {
    using Q = std::remove_cvref_t<P>;
    if constexpr (std::is_same_v<Q, std::nullopt_t>) {
        return {};
    } else if constexpr (is_optional<Q>::value) {
        if (!p) return {};
        return param_of<T, PL>(*std::forward<P>(p));
    } else {
        static_assert(Array<Q>, "normfuse: nn::functional: a parameter (weight, bias, running statistics, mean, std) "
                                "must be a tensor, a view, an std::optional of one, or std::nullopt");
        if constexpr (Array<Q>) {
            static_assert(std::is_same_v<typename Q::value_type, T>,
                          "normfuse: nn::functional: a parameter must have the element type of the input");
            static_assert(same_axes_in_order<typename Q::axes, PL>(),
                          "normfuse: nn::functional: a parameter has the wrong axes (per-channel parameters have "
                          "the single axis C; LayerNorm's and RMSNorm's have the axes of the normalized shape, in "
                          "that order)");
            param_ref<T> r;
            r.data = p.data();
            if constexpr (!std::is_const_v<std::remove_pointer_t<decltype(p.data())>>) r.writable = p.data();
            r.size = p.size();
            r.extents = p.extents().values().data();
            r.present = true;
            return r;
        }
    }
}

/// Throws `nf::extent_error` "<call>: <name> should contain <want> elements not <has>" (PyTorch's
/// wording) unless a present parameter has `want` elements.
template <class T>
void check_length(std::string_view call, const char* name, const param_ref<T>& p, std::size_t want,
                  std::size_t factor = 1) {
    if (p.present && p.size != want)
        nf::detail::raise_extent(std::string(call) + ": " + name + " should contain " + std::to_string(want * factor) +
                                 " elements not " + std::to_string(p.size * factor));
}

/// The input of a forward as a read-only view, whatever the caller passed (tensor or view): the
/// layers compile their kernels for views only, so a program that feeds one layer tensors in
/// some places and views in others compiles each kernel once per layout, not once per kind.
template <Array X>
auto input_view(const X& x) {
    static_assert(FloatingElement<std::remove_const_t<typename X::value_type>>,
                  "normfuse: nn layers take float, double, nf::bf16 or nf::fp16 inputs (integer inputs are not "
                  "normalized by the layers). Fix: convert first, e.g. nf::tensor<float, S> xf = "
                  "nf::cast<float>(x), or write the normalization as an expression over nf::cast<float>(x)");
    return view<const typename X::value_type, typename X::shape_type>(x.data(), x.extents());
}

/// The output of a forward as a writable view.
template <Array X>
auto output_view(X&& out) {
    using A = std::remove_cvref_t<X>;
    static_assert(FloatingElement<std::remove_const_t<typename A::value_type>>,
                  "normfuse: nn layers write float, double, nf::bf16 or nf::fp16 outputs");
    static_assert(!std::is_const_v<std::remove_pointer_t<decltype(out.data())>>,
                  "normfuse: nn layer forward: the output is read-only (a view of const elements or a const "
                  "tensor); pass a writable tensor or view");
    return view<typename A::value_type, typename A::shape_type>(out.data(), out.extents());
}

/// The layers' element types: float and double, and the 16-bit storage types nf::bf16 and nf::fp16,
/// which are read widened to float, computed in float (statistics in double, as for float) and
/// rounded once, on the store.
template <class T>
inline constexpr bool layer_element_v = FloatingElement<T>;

/// `x` as an expression of its compute type: 16-bit elements widened as they are read (exact), so
/// that per-slot coefficients held in float combine with them; float and double unchanged.
template <class X>
auto widened(const X& x) {
    if constexpr (nf::detail::is_half_element_v<std::remove_const_t<typename X::value_type>>)
        return nf::cast<float>(x);
    else
        return x;
}

/// torch.finfo(dtype).eps of an element type: RMSNorm's default eps.
template <class T>
constexpr double machine_epsilon() {
    if constexpr (std::is_same_v<T, bf16>)
        return 0.0078125; // 2^-7
    else if constexpr (std::is_same_v<T, fp16>)
        return 0.0009765625; // 2^-10
    else
        return static_cast<double>(std::numeric_limits<T>::epsilon());
}

/// Read-only view of `data` laid out as the axes `KL` with the extents the array `x` gives them.
template <class KL, class T, class X>
view<T, shape_from<KL>> slot_view(T* data, const X& x) {
    using S = shape_from<KL>;
    const auto kext = nf::detail::restrict_extents<KL, typename X::axes>(x.extents().values());
    return view<T, S>(data, nf::extents<S>::from_all(kext));
}

/// `out = e` with the given choice of stores.
template <class Arch, class Out, class E>
void write(const Out& out, const E& e, store_kind store) {
    nf::assign_expression<Arch>(out.data(), out.extents().values(), e, typename Out::axes{}, store);
}

/// `out = (x - k) * scale + offset` with k, scale and offset given per slot of the kept axes KL
/// (arrays in slot order): the per-slot affine that BatchNorm, InstanceNorm, GroupNorm and
/// LayerNorm end with. When x and out have the same axis order it runs on their canonical slot
/// layout (core/slot_layout.hpp): one kernel for all the layouts that fold to the same shape.
template <class Arch, class KL, class X, class Out, class T>
void apply_slot_affine(const X& x, Out out, const T* k, const T* scale, const T* offset,
                       store_kind store = store_kind::automatic) {
    using XL = typename X::axes;
    if constexpr (!std::is_same_v<KL, nf::detail::slot_kept> && std::is_same_v<XL, typename Out::axes> &&
                  nf::detail::slot_canonical_ok<XL, KL>) {
        apply_slot_affine<Arch, nf::detail::slot_kept>(nf::detail::slot_canonical<KL>(x),
                                                       nf::detail::slot_canonical<KL>(out), k, scale, offset, store);
    } else {
        const auto kv = slot_view<KL>(k, x);
        const auto sv = slot_view<KL>(scale, x);
        const auto ov = slot_view<KL>(offset, x);
        write<Arch>(out, (widened(x) - kv) * sv + ov, store);
    }
}

/// True when the axes `Sub` appear in `XL` in the same order (a parameter laid out as Sub is then
/// laid out as the array's own axes are).
template <class Sub, class XL>
constexpr bool same_order() {
    constexpr auto pos = nf::detail::positions_in<Sub, XL>::value;
    for (std::size_t i = 1; i < pos.size(); ++i)
        if (pos[i] <= pos[i - 1]) return false;
    return true;
}

/// True when the normalized axes NA are the input's trailing axes, in order, and the output has
/// the input's axis order: every slot is then one contiguous row of both (RMSNorm and LayerNorm
/// then evaluate their rows in one pass, see eval/row_local.hpp).
template <class NA, class XL, class OL>
constexpr bool trailing_rows() {
    if constexpr (!std::is_same_v<XL, OL> || !is_subset<NA, XL>) {
        return false;
    } else {
        constexpr auto pos = nf::detail::positions_in<NA, XL>::value;
        for (std::size_t j = 0; j < pos.size(); ++j)
            if (pos[j] != XL::size - pos.size() + j) return false;
        return true;
    }
}

/// Runs a layer whose statistics are per slot (InstanceNorm, GroupNorm, LayerNorm, RMSNorm) as
/// `body(x_part, out_part, first_slot, end_slot, KL2{}, store)`: the statistics of the slots
/// [first_slot, end_slot) are taken from x_part, then out_part is written from them, with the
/// slots of the part laid out as KL2. When x and out share their axis order (and `Canonical`),
/// the parts are canonical slot views (KL2 = slot_kept), so layouts share the kernels; when
/// every slot is a contiguous row (kept axes leading, e.g. LayerNorm over (C, H, W) of NCHW,
/// RMSNorm over C of NLC), the parts are blocks of whole rows of about nf::detail::block_bytes, so the
/// output pass re-reads x from cache instead of memory, one block after another, or spread over
/// the threads (nf::set_num_threads). Otherwise the body runs once over all slots.
template <class KL, bool Canonical, class X, class Out, class Body>
void for_slot_blocks(const X& x, const Out& out, Body&& body) {
    using XL = typename X::axes;
    namespace d = nf::detail;
    if constexpr (Canonical && std::is_same_v<XL, typename Out::axes> && d::slot_canonical_ok<XL, KL>) {
        using CA = d::slot_canonical_axes<XL, KL>;
        const auto xc = d::slot_canonical<KL>(x);
        const auto oc = d::slot_canonical<KL>(out);
        const auto& e = xc.extents().values();
        constexpr bool ends_reduced = std::is_same_v<CA, d::slot_ends_reduced>;
        const std::size_t slots = ends_reduced ? e[0] * e[2] : e[1] * e[3];
        if constexpr (ends_reduced) {
            using V = typename X::value_type;
            const std::size_t row = e[3];
            const std::size_t rows_per_block =
                row == 0 ? slots : std::max<std::size_t>(1, nf::detail::block_bytes / (row * sizeof(V)));
            if (e[1] == 1 && rows_per_block < slots) {
                // Slot s is the row [s * row, (s + 1) * row) of x and of out.
                const std::size_t blocks = (slots + rows_per_block - 1) / rows_per_block;
                const store_kind store =
                    xc.size() * sizeof(V) >= streaming_threshold() ? store_kind::streaming : store_kind::regular;
                using S = shape_from<CA>;
                auto one = [&](std::size_t b) {
                    const std::size_t s0 = b * rows_per_block, s1 = std::min(slots, s0 + rows_per_block);
                    const auto be = nf::extents<S>::from_all({1, 1, s1 - s0, row});
                    body(view<const V, S>(xc.data() + s0 * row, be), view<V, S>(oc.data() + s0 * row, be), s0, s1,
                         d::slot_kept{}, store);
                };
                d::for_each_block(blocks, one);
                return;
            }
        }
        body(xc, oc, std::size_t{0}, slots, d::slot_kept{}, store_kind::automatic);
    } else {
        std::size_t slots = 1;
        constexpr auto pos = d::positions_in<KL, XL>::value;
        for (std::size_t j = 0; j < KL::size; ++j) slots *= x.extents()[pos[j]];
        body(x, out, std::size_t{0}, slots, KL{}, store_kind::automatic);
    }
}

inline std::string dtype_name(std::size_t bytes) {
    return bytes == 4 ? "float" : "double";
}

/// The compile-time rules of a layer's forward: the input and output have the layer's element type
/// (a floating one). Reports each broken rule once and returns false, so that the forward then
/// compiles nothing that would add errors of its own.
template <class Layer, class X, class Out>
constexpr bool forward_types_ok() {
    using T = typename Layer::value_type;
    using XT = std::remove_const_t<typename X::value_type>;
    using OT = std::remove_const_t<typename std::remove_cvref_t<Out>::value_type>;
    static_assert(FloatingElement<XT>,
                  "normfuse: nn layers take float, double, nf::bf16 or nf::fp16 inputs (integer inputs are not "
                  "normalized by the layers). Fix: convert first, e.g. nf::tensor<float, S> xf = "
                  "nf::cast<float>(x), or write the normalization as an expression over nf::cast<float>(x)");
    static_assert(!FloatingElement<XT> || std::is_same_v<XT, T>,
                  "normfuse: nn layer forward: the input's element type is not the layer's (a layer of element "
                  "type T, e.g. nn::layer_norm<nf::bf16, S>, reads and writes T). Fix: build the layer with the "
                  "input's element type, or convert the input into a tensor of T first (t = nf::cast<T>(x))");
    static_assert(!FloatingElement<XT> || !std::is_same_v<XT, T> || std::is_same_v<OT, T>,
                  "normfuse: nn layer forward: the output's element type is not the layer's (a layer of element "
                  "type T writes T). Fix: pass an output of element type T, then assign it to the other type");
    return FloatingElement<XT> && std::is_same_v<XT, T> && std::is_same_v<OT, T>;
}

/// The calls every normalization layer offers, written once: `forward(x, out)` on any tensors or
/// views (the layer's `forward_views` then sees views only, see input_view), `layer(x)` returning
/// a new tensor, and `layer(x, nf::nn::in_place)`.
///
/// Each comes twice. On a mutable layer it is PyTorch's module call: in training mode, BatchNorm and
/// InstanceNorm with running statistics update them. On a `const` layer it is inference: it reads
/// the layer and changes nothing, allocates nothing once the calling thread has seen an input of
/// that size, and any number of threads may make it at once. A const call that would have to
/// update running statistics (training mode with tracking) throws std::logic_error before
/// anything is written. An eval-mode call on a mutable layer also leaves the layer untouched.
///
/// Every member whose body instantiates SIMD code takes the xsimd architecture as its first
/// template parameter (default xsimd::default_arch), so that its mangled name carries the ISA:
/// a kernel compiled for one architecture calls `layer.template forward<Arch>(x, out)`.
template <class Layer>
class layer_calls {
public:
    /// Normalizes `x` into `out` (same axes and extents, any layouts; `out` may be `x`). Every check
    /// runs before anything is written, the layer's own state (running statistics) included.
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out) {
        if constexpr (forward_types_ok<Layer, X, Out>())
            static_cast<Layer&>(*this).template forward_views<Arch>(input_view(x), output_view(out));
    }
    /// Inference on a const layer (see the class comment).
    template <class Arch = xsimd::default_arch, Array X, Array Out>
    void forward(const X& x, Out&& out) const {
        if constexpr (forward_types_ok<Layer, X, Out>())
            static_cast<const Layer&>(*this).template forward_views<Arch>(input_view(x), output_view(out));
    }
    /// Returns the normalized `x` as a new tensor of the same shape.
    template <class Arch = xsimd::default_arch, class U, class S>
    tensor<U, S> operator()(const tensor<U, S>& x) {
        tensor<U, S> out(x.extents());
        this->template forward<Arch>(x, out);
        return out;
    }
    template <class Arch = xsimd::default_arch, class U, class S>
    tensor<U, S> operator()(const tensor<U, S>& x) const {
        tensor<U, S> out(x.extents());
        this->template forward<Arch>(x, out);
        return out;
    }
    /// Normalizes `x` in place and returns it.
    template <class Arch = xsimd::default_arch, Array X>
    X&& operator()(X&& x, in_place_t) {
        this->template forward<Arch>(x, x);
        return std::forward<X>(x);
    }
    template <class Arch = xsimd::default_arch, Array X>
    X&& operator()(X&& x, in_place_t) const {
        this->template forward<Arch>(x, x);
        return std::forward<X>(x);
    }
};

/// The error of a const forward that would update running statistics.
[[noreturn]] inline void raise_const_training(std::string_view layer) {
    nf::detail::raise_logic(std::string(layer) +
                            "::forward: called on a const layer in training mode with running statistics, "
                            "which would update them; call eval() first for inference, or call forward on a "
                            "non-const layer to train");
}

} // namespace detail
} // namespace nf::nn
