// tests/support/pch.hpp: the headers that most runtime test files include, precompiled once per
// configuration for the whole normfuse_tests program (tests/CMakeLists.txt, NORMFUSE_TEST_PCH).
// Each test file still includes what it uses itself: a build with -DNORMFUSE_TEST_PCH=OFF checks it.
#pragma once

#include "support/warnings.hpp" // first, before <immintrin.h>: see there

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <normfuse/normfuse.hpp>

#include "support/reference.hpp"
#include "support/test_layers_util.hpp"
