// Runtime test that every PyTorch reference case in tests/reference/data/ is run by some test:
// the layer tests pick their cases by file-name prefix, so a new file with a new prefix (or a
// layer under a prefix that does not run it) would otherwise go untested without a sound.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "support/test_layers_util.hpp"

namespace {
/// The `param layer` of files that hold no layer's case (nf::gradient's expressions).
const char* const no_layer = "(none)";

/// Prefix -> the `param layer` its files must have -> the test file that runs them.
struct claim {
    const char* prefix;
    std::vector<std::string> layers;
    const char* runner;
};
const std::vector<claim>& claims() {
    static const std::vector<claim> c{
        {"batchnorm", {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}, "test_layers_batch_norm.cpp"},
        {"offset1e6_batchnorm", {"BatchNorm2d"}, "test_layers_batch_norm.cpp"},
        {"instancenorm", {"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"}, "test_layers_instance_norm.cpp"},
        {"layernorm_", {"LayerNorm"}, "test_layers_layer_norm.cpp"},
        {"offset1e6_layernorm", {"LayerNorm"}, "test_layers_layer_norm.cpp"},
        {"groupnorm_", {"GroupNorm"}, "test_layers_group_norm.cpp"},
        {"offset1e6_groupnorm", {"GroupNorm"}, "test_layers_group_norm.cpp"},
        {"rmsnorm_", {"RMSNorm"}, "test_layers_rms_norm.cpp"},
        {"normalize_", {"Normalize"}, "test_normalize.cpp"},
        {"uint8_normalize_", {"Normalize"}, "test_dtypes.cpp"},
        {"conversions", {"Conversion"}, "test_half.cpp"},
        {"uint8_bgr_roi_", {"Normalize"}, "test_strided_view.cpp"},
        {"half_", {"BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm", "Normalize"}, "test_layers_half.cpp"},
        {"backward_batchnorm", {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}, "test_backward_batch_norm.cpp"},
        {"backward_offset1e4_batchnorm", {"BatchNorm2d"}, "test_backward_batch_norm.cpp"},
        {"backward_offset1e6_batchnorm", {"BatchNorm2d"}, "test_backward_batch_norm.cpp"},
        {"backward_instancenorm",
         {"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"},
         "test_backward_batch_norm.cpp"},
        {"backward_layernorm_", {"LayerNorm"}, "test_backward_rows.cpp"},
        {"backward_offset1e4_layernorm", {"LayerNorm"}, "test_backward_rows.cpp"},
        {"backward_offset1e6_layernorm", {"LayerNorm"}, "test_backward_rows.cpp"},
        {"backward_rmsnorm_", {"RMSNorm"}, "test_backward_rows.cpp"},
        {"backward_groupnorm_", {"GroupNorm"}, "test_backward_rows.cpp"},
        {"gradient_", {no_layer}, "test_gradient.cpp"}, // expressions, not layers
    };
    return c;
}
} // namespace

TEST_CASE("coverage: every reference case is run by exactly one layer test", "[layers][coverage]") {
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(nf_test::reference_dir())) {
        if (entry.path().extension() != ".ref") continue;
        ++files;
        const std::string name = entry.path().stem().string();
        CAPTURE(name);
        std::vector<const claim*> by;
        for (const auto& c : claims())
            if (name.rfind(c.prefix, 0) == 0) by.push_back(&c);
        REQUIRE(by.size() == 1);
        const auto r = nf_test::load_reference_case(name);
        const auto& layers = by.front()->layers;
        INFO("run by " << by.front()->runner);
        const std::string layer = r.has_param("layer") ? r.param("layer") : no_layer;
        CHECK(std::find(layers.begin(), layers.end(), layer) != layers.end());
    }
    CHECK(files == 140);
}
