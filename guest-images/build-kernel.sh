#!/usr/bin/env bash
# Build (or fetch from the cache) minivmm's guest kernel and link it into OUT_DIR.
#
# usage: build-kernel.sh OUT_DIR [VARIANT]
#
# Source: Debian's linux-source-6.1 package (/usr/src/linux-source-6.1.tar.xz),
# configured as `tinyconfig` + kernel.config, with patches/*.patch applied.
# VARIANT (e.g. `acpi`) adds kernel-VARIANT.config after kernel.config (its
# lines win) and links OUT_DIR/vmlinux-VARIANT, bzImage-VARIANT and
# kernel-VARIANT.full-config; the default kernel's files are left alone.
# VARIANT `arm64` is another architecture: `make ARCH=arm64 tinyconfig` +
# kernel-arm64.config alone (kernel.config is x86's), cross-compiled with
# CROSS_COMPILE=aarch64-linux-gnu-, linked as OUT_DIR/Image-arm64,
# vmlinux-arm64 and kernel-arm64.full-config.
#
# Cache: $MINIVMM_CACHE, else $XDG_CACHE_HOME/minivmm, else ~/.cache/minivmm.
#   src-<pkgver>-<patch hash>[-VARIANT]/  unpacked, patched tree, built in place;
#                                 kept so that a config change is an incremental
#                                 build; a variant has its own tree, so building
#                                 one never turns the default tree's .config over
#   kernel-<pkgver>-<key>/        finished vmlinux, bzImage, .config, gen_init_cpio,
#                                 key = hash of the fragments + patches + BUILD_RECIPE
# A build whose key is already in the cache only re-links OUT_DIR (a second).
set -euo pipefail

# Bump when the way the kernel is built changes, so cached kernels are not reused.
BUILD_RECIPE=1

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-kernel.sh OUT_DIR [VARIANT]}
variant=${2:-}
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
pkg=linux-source-6.1
cache=${MINIVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm}
jobs=${KERNEL_JOBS:-$(nproc)}

die() {
	echo "build-kernel: $*" >&2
	exit 1
}

fragments=("$here/kernel.config")
suffix=
if [ -n "$variant" ]; then
	case $variant in
	*[!a-z0-9_]*) die "bad variant name '$variant'" ;;
	esac
	[ -r "$here/kernel-$variant.config" ] || die "no $here/kernel-$variant.config"
	fragments+=("$here/kernel-$variant.config")
	suffix=-$variant
fi

# The kernel's architecture, its compiler prefix and its boot image.
karch=x86_64
cross=
image=arch/x86/boot/bzImage
if [ "$variant" = arm64 ]; then
	fragments=("$here/kernel-arm64.config")
	karch=arm64
	cross=aarch64-linux-gnu-
	image=arch/arm64/boot/Image
	command -v "${cross}gcc" >/dev/null ||
		die "${cross}gcc not found: install gcc-aarch64-linux-gnu (make deps)"
fi
image_name=${image##*/}

[ -r "$tarball" ] || die "$tarball not found: install $pkg (make deps)"
pkgver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) || die "$pkg is not installed (make deps)"

patches=("$here"/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
patch_hash=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-12)
# The architecture is named only when it is not x86, so the x86 keys stay as
# they were.
key=$( {
	echo "recipe $BUILD_RECIPE"
	[ "$karch" = x86_64 ] || echo "arch $karch cross $cross"
	cat "${fragments[@]}" /dev/null "${patches[@]}"
} |
	sha256sum | cut -c1-16)
src=$cache/src-$pkgver-$patch_hash$suffix
result=$cache/kernel-$pkgver-$key

link_outputs() {
	mkdir -p "$out"
	for f in vmlinux "$image_name"; do
		ln -sfn "$result/$f" "$out/$f$suffix"
	done
	[ -n "$variant" ] || ln -sfn "$result/gen_init_cpio" "$out/gen_init_cpio"
	# A host tool: the arm64 initramfs needs no x86 kernel build.
	[ "$variant" != arm64 ] || ln -sfn "$result/gen_init_cpio" "$out/gen_init_cpio-arm64"
	ln -sfn "$result/config" "$out/kernel$suffix.full-config"
}

if [ -f "$result/done" ]; then
	link_outputs
	echo "build-kernel: cached kernel $pkgver key $key ($result)"
	exit 0
