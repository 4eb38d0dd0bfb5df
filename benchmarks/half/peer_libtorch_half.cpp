// benchmarks/half/peer_libtorch_half.cpp: libtorch's bf16 / fp16 LayerNorm and RMSNorm on the shared buffers.
//
//   layer_norm  at::layer_norm(x, {hidden}, w, b, 1e-5) on kBFloat16 (libtorch 1.13 has no CPU
//               kernel for kHalf: that case is reported as skipped); it allocates its output
//   rms_norm    libtorch 1.13 has no RMSNorm: composed as users write it (Hugging Face's
//               LlamaRMSNorm): v = x.to(float).pow(2).mean(-1, keepdim) ; y = w * (x.to(float) *
//               rsqrt(v + eps)).to(dtype)
// One thread (at::set_num_threads(1) before each call). Results are copied into the shared output
// after the timing, for the check.
#include <memory>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "peers.hpp"

namespace half_bench {

std::vector<impl> libtorch_impls(const buffers& bf) {
    const auto dt = bf.fp16 ? at::kHalf : at::kBFloat16;
    const auto t = static_cast<int64_t>(bf.tokens), h = static_cast<int64_t>(bf.hidden);
    auto opts = at::TensorOptions().dtype(dt);
    auto x = std::make_shared<at::Tensor>(at::from_blob(const_cast<std::uint16_t*>(bf.x), {t, h}, opts));
    auto w = std::make_shared<at::Tensor>(at::from_blob(const_cast<std::uint16_t*>(bf.w), {h}, opts));
    auto b = std::make_shared<at::Tensor>(at::from_blob(const_cast<std::uint16_t*>(bf.b), {h}, opts));
    auto y = std::make_shared<at::Tensor>(at::from_blob(bf.y, {t, h}, opts));
    auto last = std::make_shared<at::Tensor>();
    auto copy_out = [y, last] { y->copy_(*last); };
    std::vector<impl> out;
    if (!bf.fp16)
        out.push_back({"layer_norm", "libtorch at::layer_norm",
                       [x, w, b, last, h] {
                           at::set_num_threads(1);
                           *last = at::layer_norm(*x, {h}, *w, *b, 1e-5);
                       },
                       copy_out});
    const double eps = bf.fp16 ? 0.0009765625 : 0.0078125;
    out.push_back({"rms_norm", "libtorch composed (LlamaRMSNorm)",
                   [x, w, last, dt, eps] {
                       at::set_num_threads(1);
                       const at::Tensor xf = x->to(at::kFloat);
                       const at::Tensor v = xf.pow(2).mean(-1, true);
                       *last = *w * (xf * at::rsqrt(v + eps)).to(dt);
                   },
                   copy_out});
    return out;
}

} // namespace half_bench
