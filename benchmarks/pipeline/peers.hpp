// benchmarks/pipeline/peers.hpp: the image preprocessing pipeline's peers, each in its own
// translation unit with its own flags (OpenCV, libtorch), behind one small interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pipeline_bench {

/// A batch of decoded images: n x h x w x 3 uint8, interleaved RGB, and the per-channel mean and
/// std of torchvision's Normalize (in the [0, 1] scale of ToTensor).
struct batch_spec {
    const std::uint8_t* pixels;
    std::size_t n, h, w;
    const float* mean;
    const float* std;
    bool bgr = false; // pixels in BGR order: the output channels are R, G, B (swapRB)
};

/// One implementation of uint8 (N, H, W, 3) -> float (N, 3, H, W), (x / 255 - mean) / std.
class peer {
public:
    virtual ~peer() = default;
    virtual std::string name() const = 0;
    virtual void run() = 0;                  // one batch
    virtual const float* output() const = 0; // (N, 3, H, W), valid after run()
};

#if defined(NF_PIPELINE_HAVE_OPENCV)
/// cv::dnn::blobFromImages (scale 1/255, mean * 255, swapRB = spec.bgr, CV_32F), then each channel
/// plane multiplied by 1 / std with cv::Mat arithmetic.
std::unique_ptr<peer> make_opencv(const batch_spec& spec);
#endif
#if defined(NF_PIPELINE_HAVE_TORCH)
/// ToTensor + Normalize in libtorch: permute to (N, C, H, W), contiguous, to float, div_(255),
/// sub_(mean), div_(std), as torchvision runs them, on one thread.
std::unique_ptr<peer> make_libtorch(const batch_spec& spec);
#endif

} // namespace pipeline_bench
