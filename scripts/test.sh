#!/usr/bin/env bash
# The full test suite, as CI runs it: installs what is missing, then configures, builds and
# tests three configurations, and ends with the line "N passed, M failed" summed over them.
# `scripts/test.sh sanitize tsan` runs only the configurations named.
#
#   build/gcc       g++ -O2, -march=native (AVX-512 on an AVX-512 machine): every test, the
#                   examples and docs programs, the header-alone and find_package tests, and the
#                   MPI tests under mpirun with 1 to 4 ranks (the other configurations leave them
#                   out: NORMFUSE_MPI_TESTS=OFF)
#   build/sanitize  clang++ -O0 with AddressSanitizer and UndefinedBehaviorSanitizer, -Werror:
#                   the runtime tests built for AVX2+FMA (-mavx2 -mfma when the CPU has them), the
#                   static and compile-fail tests (clang's diagnostics), the ODR and dispatch tests,
#                   and the fuzzer built for the baseline x86-64 ISA (SSE2): its bounded campaign
#                   and a short libFuzzer run. With build/gcc, one run covers the AVX-512, AVX2+FMA
#                   and SSE2 code paths, and both compilers.
#   build/tsan      clang++ -O1 with ThreadSanitizer: one layer shared by 4 threads (tests/tsan) and
#                   the fuzzer's cases with one and two threads
#
# A configuration whose build fails still runs its tests, so that one broken file does not
# hide the state of everything else: the tests of the targets that did not build fail and show
# the compiler's error. Exits with 1 if anything failed.
set -uo pipefail # no -e: a failure is counted and reported, not fatal
only=("$@")
for name in "${only[@]}"; do
    case $name in
        gcc | sanitize | tsan) ;;
        *) echo "usage: $0 [gcc|sanitize|tsan]..." >&2; exit 2 ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

bash scripts/deps.sh test || exit 1

jobs=$(nproc)

# Any sanitizer finding aborts the test. (Only the sanitizer build's binaries read these.)
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

total_passed=0
total_failed=0
summaries=()

# run_config <name> <build dir> <cmake arguments...>
run_config() {
    local name=$1 dir=$2
    shift 2
    if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then
        return
    fi
    local start=$SECONDS
    local passed=0 failed=0 skipped=0 note=""

    echo
    echo "=== $name: configure ($dir)"
    if ! cmake -S . -B "$dir" -G Ninja "$@"; then
        record "$name" 0 1 0 "configure failed" "$start"
        return
    fi

    echo
    echo "=== $name: build"
    local build_ok=1
    # -k 0: keep going past errors, to report every broken file at once.
    cmake --build "$dir" --parallel "$jobs" -- -k 0 || build_ok=0

    echo
    echo "=== $name: test"
    local log="$dir/ctest-output.log"
    ctest --test-dir "$dir" --output-on-failure --parallel "$jobs" --timeout 600 2>&1 |
        tee "$log"

    # CTest's summary line is "<p>% tests passed, <f> tests failed out of <t>". It counts
    # skipped tests as passed, so they are taken out using the list of tests that did not run.
    local summary
    summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [[ -z $summary ]]; then
        failed=1
        note="no test results"
    else
        local total
        failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
        total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
        skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .* \((Skipped|Disabled)\)$' "$log")
        passed=$((total - failed - skipped))
    fi
    if ((!build_ok)); then
        note="build failed"
        # Every target is covered by some test, so a failed build normally shows up as failed
        # tests; count it on its own only if it did not.
        ((failed > 0)) || failed=1
    fi
    record "$name" "$passed" "$failed" "$skipped" "$note" "$start"
}

# record <name> <passed> <failed> <skipped> <note> <start time>
record() {
    local line="$1: $2 passed, $3 failed, $4 skipped in $((SECONDS - $6))s"
    [[ -z $5 ]] || line+=" ($5)"
    summaries+=("$line")
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
}

release_flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG")

run_config gcc build/gcc -DCMAKE_CXX_COMPILER=g++ "${release_flags[@]}"
# Debug build type at -O0 -g1: assertions stay on, and -g1 gives file:line in the reports at a
# fraction of the compile time of full debug info. clang at -O0: instrumentation is cheapest to
# compile there (g++ 12 needed twice clang's time for a test file under ASan+UBSan at -O0, and 3x
# more again at -O1: the template-heavy code inlines into huge instrumented functions). The runtime
# tests are built for AVX2+FMA when this CPU runs them (NORMFUSE_ARCH_FLAGS; else for the baseline
# ISA), the fuzzer for the baseline x86-64 ISA, SSE2 (NORMFUSE_FUZZ_BASELINE_ISA): the 8-lane and
# 4-lane code paths, whose loop tails differ from the 16-lane AVX-512 ones of build/gcc.
sanitize_arch=
grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && sanitize_arch="-mavx2 -mfma"
# lld links the instrumented programs with their line tables several times faster than ld.bfd.
sanitizer_link=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
run_config sanitize build/sanitize -DCMAKE_CXX_COMPILER=clang++ "${sanitizer_link[@]}" \
    -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
    -DNORMFUSE_NATIVE=OFF "-DNORMFUSE_ARCH_FLAGS=$sanitize_arch" -DNORMFUSE_FUZZ_BASELINE_ISA=ON \
    -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_HEADER_AND_PACKAGE_TESTS=OFF -DNORMFUSE_MPI_TESTS=OFF
# ThreadSanitizer: tests/tsan/shared_layer.cpp (a layer of each kind shared by 4 threads in eval
# mode) and the fuzzer's 2-thread cases (tests/fuzz, fuzz.tsan), without OpenMP (NORMFUSE_TSAN_ONLY).
# -O1: TSan's recommended level, and -O0 would be slow to run. Baseline ISA, no examples.
run_config tsan build/tsan -DCMAKE_CXX_COMPILER=clang++ "${sanitizer_link[@]}" \
    -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
    "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" \
    -DNORMFUSE_WERROR=OFF -DNORMFUSE_NATIVE=OFF -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_TSAN_ONLY=ON \
    -DNORMFUSE_MPI_TESTS=OFF

echo
echo "=== summary"
printf '%s\n' "${summaries[@]}"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