fi

mkdir -p "$cache"
# One kernel build per tree at a time: two would fight over it.
exec 9>"$cache/kernel$suffix.lock"
if ! flock -n 9; then
	echo "build-kernel: waiting for another kernel build ($cache/kernel$suffix.lock)"
	flock 9
fi
if [ -f "$result/done" ]; then # built by whoever held the lock
	link_outputs
	exit 0
fi

start=$(date +%s)
if [ ! -f "$src/.minivmm-unpacked" ]; then
	echo "build-kernel: unpacking $tarball and applying ${#patches[@]} patch(es)"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	for p in "${patches[@]}"; do
		patch -d "$src.tmp" -p1 --batch --forward --quiet <"$p" || die "patch $p does not apply"
	done
	touch "$src.tmp/.minivmm-unpacked"
	mv "$src.tmp" "$src"
fi

kmake() {
	make -C "$src" ARCH="$karch" ${cross:+CROSS_COMPILE="$cross"} -s "$@"
}

conflog=$cache/config-$key.log
echo "build-kernel: configuring (tinyconfig + ${fragments[*]##*/}); log: $conflog"
# olddefconfig warns about every fragment line that overrides tinyconfig (or
# an earlier fragment): expected.
if ! { kmake tinyconfig && cat "${fragments[@]}" >>"$src/.config" &&
	kmake olddefconfig; } >"$conflog" 2>&1; then
	cat "$conflog" >&2
	die "configuring the kernel failed"
fi

# Kconfig silently drops options whose dependencies are missing; a fragment
# line that did not survive is a bug in the fragment, not a detail.  Only the
# last line naming an option counts (a variant overrides kernel.config).
last_settings() {
	awk '{ opt = "" }
	/^CONFIG_[A-Za-z0-9_]+=/ { opt = $0; sub(/=.*/, "", opt) }
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { opt = $2 }
	opt != "" { line[opt] = $0; if (!(opt in seen)) { seen[opt] = 1; order[n++] = opt } }
	END { for (i = 0; i < n; i++) print line[order[i]] }' "$@"
}
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$src/.config" || {
			echo "build-kernel: the fragments ask for '$line' but olddefconfig dropped it" >&2
			bad=1
		}
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -q "^$opt=" "$src/.config"; then
			echo "build-kernel: the fragments turn $opt off but it is still set" >&2
			bad=1
		fi
		;;
	esac
done < <(last_settings "${fragments[@]}")
[ "$bad" = 0 ] || exit 1

log=$cache/build-$key.log
echo "build-kernel: make -j$jobs vmlinux $image_name (a full build takes ~7 min on 2 cores); log: $log"
# build_progress: make's output (kbuild's "  CC  FILE" lines) goes to fd 3,
# the log; here, a line every KERNEL_PROGRESS_EVERY (default 100) compiled
# files, or with KERNEL_VERBOSE=1 make's own output as it comes.
build_progress() {
	local line n=0 every=${KERNEL_PROGRESS_EVERY:-100}
	while IFS= read -r line; do
		printf '%s\n' "$line" >&3
		[ "${KERNEL_VERBOSE:-0}" != 1 ] || printf '%s\n' "$line"
		case $line in
		"  CC "* | "  AS "*)
			n=$((n + 1))
			[ $((n % every)) != 0 ] ||
				echo "build-kernel: $n files compiled, $(($(date +%s) - start)) s"
			;;
		esac
	done
	echo "build-kernel: $n files compiled"
}
if ! make -C "$src" ARCH="$karch" ${cross:+CROSS_COMPILE="$cross"} -j"$jobs" vmlinux "$image_name" 2>&1 |
	build_progress 3>"$log"; then
	tail -30 "$log" >&2
	die "kernel build failed, full log: $log"
fi

rm -rf "$result.tmp"
mkdir -p "$result.tmp"
cp "$src/vmlinux" "$src/$image" "$src/usr/gen_init_cpio" "$result.tmp/"
cp "$src/.config" "$result.tmp/config"
echo "$pkgver $key" >"$result.tmp/done"
rm -rf "$result"
mv "$result.tmp" "$result"
link_outputs
echo "build-kernel: built kernel $pkgver key $key in $(($(date +%s) - start)) s ($result)"
