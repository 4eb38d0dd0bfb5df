#!/usr/bin/env bash
# Runs normfuse's benchmark suite and writes the tables and chart of docs/bench/ from that run.
# Not part of the test command (scripts/test.sh): it takes minutes and wants a quiet machine.
#
#   scripts/bench.sh                  install, build, full run, docs/bench/results.md + ratios.svg,
#                                     then the compile-time benchmark (docs/bench/compile_time.md)
#   scripts/bench.sh --quick          fewer repetitions and a shorter minimum time (for development)
#   scripts/bench.sh --filter REGEX   only the benchmarks whose name matches (Google Benchmark syntax)
#   scripts/bench.sh --repetitions N --min-time SECONDS
#   scripts/bench.sh --no-compile-time | --compile-time-only | --no-deps
#   scripts/bench.sh --arch "-mavx2 -mfma"   the instruction set of the whole suite (normfuse, the
#                                     floors, the hand-written loops, the peers): default native;
#                                     "baseline" for no -m flag (SSE2). Builds in build/bench-<arch>.
#   scripts/bench.sh --out DIR        where the report goes (default docs/bench)
#   scripts/bench.sh --nf-arch LEVEL  caps the level of the dispatched build ("normfuse_dispatch":
#                                     sse2, avx2 or avx512) by running with NF_ARCH=LEVEL; an NF_ARCH
#                                     already in the environment does the same
#
# The report says which machine and which instruction set its tables are from: the CPU model
# (lscpu), the ISA the kernels and normfuse were compiled for (as the binary reports it), and the
# last-level cache size normfuse detected with its source (sysfs, cpuid or sysconf), next to what
# getconf says.
#
# The method (see docs/performance.md): every implementation runs in one process, in one run;
# Google Benchmark repeats each benchmark N times with random interleaving (so slow drifts of the
# machine spread over all implementations) and reports the median; scripts/plot_bench.py divides
# medians of that same run. The raw JSON is kept in docs/bench/results.json.
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
        --nf-arch) export NF_ARCH=$2; shift ;;
        -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

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
    cmake --build "$build" --target normfuse_bench --parallel "$(nproc)"

    # What the report says about the run, passed to Google Benchmark as context (commas would
    # split the list, so they are replaced; Google Benchmark rejects a second '=' in an entry, as
    # in -march=native, so '=' is written %3D, which scripts/plot_bench.py decodes).
    clean() { tr ',\n' ';;' <<<"$1" | sed 's/;*$//; s/  */ /g; s/=/%3D/g'; }
    machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
    revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if ! git diff --quiet HEAD -- include 2>/dev/null || [[ -n $(git ls-files --others --exclude-standard include 2>/dev/null) ]]; then
        revision+=" + uncommitted changes in include/"
    fi
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    missing_peers=$(sed -n 's/^missing: *//p' "$build/benchmarks/peers.txt" 2>/dev/null || true)
    l3=$(getconf LEVEL3_CACHE_SIZE 2>/dev/null || echo 0)
    context="nf_machine=$(clean "$machine"),nf_normfuse_revision=$(clean "$revision"),nf_load_before=$load_before"
    context+=",nf_interleaving=on,nf_min_time=$min_time,nf_l3_reported=$((l3 / 1048576)) MiB"
    context+=",nf_arch_flags=$(clean "${arch/#native/-march=native}")"
    [[ -z $missing_peers ]] || context+=",nf_missing_peers=$(clean "$missing_peers")"
    context+=",nf_dispatch_cap=${NF_ARCH:-unset}"

    echo "bench.sh: $(grep -c . <<<"$("$build/benchmarks/normfuse_bench" --benchmark_list_tests ${filter:+--benchmark_filter="$filter"})") benchmarks," \
        "$repetitions repetitions, min time $min_time s; load average $load_before"
    json=$build/results.json
    start=$SECONDS
    "$build/benchmarks/normfuse_bench" \
        --benchmark_enable_random_interleaving=true \
        --benchmark_repetitions="$repetitions" \
        --benchmark_min_time="$min_time" \
        --benchmark_report_aggregates_only=true \
        --benchmark_out="$json" --benchmark_out_format=json \
        --benchmark_context="$context" \
        ${filter:+--benchmark_filter="$filter"}
    echo "bench.sh: the suite took $((SECONDS - start)) s"

    # The load after the run, into the JSON's context, so that the report can show both.
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    python3 - "$json" "$load_after" <<'EOF'
import json, sys
path, load = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = json.load(f)
doc.setdefault("context", {})["nf_load_after"] = load
# One benchmark per line: a small file whose diffs between runs stay readable.
with open(path, "w") as f:
    f.write('{\n "context": ' + json.dumps(doc["context"], indent=1).replace("\n", "\n ") + ',\n "benchmarks": [\n')
    f.write(",\n".join("  " + json.dumps(b) for b in doc.get("benchmarks", [])))
    f.write("\n ]\n}\n")
EOF
    cp "$json" "$out/results.json"
    python3 scripts/plot_bench.py "$out/results.json" --out "$out"

    # The image pipeline and the layout change (benchmarks/pipeline): its own executable and table.
    cmake --build "$build" --target normfuse_bench_pipeline --parallel "$(nproc)"
    {
        echo "# Image preprocessing pipeline and layout change"
        echo
        echo "Written by scripts/bench.sh from one run of normfuse_bench_pipeline (benchmarks/pipeline/pipeline.cpp)"
        echo "on $machine, normfuse $revision, built with ${arch/#native/-march=native}; one thread."
        echo
        "$build/benchmarks/pipeline/normfuse_bench_pipeline"
    } >"$out/pipeline.md"
fi

if ((run_compile_time)); then
    bash benchmarks/compile_time/run.sh
fi
