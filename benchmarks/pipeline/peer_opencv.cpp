// benchmarks/pipeline/peer_opencv.cpp: the pipeline as OpenCV users write it.
#include "peers.hpp"

#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

namespace pipeline_bench {
namespace {

class opencv_peer final : public peer {
public:
    explicit opencv_peer(const batch_spec& s) : spec_(s) {
        cv::setNumThreads(1);
        const int h = static_cast<int>(s.h), w = static_cast<int>(s.w);
        for (std::size_t i = 0; i < s.n; ++i) // headers over the caller's pixels: no copy
            images_.emplace_back(h, w, CV_8UC3, const_cast<std::uint8_t*>(s.pixels + i * s.h * s.w * 3));
    }
    std::string name() const override {
        return spec_.bgr ? "opencv_blobFromImages BGR swapRB" : "opencv_blobFromImages";
    }
    void run() override {
        const cv::Scalar mean(spec_.mean[0] * 255.0, spec_.mean[1] * 255.0, spec_.mean[2] * 255.0);
        cv::dnn::blobFromImages(images_, blob_, 1.0 / 255.0, cv::Size(), mean, spec_.bgr, false, CV_32F);
        // With swapRB the mean is given in R, G, B order and the planes come out R, G, B.
        // blobFromImages has no std: each (image, channel) plane is scaled by 1 / std in place.
        const int h = static_cast<int>(spec_.h), w = static_cast<int>(spec_.w);
        float* data = blob_.ptr<float>();
        for (std::size_t i = 0; i < spec_.n; ++i)
            for (std::size_t c = 0; c < 3; ++c) {
                cv::Mat plane(h, w, CV_32F, data + (i * 3 + c) * spec_.h * spec_.w);
                plane *= 1.0 / spec_.std[c];
            }
    }
    const float* output() const override { return blob_.ptr<float>(); }

private:
    batch_spec spec_;
    std::vector<cv::Mat> images_;
    cv::Mat blob_;
};

} // namespace

std::unique_ptr<peer> make_opencv(const batch_spec& spec) {
    return std::make_unique<opencv_peer>(spec);
}

} // namespace pipeline_bench
