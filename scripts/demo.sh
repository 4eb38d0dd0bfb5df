#!/usr/bin/env bash
# Installs what is missing, then builds and runs examples/demo.cpp (Release, tests off).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh demo

cmake -S . -B build/demo -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DNORMFUSE_BUILD_TESTS=OFF \
    -DNORMFUSE_BUILD_EXAMPLES=ON
cmake --build build/demo --target demo --parallel "$(nproc)"
echo
build/demo/examples/demo
