#!/usr/bin/env bash
# Installs the Debian packages that normfuse needs, only those that are missing.
#
#   scripts/deps.sh demo    compiler, CMake, Ninja, Boost, xsimd: enough for scripts/demo.sh
#   scripts/deps.sh test    + clang and Catch2: scripts/test.sh
#   scripts/deps.sh bench   + the libraries the benchmarks compare against
#
# Works from a minimal Debian 12 (bookworm) system. Runs apt-get as root, or through sudo.
set -euo pipefail

# xtl-dev: Debian's xsimd CMake package refers to xtl's target without depending on it
# (see CMakeLists.txt).
demo_packages=(g++ cmake ninja-build libboost1.81-dev libxsimd-dev xtl-dev)
# libclang-rt-14-dev: clang's sanitizer and libFuzzer runtimes (the sanitize and tsan configurations
# and the libFuzzer target are built with clang); libomp-14-dev: OpenMP for clang; clang-format: the
# format test; lld: the linker of the sanitizer configurations (5x faster than ld.bfd on their
# debug-info-laden test programs); libopenmpi-dev, openmpi-bin: the MPI component and its tests
# under mpirun.
test_packages=("${demo_packages[@]}" clang catch2 libclang-rt-14-dev libomp-14-dev clang-format lld libopenmpi-dev
               openmpi-bin)
# ocl-icd-opencl-dev: Debian's dnnl CMake package needs OpenCL, which libdnnl-dev only recommends.
# libtorch-dev: libtorch's headers and CMake package (python3-torch only recommends it).
# libopencv-dev: cv::dnn::blobFromImages, the image pipeline's peer (benchmarks/pipeline).
bench_packages=("${test_packages[@]}" libbenchmark-dev libeigen3-dev xtensor-dev libdnnl-dev ocl-icd-opencl-dev
                python3-torch libtorch-dev libopencv-dev)

case "${1:-}" in
    demo) wanted=("${demo_packages[@]}") ;;
    test) wanted=("${test_packages[@]}") ;;
    bench) wanted=("${bench_packages[@]}") ;;
    *)
        echo "usage: $0 demo|test|bench" >&2
        exit 2
        ;;
esac

missing=()
for package in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ $status != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps.sh: all packages for '$1' are installed"
    exit 0
fi

if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
"${as_root[@]}" apt-get update
# `env` rather than an exported variable: sudo would drop it from the environment.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
