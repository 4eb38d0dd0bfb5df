// The consumer's kernel: per-channel normalization of an NCHW batch, compiled once per
// instruction set by normfuse_add_dispatched_sources() (kernel.cpp).
#pragma once

#include <normfuse/normfuse.hpp>

#include <string_view>

using nchw = nf::shape<nf::axes::N<>, nf::axes::C<>, nf::axes::H<>, nf::axes::W<>>;

template <class Arch>
struct standardize {
    std::string_view operator()(const nf::tensor<float, nchw>& x, nf::tensor<float, nchw>& y) const;
};
NF_DISPATCH_DECLARE(standardize)
