#!/bin/sh
# virtio-blk under real KVM: the functional guest with both engines and both
# cache modes (host verifies the image afterwards), a read-only disk, and the
# hostile guest (minivmm survives and reports each malformed chain).
# Usage: tests/integration/virtio_blk.sh [BUILD_DIR]   (run from the repo root)
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/require_kvm.sh
require_kvm virtio-blk
MINIVMM=${MINIVMM:-./minivmm}
GUESTS=tests/guest
TMP=$(mktemp -d /var/tmp/minivmm-blk.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
failed=0
SECTORS=8192

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failed=1; }

. tests/integration/lib/blk_image.sh

for engine in io_uring sync; do
	for cache in writeback none; do
		name="virtio_blk engine=$engine cache=$cache"
		img="$TMP/blk-test.img"
		make_image "$img"
		out=$(timeout 120 $MINIVMM --kernel $GUESTS/virtio_blk.elf \
			--disk "$img,cache=$cache,engine=$engine" --cmdline "test.sectors=$SECTORS" 2>&1)
		rc=$?
		if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio_blk: PASS"; then
			pass "$name: guest"
		else
			fail "$name: guest (exit $rc)"; echo "$out" | tail -20
		fi
		if why=$(verify_image "$img"); then
			pass "$name: host image holds what the guest wrote"
		else
			fail "$name: host image: $why"
		fi
	done
done

img="$TMP/blk-test.img"
make_image "$img"
sum_before=$(md5sum < "$img")
out=$(timeout 120 $MINIVMM --kernel $GUESTS/virtio_blk.elf --disk "$img,ro" \
	--cmdline "test.sectors=$SECTORS test.ro=1" 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "read-only: write refused"; then
	pass "virtio_blk read-only: writes refused"
else
	fail "virtio_blk read-only (exit $rc)"; echo "$out" | tail -20
fi
[ "$(md5sum < "$img")" = "$sum_before" ] && pass "virtio_blk read-only: image unchanged" ||
	fail "virtio_blk read-only: image changed"

out=$(timeout 120 $MINIVMM --kernel $GUESTS/virtio_blk_hostile.elf --disk "$img" \
	--stats="$TMP/hostile.json" 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "virtio_blk_hostile: PASS"; then
	pass "virtio_blk_hostile: minivmm survived malformed chains"
else
	fail "virtio_blk_hostile (exit $rc)"; echo "$out" | tail -30
fi
n=$(jq -r '.devices["virtio-blk.0"].transport.needs_reset // 0' "$TMP/hostile.json" 2>/dev/null)
if [ "${n:-0}" -ge 10 ]; then
	pass "virtio_blk_hostile: $n malformed chains counted as 'device needs reset'"
else
	fail "virtio_blk_hostile: only ${n:-no} 'device needs reset' counted"
fi
# What the guest makes minivmm log is bounded: 10 error lines, one saying
# the rest need --verbose.
lines=$(echo "$out" | grep -c "^minivmm: .*virtio-blk.0")
[ "$lines" -le 11 ] && pass "virtio_blk_hostile: the guest caused $lines log lines (at most 11)" ||
	fail "virtio_blk_hostile: the guest caused $lines log lines (more than 11)"
out=$(timeout 120 $MINIVMM --verbose --kernel $GUESTS/virtio_blk_hostile.elf --disk "$img" 2>&1)
echo "$out" | grep -q "queue 0: ring outside guest RAM" &&
	pass "virtio_blk_hostile: ring outside RAM refused (logged with --verbose)" ||
	fail "virtio_blk_hostile: ring outside RAM not reported"

# A missing image is one clear error line and a non-zero exit.
out=$(timeout 30 $MINIVMM --kernel $GUESTS/virtio_blk.elf --disk "$TMP/missing.img" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "missing.img: No such file"; then
	pass "virtio_blk: missing image refused"
else
	fail "virtio_blk: missing image (exit $rc)"
fi
exit $failed
