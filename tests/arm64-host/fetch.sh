#!/usr/bin/env bash
# Downloads (once) and unpacks what the emulated arm64 host boots: Debian's
# stock arm64 kernel package (the one linux-image-arm64 depends on today,
# e.g. linux-image-6.1.0-57-arm64; KVM is built into it) and busybox-static
# for arm64 (the machine's /init shell, and the shell inside its chroot,
# where the host's x86 binaries cannot run).  Prints the directory they are
# unpacked in, one root holding both: boot/vmlinuz-*, lib/modules/*/ (with
# a modules.dep made here) and bin/busybox.
#
# Neither package is installed on the host: `apt-get download` + `dpkg-deb
# -x` into the cache only.  (Installing busybox-static:arm64 would replace
# the host's amd64 busybox, which the x86 stage's initramfs needs.)
# Needs arm64 in `dpkg --print-foreign-architectures` so that apt knows the
# arm64 package lists; this script adds it (and runs apt-get update) if not.
#
# Cache: $MINIVMM_CACHE, else $XDG_CACHE_HOME/minivmm, else ~/.cache/minivmm
# (as tests/ordinary-kvm/fetch-kernel.sh), directory
# debian-arm64-host-<kernel package>-<version>-busybox-<version>/, complete
# once it holds a file "done".  Reused while both versions stay the same;
# when the package lists cannot be read (offline) the newest cached one is
# used.
#
# usage: fetch.sh      (messages on stderr, the directory on stdout)
set -u

cache=${MINIVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm}

die() {
	echo "arm64-host fetch: $*" >&2
	exit 1
}

# Falls back to whatever was unpacked before: an offline re-run still works.
newest_cached() {
	local d
	d=$(ls -1d "$cache"/debian-arm64-host-*/ 2>/dev/null | while read -r x; do
		[ -f "$x/done" ] && echo "${x%/}"
	done | sort -V | tail -1)
	[ -n "$d" ] && echo "$d"
}

kernel_package() {
	apt-cache depends linux-image-arm64:arm64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\)\(:arm64\)\{0,1\}$/\1/p' | head -1
}

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "arm64-host fetch: adding arm64 to dpkg's architectures" >&2
	dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64 failed"
	apt-get update -q >&2 || true
fi
kpkg=$(kernel_package)
if [ -z "$kpkg" ]; then
	# No arm64 package lists (a fresh container): fetch them once, then ask again.
	echo "arm64-host fetch: no arm64 package lists; running apt-get update" >&2
	apt-get update -q >&2 || true
	kpkg=$(kernel_package)
fi
if [ -z "$kpkg" ]; then
	newest_cached || die "cannot resolve linux-image-arm64 and nothing is cached in $cache"
	exit 0
fi
# One apt-cache call for both (each takes seconds where apt keeps no
# pkgcache.bin, as in Debian's container images): the candidate version
# under each "PACKAGE:arm64:" heading.
versions=$(apt-cache policy "$kpkg:arm64" busybox-static:arm64 2>/dev/null |
	awk '/^[^ ]/ { pkg = $1 } /^ *Candidate:/ { print pkg, $2 }')
kver=$(awk -v p="$kpkg:arm64:" '$1 == p { print $2 }' <<<"$versions")
bver=$(awk '$1 == "busybox-static:arm64:" { print $2 }' <<<"$versions")
for v in "$kver" "$bver"; do
	[ -n "$v" ] && [ "$v" != "(none)" ] || die "no candidate version for $kpkg:arm64 or busybox-static:arm64"
done

# Epochs ("1:") are left out of the name: it travels through 9p and make.
dir=$cache/debian-arm64-host-$kpkg-$kver-busybox-${bver#*:}
if [ -f "$dir/done" ]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache" || die "cannot create $cache"
# Two stages started at once must not unpack into the same directory.
exec 9>"$cache/debian-arm64-host.lock"
flock 9
if [ -f "$dir/done" ]; then
	echo "$dir"
	exit 0
fi

tmp=$(mktemp -d "$cache/debian-arm64-host.tmp.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
echo "arm64-host fetch: downloading $kpkg $kver and busybox-static $bver (arm64)" >&2
want=("$kpkg:arm64=$kver" "busybox-static:arm64=$bver")
if ! (cd "$tmp" && apt-get download -q "${want[@]}" >&2); then
	apt-get update -q >&2 || true
	(cd "$tmp" && apt-get download -q "${want[@]}" >&2) ||
		{ newest_cached || die "apt-get download ${want[*]} failed"; exit 0; }
fi
mkdir "$tmp/root"
for deb in "$tmp"/*.deb; do
	[ -f "$deb" ] || die "apt-get download left no .deb"
	dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
done
ls "$tmp"/root/boot/vmlinuz-* >/dev/null 2>&1 || die "$kpkg has no boot/vmlinuz-*"
[ -x "$tmp/root/bin/busybox" ] || die "busybox-static:arm64 has no bin/busybox"
# The package ships no modules.dep (dpkg's postinst makes it on install):
# make it here, so the driver can resolve each module's dependencies.
for m in "$tmp"/root/lib/modules/*/; do
	m=${m%/}
	depmod -b "$tmp/root" "${m##*/}" || die "depmod for ${m##*/} failed"
done
echo "$kpkg $kver busybox-static $bver" >"$tmp/root/done"
rm -rf "$dir"
mv "$tmp/root" "$dir" || die "cannot move the packages into $dir"
echo "arm64-host fetch: unpacked $kpkg $kver and busybox-static $bver into $dir" >&2
echo "$dir"
