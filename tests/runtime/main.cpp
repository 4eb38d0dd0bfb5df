// The Catch2 main of normfuse_tests; every other file in tests/runtime/ adds test cases to it.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
