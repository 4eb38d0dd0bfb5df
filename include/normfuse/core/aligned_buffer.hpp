// normfuse/core/aligned_buffer.hpp: an owning, 64-byte-aligned, value-initialized array (the storage of nf::tensor).
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <utility>

#include <normfuse/core/config.hpp>
#include <normfuse/core/errors.hpp>

namespace nf::detail {

template <class T>
class aligned_buffer {
public:
    aligned_buffer() = default;
    explicit aligned_buffer(std::size_t n) : data_(allocate(n)), size_(n) { std::fill_n(data_, n, T{}); }
    aligned_buffer(const aligned_buffer& other) : data_(allocate(other.size_)), size_(other.size_) {
        std::copy_n(other.data_, size_, data_);
    }
    aligned_buffer(aligned_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    aligned_buffer& operator=(const aligned_buffer& other) {
        if (this != &other) {
            aligned_buffer copy(other);
            swap(copy);
        }
        return *this;
    }
    aligned_buffer& operator=(aligned_buffer&& other) noexcept {
        aligned_buffer moved(std::move(other));
        swap(moved);
        return *this;
    }
    ~aligned_buffer() { release(data_); }

    void swap(aligned_buffer& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
    }
    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    static T* allocate(std::size_t n) {
        if (n == 0) return nullptr;
        // n * sizeof(T) must not wrap (2^62 + 1 floats would allocate 4 bytes).
        if (n > max_array_elements(sizeof(T))) raise_too_many_bytes("nf::tensor", n, sizeof(T));
        return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{buffer_alignment}));
    }
    static void release(T* p) noexcept {
        if (p) ::operator delete (p, std::align_val_t{buffer_alignment});
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace nf::detail
