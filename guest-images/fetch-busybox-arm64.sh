#!/usr/bin/env bash
# Downloads (once) Debian's busybox-static for arm64, for the arm64 guest's
# initramfs, and prints the path of its busybox binary.
#
# usage: fetch-busybox-arm64.sh   (messages on stderr, the path on stdout)
#
# The package is never installed: `apt-get download` + `dpkg-deb -x` into the
# cache only (installing busybox-static:arm64 would replace the host's amd64
# busybox, which the x86 initramfs and the host-side tests need).  apt must
# know arm64's package lists (`make deps` adds the architecture).
#
# Cache: $MINIVMM_CACHE, else $XDG_CACHE_HOME/minivmm, else ~/.cache/minivmm,
# directory busybox-static-arm64-<version>/ (complete once it holds "done").
# When apt cannot name a version (offline, no arm64 lists) the newest cached
# copy is used, also one unpacked by tests/arm64-host/fetch.sh.
set -euo pipefail

cache=${MINIVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm}

die() {
	echo "fetch-busybox-arm64: $*" >&2
	exit 1
}

newest_cached() {
	local b
	b=$(for d in "$cache"/busybox-static-arm64-*/ "$cache"/debian-arm64-host-*/; do
		[ -f "$d/done" ] && [ -f "$d/bin/busybox" ] && echo "${d%/}/bin/busybox"
	done | sort -V | tail -1)
	[ -n "$b" ] && echo "$b"
}

version=$(apt-cache policy busybox-static:arm64 2>/dev/null | awk '/^ *Candidate:/ { print $2 }')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
	newest_cached ||
		die "apt knows no busybox-static:arm64 (dpkg --add-architecture arm64; apt-get update) and nothing is cached in $cache"
	exit 0
fi

# The epoch ("1:") is left out of the directory name: make reads the path.
dir=$cache/busybox-static-arm64-${version#*:}
if [ ! -f "$dir/done" ]; then
	echo "fetch-busybox-arm64: downloading busybox-static $version (arm64) into $dir" >&2
	mkdir -p "$cache"
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/deb"
	(cd "$dir.tmp/deb" && apt-get download -q "busybox-static:arm64=$version" >&2) ||
		die "apt-get download busybox-static:arm64=$version failed"
	dpkg-deb -x "$dir.tmp"/deb/*.deb "$dir.tmp" || die "dpkg-deb -x failed"
	rm -rf "$dir.tmp/deb"
	[ -f "$dir.tmp/bin/busybox" ] || die "the package has no bin/busybox"
	echo "busybox-static:arm64 $version" >"$dir.tmp/done"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir/bin/busybox"
