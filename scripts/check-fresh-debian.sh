#!/usr/bin/env bash
# Checks that the README's two commands work on a fresh Debian 12: builds a minimal bookworm
# root with debootstrap, installs git in it, clones this repository into it, and runs
# `bash scripts/demo.sh` and `bash scripts/test.sh` there.
#
#   scripts/check-fresh-debian.sh [mirror]      (as root: debootstrap, chroot and mounts)
#
# The mirror defaults to the host's bookworm mirror from its apt sources. The root is
# /tmp/nf-root (NF_ROOT overrides); an existing one is deleted first, and the new one is kept
# afterwards for inspection. The clone has the committed state (HEAD) only: uncommitted
# changes are not part of the check.
set -euo pipefail

root=${NF_ROOT:-/tmp/nf-root}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=bookworm

if ((EUID != 0)); then
    echo "check-fresh-debian.sh: must run as root" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    echo "check-fresh-debian.sh: needs debootstrap (apt-get install debootstrap)" >&2
    exit 1
fi

# The first mirror that the host's apt sources use for "$suite" itself (not -updates or
# -security), in deb822 (.sources) or one-line (.list) format.
host_mirror() {
    local sources=() lists=()
    shopt -s nullglob
    sources=(/etc/apt/sources.list.d/*.sources)
    lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    shopt -u nullglob
    {
        if ((${#sources[@]})); then
            awk -v suite="$suite" '
                function flush() {
                    if (uris != "" && (" " suites " ") ~ (" " suite " ")) { split(uris, u, " "); print u[1] }
                    uris = ""; suites = ""
                }
                FNR == 1 { flush() }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
                /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
                END { flush() }' "${sources[@]}"
        fi
        for list in "${lists[@]}"; do
            [[ -f $list ]] || continue
            # deb [options] uri suite components...
            sed -E -n 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2 \3/p' "$list" |
                awk -v suite="$suite" '$2 == suite { print $1 }'
        done
    } | head -n 1
}

mirror=${1:-$(host_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}

mounted=()
# shellcheck disable=SC2317 # called by the EXIT trap
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" || umount -l "${mounted[i]}" || true
    done
    mounted=()
}
trap unmount_all EXIT

bind() { # bind <host path> <path inside the root>
    mkdir -p "$root$2"
    mount --bind "$1" "$root$2"
    mounted+=("$root$2")
}

in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

if [[ -e $root ]]; then
    # Never delete through a mount point: that would delete the host's files.
    if grep -q " $root/" /proc/mounts; then
        echo "check-fresh-debian.sh: something is still mounted under $root; unmount it first" >&2
        exit 1
    fi
    echo "=== removing the old $root"
    rm -rf --one-file-system "$root"
fi

echo "=== debootstrap --variant=minbase $suite $root $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror"

# The host's apt sources (with -updates and -security, so that package versions match the
# host) replace debootstrap's single-line sources.list; DNS from the host.
shopt -s nullglob
host_sources=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
shopt -u nullglob
if ((${#host_sources[@]})) || [[ -s /etc/apt/sources.list ]]; then
    rm -f "$root/etc/apt/sources.list"
    [[ ! -s /etc/apt/sources.list ]] || cp /etc/apt/sources.list "$root/etc/apt/"
    ((${#host_sources[@]} == 0)) || cp "${host_sources[@]}" "$root/etc/apt/sources.list.d/"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

mount -t proc proc "$root/proc"
mounted+=("$root/proc")
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts

echo "=== installing git in the root"
in_root apt-get update
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git

echo "=== cloning $repo"
bind "$repo" /mnt/normfuse-src
# safe.directory: the source checkout may belong to another user than root.
in_root git -c safe.directory='*' clone --no-hardlinks /mnt/normfuse-src /root/normfuse
umount "$root/mnt/normfuse-src"
unset 'mounted[-1]'

status=0
echo "=== bash scripts/demo.sh (in the root)"
if in_root bash -c 'cd /root/normfuse && bash scripts/demo.sh'; then
    demo_result="demo.sh: OK"
else
    demo_result="demo.sh: FAILED"
    status=1
fi
echo "=== bash scripts/test.sh (in the root)"
if in_root bash -c 'cd /root/normfuse && bash scripts/test.sh'; then
    test_result="test.sh: OK"
else
    test_result="test.sh: FAILED"
    status=1
fi

echo
echo "=== fresh Debian $suite ($root, mirror $mirror)"
echo "$demo_result"
echo "$test_result"
exit "$status"
