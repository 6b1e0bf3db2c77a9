#!/usr/bin/env bash
# Downloads (once) and unpacks Debian's stock x86-64 kernel package, the one
# the ordinary-KVM stage boots under QEMU/TCG, and prints the directory it is
# unpacked in (it holds boot/vmlinuz-* and lib/modules/*/).
#
# The package is the real one that the linux-image-amd64 metapackage depends
# on today (e.g. linux-image-6.1.0-57-amd64).  It is never installed on the
# host: `apt-get download` + `dpkg-deb -x` into the cache only.
#
# Cache: $MINIVMM_CACHE, else $XDG_CACHE_HOME/minivmm, else ~/.cache/minivmm
# (as guest-images/build-kernel.sh), directory debian-kernel-<package>-<version>/,
# complete once it holds a file "done".  A cached version is reused; when the
# package lists cannot be read (offline) the newest cached one is used.
#
# usage: fetch-kernel.sh      (messages on stderr, the directory on stdout)
set -u

cache=${MINIVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm}

die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}

# Falls back to whatever was unpacked before: an offline re-run still works.
newest_cached() {
	local d
	d=$(ls -1d "$cache"/debian-kernel-*/ 2>/dev/null | while read -r x; do
		[ -f "$x/done" ] && echo "${x%/}"
	done | sort -V | tail -1)
	[ -n "$d" ] && echo "$d"
}

# The metapackage's dependency names the versioned image package.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
	# No package lists (a fresh container): fetch them once, then ask again.
	echo "fetch-kernel: no package lists; running apt-get update" >&2
	apt-get update -q >&2 || true
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
fi
if [ -z "$pkg" ]; then
	newest_cached || die "cannot resolve linux-image-amd64 and nothing is cached in $cache"
	exit 0
fi
ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate version for $pkg"

dir=$cache/debian-kernel-$pkg-$ver
if [ -f "$dir/done" ]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache" || die "cannot create $cache"
# Two stages started at once must not unpack into the same directory.
exec 9>"$cache/debian-kernel.lock"
flock 9
if [ -f "$dir/done" ]; then
	echo "$dir"
	exit 0
fi

tmp=$(mktemp -d "$cache/debian-kernel.tmp.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-kernel: downloading $pkg $ver" >&2
# apt-get download writes into the current directory; `_apt` must be able to
# write there, or apt warns and downloads unsandboxed (harmless as root).
if ! (cd "$tmp" && apt-get download -q "$pkg=$ver" >&2); then
	apt-get update -q >&2 || true
	(cd "$tmp" && apt-get download -q "$pkg=$ver" >&2) ||
		{ newest_cached || die "apt-get download $pkg=$ver failed"; exit 0; }
fi
deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "apt-get download left no .deb"
mkdir "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
ls "$tmp"/root/boot/vmlinuz-* >/dev/null 2>&1 || die "$deb has no boot/vmlinuz-*"
# The package ships no modules.dep (dpkg's postinst makes it on install): make
# it here, so the stage can resolve each module's dependencies from it.
for m in "$tmp"/root/lib/modules/*/; do
	m=${m%/}
	depmod -b "$tmp/root" "${m##*/}" || die "depmod for ${m##*/} failed"
done
echo "$pkg $ver" >"$tmp/root/done"
rm -rf "$dir"
mv "$tmp/root" "$dir" || die "cannot move the kernel into $dir"
echo "fetch-kernel: unpacked $pkg $ver into $dir" >&2
echo "$dir"
