#!/usr/bin/env bash
# Runs normfuse's benchmark suites and writes the tables and chart of docs/bench/ from that run.
# Not part of the test command (scripts/test.sh): it takes minutes and wants a quiet machine.
#
#   scripts/bench.sh                  install, build, full run, docs/bench/results.md + ratios.svg,
#                                     then the compile-time benchmark (docs/bench/compile_time.md)
#   scripts/bench.sh --quick          fewer repetitions and a shorter minimum time (for development)
#   scripts/bench.sh --only LIST      the suites to run, comma-separated (default all of them):
#                                       main      normfuse_bench: forward layers, DSL, dispatch, peers
#                                       backward  normfuse_bench_backward: backward passes, their floor,
#                                                 oneDNN, libtorch
#                                       gradient  normfuse_bench_gradient: nf::gradient against a
#                                                 hand-written backward
#                                       half      normfuse_bench_half: bf16 / fp16 LayerNorm, RMSNorm
#                                       pipeline  normfuse_bench_pipeline: uint8 images, layout change
#   scripts/bench.sh --filter REGEX   only the benchmarks whose name matches (Google Benchmark syntax;
#                                     applies to the Google Benchmark suites: main, backward, gradient)
#   scripts/bench.sh --repetitions N --min-time SECONDS
#                                     (half and pipeline: N rounds of their own drivers, at least 5)
#   scripts/bench.sh --no-compile-time | --compile-time-only | --no-deps | --jobs N
#   scripts/bench.sh --arch "-mavx2 -mfma"   the instruction set of the whole suite (normfuse, the
#                                     floors, the hand-written loops, the peers): default native;
#                                     "baseline" for no -m flag (SSE2). Builds in build/bench-<arch>.
#   scripts/bench.sh --build-only     configure and build the selected suites, run nothing (to check
#                                     that an instruction set builds)
#   scripts/bench.sh --out DIR        where the report goes (default docs/bench)
#   scripts/bench.sh --nf-arch LEVEL  caps the level of the dispatched build ("normfuse_dispatch":
#                                     sse2, avx2 or avx512) by running with NF_ARCH=LEVEL; an NF_ARCH
#                                     already in the environment does the same
#
# The report says which machine and which instruction set its tables are from: the CPU model
# (lscpu), the ISA the kernels and normfuse were compiled for (as the binary reports it, and the
# compiler's predefined macros for the suite's flags), the cache sizes (sysfs) and the last-level
# cache size normfuse detected with its source (sysfs, cpuid or sysconf), next to what getconf says,
# and the load average before and after each suite.
#
# The method (see docs/performance.md): every implementation of a suite runs in one process, in one
# run; Google Benchmark repeats each benchmark N times with random interleaving (so slow drifts of
# the machine spread over all implementations) and reports the median; the half and pipeline
# drivers run every implementation once per round in a rotated order and report medians.
# scripts/plot_bench.py divides medians of that same run. The raw results of every suite are kept
# in docs/bench/results.json (scripts/bench_suites.py merges them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

repetitions=7
min_time=0.1
filter=""
run_compile_time=1
run_suite=1
install=1
arch=native
out=docs/bench
only=main,backward,gradient,half,pipeline
build_only=0
jobs=$(nproc)
while (($#)); do
    case $1 in
        --quick) repetitions=3 min_time=0.05 ;;
        --filter) filter=$2; shift ;;
        --repetitions) repetitions=$2; shift ;;
        --min-time) min_time=$2; shift ;;
        --no-compile-time) run_compile_time=0 ;;
        --compile-time-only) run_suite=0 ;;
        --no-deps) install=0 ;;
        --arch) arch=$2; shift ;;
        --out) out=$2; shift ;;
        --only) only=$2; shift ;;
        --build-only) build_only=1 ;;
        --jobs) jobs=$2; shift ;;
        --nf-arch) export NF_ARCH=$2; shift ;;
        -h|--help) sed -n '2,44p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
declare -A suite_target=([main]=normfuse_bench [backward]=normfuse_bench_backward [gradient]=normfuse_bench_gradient
                         [half]=normfuse_bench_half [pipeline]=normfuse_bench_pipeline)
IFS=, read -r -a suites <<<"$only"
targets=()
for suite in "${suites[@]}"; do
    [[ -n ${suite_target[$suite]:-} ]] || { echo "bench.sh: unknown suite '$suite' in --only (main, backward, gradient, half, pipeline)" >&2; exit 2; }
    targets+=("${suite_target[$suite]}")
done
selected() { [[ ",$only," == *",$1,"* ]]; }

bench_packages=(g++ clang cmake ninja-build libboost1.81-dev libxsimd-dev xtl-dev libbenchmark-dev
                libeigen3-dev xtensor-dev libdnnl-dev python3-torch libtorch-dev libopencv-dev time python3)
if ((install)); then
    if [[ -f scripts/deps.sh ]] && grep -q 'bench)' scripts/deps.sh; then
        bash scripts/deps.sh bench
    fi
    # Whatever deps.sh does not cover (yet): the peers, GNU time for the compile-time benchmark.
    missing=()
    for package in "${bench_packages[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true) == "install ok installed" ]] ||
            missing+=("$package")
    done
    if ((${#missing[@]})); then
        echo "bench.sh: installing ${missing[*]}"
        as_root=()
        ((EUID == 0)) || as_root=(sudo)
        "${as_root[@]}" apt-get update
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

mkdir -p "$out"
build=build/bench
arch_args=()
case $arch in
    native) arch_args=(-DNORMFUSE_NATIVE=ON "-DNORMFUSE_ARCH_FLAGS=") ;;
    baseline) build+=-baseline arch_args=(-DNORMFUSE_NATIVE=OFF "-DNORMFUSE_ARCH_FLAGS=") ;;
    *) build+=-$(tr -c 'a-zA-Z0-9\n' '_' <<<"$arch" | sed 's/^_*//') arch_args=("-DNORMFUSE_ARCH_FLAGS=$arch") ;;
