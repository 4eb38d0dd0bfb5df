#!/usr/bin/env bash
# A longer campaign of normfuse's differential fuzzer (tests/fuzz/README.md). Not part of the test
# command, which runs a bounded one (the ctest test fuzz.bounded).
#
#   scripts/fuzz.sh --minutes 30                 g++ -O2 -march=native build, half the time with one
#                                                thread per case, half with one and two compared
#   scripts/fuzz.sh --minutes 30 --sanitize      the same under ASan + UBSan (clang++ -O0, SSE2 paths,
#                                                as the test command's sanitize configuration)
#   scripts/fuzz.sh --minutes 30 --libfuzzer     clang's libFuzzer with ASan + UBSan, corpus in
#                                                build/fuzz-corpus
#   --seed S          first seed of the seed-driven campaign (default: from the clock, printed)
#   --exclude LIST    case families to leave out (default: none; `known` names the issue-15 defect
#                     families, all fixed now, to fuzz an older checkout)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=30
mode=gcc
seed=$(date +%s)
exclude=
while (($#)); do
    case $1 in
        --minutes) minutes=$2; shift ;;
        --sanitize) mode=sanitize ;;
        --libfuzzer) mode=libfuzzer ;;
        --seed) seed=$2; shift ;;
        --exclude) exclude=$2; shift ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $exclude != none ]] || exclude=""
bash scripts/deps.sh test # compilers, clang's sanitizer and libFuzzer runtimes, libomp
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')

case $mode in
    gcc)
        dir=build/fuzz-gcc
        cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release \
            "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_FUZZER=ON >/dev/null
        ;;
    sanitize)
        dir=build/fuzz-sanitize
        export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
        export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
        cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
            "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" \
            "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
            -DNORMFUSE_WERROR=OFF -DNORMFUSE_COMPILE_ONLY_TESTS=OFF -DNORMFUSE_NATIVE=OFF \
            -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_FUZZER=ON -DNORMFUSE_FUZZ_FEW_LAYOUTS=OFF >/dev/null
        ;;
    libfuzzer)
        dir=build/fuzz-libfuzzer
        export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
        export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
        cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
            "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" \
            "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
            -DNORMFUSE_WERROR=OFF -DNORMFUSE_LIBFUZZER=ON -DNORMFUSE_FUZZER=ON -DNORMFUSE_COMPILE_ONLY_TESTS=OFF \
            -DNORMFUSE_BUILD_EXAMPLES=OFF -DNORMFUSE_FUZZ_FEW_LAYOUTS=OFF >/dev/null
        cmake --build "$dir" --target normfuse_fuzz_libfuzzer
        mkdir -p build/fuzz-corpus
        echo "fuzz.sh: libFuzzer for $minutes min (NF_FUZZ_EXCLUDE=$exclude)"
        NF_FUZZ_EXCLUDE=$exclude "$dir/tests/fuzz/normfuse_fuzz_libfuzzer" -max_total_time="$seconds" \
            -max_len=512 -timeout=60 -rss_limit_mb=4096 build/fuzz-corpus
        exit
        ;;
esac

cmake --build "$dir" --target normfuse_fuzz
half=$((seconds / 2))
status=0
for threads in 1 2; do
    echo "fuzz.sh: $((half / 60)) min with --threads $threads from seed $seed (exclude: ${exclude:-nothing})"
    "$dir/tests/fuzz/normfuse_fuzz" --seconds "$half" --seed "$seed" --threads "$threads" \
        ${exclude:+--exclude "$exclude"} || status=1
done
exit "$status"
