// Reader for the PyTorch reference data in tests/reference/data/*.ref.
#pragma once

#include <charconv>
#include <cstddef>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#ifndef NF_REFERENCE_DIR
#define NF_REFERENCE_DIR "tests/reference/data"
#endif

namespace nf_test {

/// One tensor of a reference file: logical row-major values, widened to double.
/// The widening is exact: a float32 tensor holds exactly PyTorch's float32 values.
struct ref_tensor {
    std::vector<std::size_t> shape; ///< empty for a rank-0 tensor
    std::vector<double> values;     ///< prod(shape) values, row-major
    std::string dtype;              ///< "float32" or "float64": the dtype PyTorch used

    /// Number of elements, i.e. prod(shape) (1 for rank 0).
    [[nodiscard]] std::size_t numel() const noexcept { return values.size(); }
    [[nodiscard]] std::size_t rank() const noexcept { return shape.size(); }
};

/// A parsed .ref file: `param` lines and `tensor` blocks, keyed by name.
struct reference_file {
    std::string path;
    std::map<std::string, std::string> params;
    std::map<std::string, ref_tensor> tensors;

    [[nodiscard]] bool has_tensor(const std::string& name) const { return tensors.find(name) != tensors.end(); }
    [[nodiscard]] bool has_param(const std::string& name) const { return params.find(name) != params.end(); }

    /// The tensor `name`; throws std::runtime_error naming the file if absent.
    [[nodiscard]] const ref_tensor& tensor(const std::string& name) const {
        auto it = tensors.find(name);
        if (it == tensors.end()) {
            throw std::runtime_error("reference file " + path + ": no tensor '" + name + "'");
        }
        return it->second;
    }

    /// The text of param `name`; throws std::runtime_error naming the file if absent.
    [[nodiscard]] std::string param(const std::string& name) const {
        auto it = params.find(name);
        if (it == params.end()) {
            throw std::runtime_error("reference file " + path + ": no param '" + name + "'");
        }
        return it->second;
    }

    /// Param `name` parsed as a number; throws if absent or not a number
    /// (e.g. momentum "none": check param(name) == "none" first).
    [[nodiscard]] double param_double(const std::string& name) const;
};

namespace detail {

[[noreturn]] inline void reference_parse_error(const std::string& path, std::size_t line_no, const std::string& what) {
    throw std::runtime_error("reference file " + path + ":" + std::to_string(line_no) + ": " + what);
}

/// Parses a whole token as a T (float or double). from_chars is locale-independent,
/// rounds correctly and accepts "nan"/"inf", which '%.9g' may print.
template <class T>
inline bool parse_number(std::string_view token, T& out) {
    if (!token.empty() && token.front() == '+') token.remove_prefix(1);
    const char* first = token.data();
    const char* last = token.data() + token.size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last && first != last;
}

inline bool parse_double(std::string_view token, double& out) {
    return parse_number(token, out);
}

/// A value of a tensor of `dtype`. float32 values are printed with 9 digits, which
/// identify the float32 exactly but not as a double: parse them as float, then widen,
/// so that the result is bit-for-bit the float32 PyTorch held.
inline bool parse_value(std::string_view token, bool is_float32, double& out) {
    if (!is_float32) return parse_number(token, out);
    float f = 0.0f;
    if (!parse_number(token, f)) return false;
    out = static_cast<double>(f);
    return true;
}

inline bool parse_size(std::string_view token, std::size_t& out) {
    const char* first = token.data();
    const char* last = token.data() + token.size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last && first != last;
}

inline std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
        if (j > i) tokens.push_back(line.substr(i, j - i));
        i = j;
    }
    return tokens;
}

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

} // namespace detail

inline double reference_file::param_double(const std::string& name) const {
    const std::string text = param(name);
    double value = 0.0;
    if (!detail::parse_double(text, value)) {
        throw std::runtime_error("reference file " + path + ": param '" + name + "' = '" + text + "' is not a number");
    }
    return value;
}

/// Parses the .ref file at `path`; throws std::runtime_error (with path and line)
/// if it cannot be opened or is malformed.
inline reference_file load_reference(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("reference file " + path + ": cannot open");

    reference_file file;
    file.path = path;
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        const std::string_view view = detail::trim(line);
        if (view.empty() || view.front() == '#') continue;
        const auto tokens = detail::split_ws(view);

        if (tokens[0] == "param") {
            if (tokens.size() < 3) detail::reference_parse_error(path, line_no, "param needs a key and a value");
            std::string key(tokens[1]);
            // The value is the rest of the line after the key.
            const std::size_t key_end = static_cast<std::size_t>(tokens[1].data() + tokens[1].size() - view.data());
            std::string value(detail::trim(view.substr(key_end)));
            if (!file.params.emplace(key, std::move(value)).second)
                detail::reference_parse_error(path, line_no, "duplicate param '" + key + "'");
        } else if (tokens[0] == "tensor") {
            if (tokens.size() < 4) detail::reference_parse_error(path, line_no, "tensor needs name, dtype, rank");
            std::string name(tokens[1]);
            ref_tensor t;
            t.dtype = std::string(tokens[2]);
            if (t.dtype != "float32" && t.dtype != "float64")
                detail::reference_parse_error(path, line_no, "tensor '" + name + "': unknown dtype '" + t.dtype + "'");
            std::size_t rank = 0;
            if (!detail::parse_size(tokens[3], rank) || tokens.size() != 4 + rank)
                detail::reference_parse_error(path, line_no,
                                              "tensor '" + name + "': rank does not match the extents given");
            std::size_t count = 1;
            for (std::size_t d = 0; d < rank; ++d) {
                std::size_t extent = 0;
                if (!detail::parse_size(tokens[4 + d], extent))
                    detail::reference_parse_error(path, line_no, "tensor '" + name + "': bad extent");
                t.shape.push_back(extent);
                count *= extent;
            }
            // The values are on the very next line (empty for a zero-size tensor).
            std::string values_line;
            if (!std::getline(in, values_line))
                detail::reference_parse_error(path, line_no, "tensor '" + name + "': missing values line");
            ++line_no;
            const auto value_tokens = detail::split_ws(values_line);
            if (value_tokens.size() != count) {
                detail::reference_parse_error(path, line_no,
                                              "tensor '" + name + "': expected " + std::to_string(count) +
                                                  " values, got " + std::to_string(value_tokens.size()));
            }
            t.values.resize(count);
            const bool is_float32 = t.dtype == "float32";
            for (std::size_t i = 0; i < count; ++i) {
                if (!detail::parse_value(value_tokens[i], is_float32, t.values[i]))
                    detail::reference_parse_error(
                        path, line_no, "tensor '" + name + "': bad value '" + std::string(value_tokens[i]) + "'");
            }
            if (!file.tensors.emplace(name, std::move(t)).second)
                detail::reference_parse_error(path, line_no, "duplicate tensor '" + name + "'");
        } else {
            detail::reference_parse_error(path, line_no, "unknown record '" + std::string(tokens[0]) + "'");
        }
    }
    return file;
}

/// Directory of the .ref files: NF_REFERENCE_DIR, set by CMake to an absolute path.
inline std::string reference_dir() {
    return NF_REFERENCE_DIR;
}

/// Convenience: load_reference(reference_dir() + "/" + case_name + ".ref").
inline reference_file load_reference_case(const std::string& case_name) {
    return load_reference(reference_dir() + "/" + case_name + ".ref");
}

} // namespace nf_test