esac

if ((run_suite)); then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S . -B "$build" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DNORMFUSE_BUILD_BENCHMARKS=ON \
        -DNORMFUSE_BUILD_TESTS=OFF -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_INSTALL=OFF "${arch_args[@]}"
    cmake --build "$build" --target "${targets[@]}" --parallel "$jobs"
    if ((build_only)); then
        echo "bench.sh: built ${targets[*]} in $build"
        exit 0
    fi

    # What the report says about the run, passed to Google Benchmark as context (commas would
    # split the list, so they are replaced; Google Benchmark rejects a second '=' in an entry, as
    # in -march=native, so '=' is written %3D, which scripts/plot_bench.py decodes).
    clean() { tr ',\n' ';;' <<<"$1" | sed 's/;*$//; s/  */ /g; s/=/%3D/g'; }
    machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
    revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if ! git diff --quiet HEAD -- include 2>/dev/null || [[ -n $(git ls-files --others --exclude-standard include 2>/dev/null) ]]; then
        revision+=" + uncommitted changes in include/"
    fi
    missing_peers=$(sed -n 's/^missing: *//p' "$build/benchmarks/peers.txt" 2>/dev/null || true)
    l3=$(getconf LEVEL3_CACHE_SIZE 2>/dev/null || echo 0)
    # The instruction set the suite's flags give: the compiler's own predefined macros for them.
    arch_flags=${arch/#native/-march=native}
    [[ $arch_flags != baseline ]] || arch_flags=""
    cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
    # shellcheck disable=SC2086 # the flags are words
    isa=$("${cxx:-c++}" $arch_flags -dM -E -x c++ /dev/null 2>/dev/null |
        sed -n 's/^#define __\(SSE2\|SSE4_2\|AVX\|AVX2\|FMA\|F16C\|AVX512F\|AVX512BW\|AVX512VL\|AVX512BF16\|AVX512FP16\)__ 1$/\1/p' |
        sort | tr 'A-Z\n' 'a-z ' | sed 's/ $//')
    context="nf_machine=$(clean "$machine"),nf_normfuse_revision=$(clean "$revision")"
    context+=",nf_interleaving=on,nf_min_time=$min_time,nf_l3_reported=$((l3 / 1048576)) MiB"
    context+=",nf_arch_flags=$(clean "${arch_flags:-(none: baseline)}"),nf_isa_compiled=$(clean "${isa:-unknown}")"
    context+=",nf_cxx=$(clean "$("${cxx:-c++}" --version 2>/dev/null | head -n 1)")"
    [[ -z $missing_peers ]] || context+=",nf_missing_peers=$(clean "$missing_peers")"
    context+=",nf_dispatch_cap=${NF_ARCH:-unset}"

    # The half and pipeline drivers take a number of rounds: the repetitions, at least 5 (medians).
    rounds=$((repetitions < 5 ? 5 : repetitions))
    collect=(python3 scripts/bench_suites.py collect --context "$context" --out "$build/results.json")
    load() { cut -d' ' -f1-3 /proc/loadavg; }
    gbench() { # suite executable
        local suite=$1 exe=$2 before
        before=$(load)
        echo "bench.sh: $suite: $(grep -c . <<<"$("$exe" --benchmark_list_tests ${filter:+--benchmark_filter="$filter"})") benchmarks," \
            "$repetitions repetitions, min time $min_time s; load average $before"
        local start=$SECONDS status=0
        rm -f "$build/$suite.json" # a failed run must not leave the previous run's results
        "$exe" \
            --benchmark_enable_random_interleaving=true \
            --benchmark_repetitions="$repetitions" \
            --benchmark_min_time="$min_time" \
            --benchmark_report_aggregates_only=true \
            --benchmark_out="$build/$suite.json" --benchmark_out_format=json \
            --benchmark_context="$context,nf_load_before=$before" \
            ${filter:+--benchmark_filter="$filter"} || status=$?
        echo "bench.sh: $suite took $((SECONDS - start)) s"
        collect+=(--gbench "$suite" "$build/$suite.json" "$before" "$(load)" "$status")
    }
    driver() { # suite command... (a driver of its own that prints Markdown tables)
        local suite=$1 before start=$SECONDS status=0
        shift
        before=$(load)
        echo "bench.sh: $suite: $* ($rounds rounds); load average $before"
        "$@" >"$build/$suite.txt" || status=$?
        cat "$build/$suite.txt"
        echo "bench.sh: $suite took $((SECONDS - start)) s (exit status $status)"
        collect+=(--text "$suite" "$build/$suite.txt" "$before" "$(load)" "$status" "$*")
    }
    bin=$build/benchmarks
    ! selected main || gbench main "$bin/normfuse_bench"
    # oneDNN's OpenMP on one thread, as normfuse and libtorch (at::set_num_threads(1)).
    ! selected backward || OMP_NUM_THREADS=1 gbench backward "$bin/normfuse_bench_backward"
    ! selected gradient || gbench gradient "$bin/normfuse_bench_gradient"
    ! selected half || driver half "$bin/half/normfuse_bench_half" --rounds "$rounds"
    ! selected pipeline || driver pipeline "$bin/pipeline/normfuse_bench_pipeline" 32 224 224 "$rounds"

    "${collect[@]}"
    cp "$build/results.json" "$out/results.json"
    python3 scripts/plot_bench.py "$out/results.json" --out "$out"
fi

if ((run_compile_time)); then
    bash benchmarks/compile_time/run.sh
fi
