#!/usr/bin/env bash
# Static half of the ODR test: finds normfuse SIMD code that two translation units built for
# different instruction sets would share by mistake.
#
#   check_symbols.sh <nm> <objdump> <narrow.o> <wide.o> [<name filter regex>]
#
# A weak (COMDAT) symbol defined in both objects is one entity for the linker, which keeps one
# copy. If the wide object's copy uses 512-bit registers (%zmm), or calls an entity whose name
# says AVX-512, its body holds or reaches AVX-512 SIMD code under a name that does not say so: an
# entity that instantiates xsimd code without carrying the architecture in a template parameter
# (docs/dispatch.md, "The ODR rule"). Such an entity is reported and the check fails. The wide unit is compiled with -mprefer-vector-width=256, so the
# compiler's own vectorization of plain loops does not use %zmm: only explicit SIMD code does.
# (Incidental AVX-512 encodings of plain code, e.g. vcvtusi2sd for a size_t to double conversion,
# are harmless once the narrow object is linked first, which tests/odr/CMakeLists.txt and the
# dispatch helper do; they are not reported.)
#
# With a filter, only symbols whose demangled name matches it are reported (the rest are counted).
set -uo pipefail
nm=$1 objdump=$2 narrow=$3 wide=$4 filter=${5:-}

weak() { "$nm" "$1" | awk '$2 ~ /^[WV]$/ { print $3 }' | sort -u; }
shared=$(comm -12 <(weak "$narrow") <(weak "$wide"))
if [[ -z $shared ]]; then
    echo "FAILED: no weak symbol shared by the two objects; the check would prove nothing"
    exit 1
fi
# Functions of the wide object whose body uses a 512-bit register.
wide_simd=$("$objdump" -d --no-show-raw-insn "$wide" | awk '
    /^[0-9a-f]+ <.*>:$/ { name = $2; sub(/^</, "", name); sub(/>:$/, "", name); next }
    /%zmm/ { print name }' | sort -u)
# Functions of the wide object that call (or take the address of) an entity named for AVX-512
# (a mangled name with "avx512", e.g. nf::assign_expression<xsimd::avx512bw, ...>): an arch-less
# wrapper around arch-tagged code, as unsafe as the code itself once the linker shares it.
wide_calls=$("$objdump" -dr --no-show-raw-insn "$wide" | awk '
    /^[0-9a-f]+ <.*>:$/ { name = $2; sub(/^</, "", name); sub(/>:$/, "", name); next }
    /R_X86_64_/ && $NF ~ /avx512/ { print name }' | sort -u)
bad=$(comm -12 <(printf '%s\n' "$shared") <(printf '%s\n' "$wide_simd" "$wide_calls" | sort -u))

echo "$(wc -l <<<"$shared") weak symbols shared by $(basename "$narrow") and $(basename "$wide")"
if [[ -z $bad ]]; then
    echo "OK: none of them holds AVX-512 SIMD code"
    exit 0
fi
demangled=$(c++filt <<<"$bad" 2>/dev/null || printf '%s\n' "$bad")
if [[ -n $filter ]]; then
    shown=$(grep -E -- "$filter" <<<"$demangled" || true)
    other=$(( $(wc -l <<<"$demangled") - $(grep -c . <<<"$shown") ))
    ((other > 0)) && echo "note: $other shared SIMD entities outside the filter '$filter' are not reported here"
    demangled=$shown
    if [[ -z $demangled ]]; then
        echo "OK: none of them (matching '$filter') holds AVX-512 SIMD code"
        exit 0
    fi
fi
echo "FAILED: $(grep -c . <<<"$demangled") weak symbols hold AVX-512 code in $(basename "$wide") under a name"
echo "shared with $(basename "$narrow") (give them an Arch template parameter):"
cut -c1-400 <<<"$demangled" | sed 's/^/  /'
exit 1
