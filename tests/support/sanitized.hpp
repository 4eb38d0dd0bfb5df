// tests/support/sanitized.hpp: NF_TEST_SANITIZED is 1 in a build with AddressSanitizer (the
// sanitize configuration of scripts/test.sh, clang++ -O0), else 0. A few tests use it to run
// smaller sizes or fewer instantiations there, where each costs many times more to compile and
// to run; the full sets run in the optimized build. Each use says what it leaves out.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define NF_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NF_TEST_SANITIZED 1
#endif
#endif
#if !defined(NF_TEST_SANITIZED)
#define NF_TEST_SANITIZED 0
#endif
