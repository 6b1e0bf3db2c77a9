#!/usr/bin/env bash
# Multi-queue virtio-blk (docs/virtio.md, "Multi-queue").
# - virtio-blk: tests/guest/virtio_blk_mq.elf with `--disk IMG,queues=N` for
#   N = 1, 2, 4: num_queues, every queue up to N and none beyond, each
#   request completed on its own queue, all queues at once, a write on one
#   queue read on another; --stats shows the I/O threads serving them.
set -u
cd "$(dirname "$0")/../.."
LABEL=virtio-mq
. tests/integration/lib/netns.sh
. tests/integration/lib/blk_image.sh
BLK_GUEST=tests/guest/virtio_blk_mq.elf
SECTORS=4096

# net_setup for its temporary directory and cleanup; no network is used.
net_require "$MINIVMM" "$BLK_GUEST"
net_setup

make_image "$tmp/disk.img"
for n in 1 2 4; do
	out=$(timeout 120 "$MINIVMM" --kernel "$BLK_GUEST" --disk "$tmp/disk.img,queues=$n" \
		--cmdline "test.queues=$n" --stats="$tmp/blk.json" 2>&1)
	rc=$?
	echo "$out" | grep -v "^minivmm: host:" | sed 's/^/#   /'
	if [ $rc = 0 ] && echo "$out" | grep -q "virtio_blk_mq: PASS"; then
		pass "blk queues=$n: num_queues $n, each request completed on its own queue, all at once"
	else
		fail "blk queues=$n: guest exited $rc"
	fi
done
threads=$(jq '[.threads[] | select(.role == "io")] | length' "$tmp/blk.json" 2>/dev/null)
[ "${threads:-0}" -ge 2 ] &&
	pass "blk queues=4: $threads I/O threads serve the queues (--stats)" ||
	fail "blk queues=4: ${threads:-no} I/O threads in --stats"
out=$(timeout 60 "$MINIVMM" --kernel "$BLK_GUEST" --disk "$tmp/disk.img,queues=9" 2>&1)
rc=$?
[ $rc = 2 ] && pass "blk queues=9: refused (exit 2): $(echo "$out" | head -1)" ||
	fail "blk queues=9: exit $rc"

exit $failed
