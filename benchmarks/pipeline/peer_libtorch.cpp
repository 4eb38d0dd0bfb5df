// benchmarks/pipeline/peer_libtorch.cpp: torchvision's ToTensor + Normalize, in libtorch.
#include "peers.hpp"

#include <torch/torch.h>

namespace pipeline_bench {
namespace {

class libtorch_peer final : public peer {
public:
    explicit libtorch_peer(const batch_spec& s) {
        torch::set_num_threads(1);
        const auto n = static_cast<std::int64_t>(s.n), h = static_cast<std::int64_t>(s.h),
                   w = static_cast<std::int64_t>(s.w);
        x_ = torch::from_blob(const_cast<std::uint8_t*>(s.pixels), {n, h, w, 3}, torch::kUInt8);
        mean_ = torch::from_blob(const_cast<float*>(s.mean), {1, 3, 1, 1}, torch::kFloat).clone();
        std_ = torch::from_blob(const_cast<float*>(s.std), {1, 3, 1, 1}, torch::kFloat).clone();
    }
    std::string name() const override { return "libtorch_totensor_normalize"; }
    void run() override {
        torch::NoGradGuard no_grad;
        // ToTensor: HWC -> CHW, contiguous, to float, divided by 255; Normalize: sub_, div_.
        y_ = x_.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat).div_(255);
        y_.sub_(mean_).div_(std_);
    }
    const float* output() const override { return y_.data_ptr<float>(); }

private:
    torch::Tensor x_, mean_, std_, y_;
};

} // namespace

std::unique_ptr<peer> make_libtorch(const batch_spec& spec) {
    return std::make_unique<libtorch_peer>(spec);
}

} // namespace pipeline_bench
