#!/usr/bin/env bash
# Multi-queue virtio-blk (docs/virtio.md, "Multi-queue").
# - virtio-blk: tests/guest/virtio_blk_mq.elf with `--disk IMG,queues=N` for
#   N = 1, 2, 4: num_queues, every queue up to N and none beyond, each
#   request completed on its own queue, all queues at once, a write on one
#   queue read on another; --stats shows the I/O threads serving them.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
LABEL=virtio-mq
. tests/integration/lib/netns.sh
. tests/integration/lib/blk_image.sh
BLK_GUEST=tests/guest/virtio_blk_mq.elf
SECTORS=4096

# net_setup for its temporary directory and cleanup; no network is used.
net_require "$MINIVMM" "$BLK_GUEST" tests/guest/virtio_blk_bench.elf
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
# The scaling benchmark's guest (bench/scaling): vCPU i drives queue i.
out=$(timeout 120 "$MINIVMM" --kernel tests/guest/virtio_blk_bench.elf --cpus 2 \
	--disk "$tmp/disk.img,queues=2" --cmdline "bench.n=2000 bench.qd=4 bench.queues=2" \
	--stats="$tmp/bench.json" 2>&1)
rc=$?
per_queue=$(jq -c '[.devices["virtio-blk.0"].io_threads[]? | {queues, submitted}]' \
	"$tmp/bench.json" 2>/dev/null)
if [ $rc = 0 ] && echo "$out" | grep -q "^blkbench: .* n=2000 .*queues=2" &&
	jq -e 'length == 2 and all(.[]; .submitted >= 1000)' <<<"${per_queue:-null}" >/dev/null; then
	pass "bench guest, 2 vCPUs on 2 queues: 2000 reads, at least half on each queue: $per_queue"
else
	fail "bench guest, 2 vCPUs on 2 queues: exit $rc, per queue ${per_queue:-?}"
	echo "$out" | grep -v "^minivmm: host:" | tail -3 | sed 's/^/#   /'
fi
out=$(timeout 60 "$MINIVMM" --kernel tests/guest/virtio_blk_bench.elf \
	--disk "$tmp/disk.img,queues=2" --cmdline "bench.n=10 bench.queues=2" 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "bench.queues=2 needs as many vCPUs" &&
	pass "bench guest: 2 queues on 1 vCPU refused: $(echo "$out" | grep '^bench:')" ||
	fail "bench guest: 2 queues on 1 vCPU: exit $rc"
out=$(timeout 60 "$MINIVMM" --kernel "$BLK_GUEST" --disk "$tmp/disk.img,queues=9" 2>&1)
rc=$?
[ $rc = "$EXIT_STATUS_USAGE" ] && pass "blk queues=9: refused (exit $rc): $(echo "$out" | head -1)" ||
	fail "blk queues=9: exit $rc"

exit $failed
