// normfuse/eval/scratch.hpp: the scratch arena of one assignment (hoisted per-channel values, tiled operands).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include <normfuse/core/config.hpp>
#include <normfuse/core/errors.hpp>

namespace nf::detail {

/// Hands out aligned blocks that live as long as one assignment. The first `inline_scratch_bytes`
/// come from the stack, so per-channel work of ordinary layers never touches the heap.
class scratch_arena {
public:
    scratch_arena() = default;
    scratch_arena(const scratch_arena&) = delete;
    scratch_arena& operator=(const scratch_arena&) = delete;

    template <class T>
    T* allocate(std::size_t count) {
        // count * sizeof(T), rounded up, must not wrap into a small block.
        if (count > max_array_elements(sizeof(T))) raise_too_many_bytes("normfuse scratch space", count, sizeof(T));
        const std::size_t bytes = (count * sizeof(T) + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
        if (bytes == 0) return nullptr;
        if (used_ + bytes <= inline_scratch_bytes) {
            T* p = reinterpret_cast<T*>(storage_ + used_);
            used_ += bytes;
            return p;
        }
        overflow_.emplace_back(static_cast<std::byte*>(::operator new (bytes, std::align_val_t{buffer_alignment})));
        return reinterpret_cast<T*>(overflow_.back().get());
    }

private:
    struct aligned_delete {
        void operator()(std::byte* p) const noexcept { ::operator delete (p, std::align_val_t{buffer_alignment}); }
    };
    alignas(buffer_alignment) std::byte storage_[inline_scratch_bytes];
    std::size_t used_ = 0;
    std::vector<std::unique_ptr<std::byte, aligned_delete>> overflow_;
};

} // namespace nf::detail
