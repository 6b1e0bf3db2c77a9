#!/usr/bin/env bash
# Multi-queue virtio-net (docs/virtio-net.md, "Multi-queue"):
# tests/guest/virtio_net_mq.elf with `--net TAP,queues=2` on a multi-queue
# tap in a private network namespace.
# - the device offers MQ and the control queue, max_virtqueue_pairs 2,
#   queues 0..4 and no queue 5;
# - before VQ_PAIRS_SET the host's UDP frames (16 flows) all arrive on the
#   first receive queue: the second pair's tap queue is detached;
# - VQ_PAIRS_SET refuses 0 and 3 and accepts 2;
# - both transmit queues send 8 frames each (captured on the host, any order);
# - then 64 UDP flows from the host arrive each once, spread by the tap
#   over both receive queues;
# - --stats shows two I/O threads, 2 of 2 pairs in use and the control
#   commands; queues=2 on a tap created without multi_queue, and queues=9,
#   are refused with a message.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
LABEL=virtio-net-mq
. tests/integration/lib/netns.sh
GUEST=tests/guest/virtio_net_mq.elf
MAC=52:54:00:12:34:58
VNET='.devices["virtio-net.0"]'

net_require "$MINIVMM" "$GUEST" tests/guest/virtio_netbench_mq.elf
net_setup
nsx ip tuntap add dev mvmq0 mode tap multi_queue
nsx ip link set mvmq0 up

nsx python3 "$NET_LIB/frames.py" capture-any mvmq0 "$MAC" 16 60 >"$tmp/capture" 2>&1 &
cap_pid=$!
for _ in $(seq 100); do
	grep -q "capture: ready" "$tmp/capture" && break
	sleep 0.1
done
nsx timeout 120 "$MINIVMM" --kernel "$GUEST" --net "mvmq0,queues=2,mac=$MAC" \
	--cmdline "console=ttyS0 test.pairs=2" --stats="$tmp/stats" >"$tmp/out" 2>"$tmp/err" &
vm_pid=$!
phase_ok=0
for phase in 1 2; do
	count=16
	[ $phase = 2 ] && count=64
	for _ in $(seq 1200); do
		grep -q "vnet-mq: phase $phase" "$tmp/out" && break
		kill -0 "$vm_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "vnet-mq: phase $phase" "$tmp/out" || break
	nsx python3 "$NET_LIB/frames.py" inject-udp mvmq0 "$MAC" $count && phase_ok=$phase
done
net_wait_vm_and_capture
sed 's/^/#   /' "$tmp/out"
grep -v "^minivmm: host:" "$tmp/err" | sed 's/^/#   /'

if [ $rc = 0 ] && grep -q "virtio_net_mq: PASS" "$tmp/out"; then
	pass "queues=2: MQ and control queue offered, max_virtqueue_pairs 2, queues 0-4 only"
else
	fail "queues=2: guest exited $rc (injected phases: $phase_ok)"
fi
grep -q "^received 16 of 16: rx0=16 rx1=0" "$tmp/out" &&
	pass "before VQ_PAIRS_SET: 16 UDP flows all arrive on receiveq0" ||
	fail "before VQ_PAIRS_SET: $(grep -m1 '^received' "$tmp/out")"
grep -q "VQ_PAIRS_SET: 0 and 3 refused, 2 accepted" "$tmp/out" &&
	pass "VQ_PAIRS_SET refuses 0 and 3 (VIRTIO_NET_ERR), accepts 2" ||
	fail "VQ_PAIRS_SET answers wrong"
[ "$cap_rc" = 0 ] && pass "8 frames from each transmit queue reach the tap byte for byte" ||
	fail "host capture: $(tail -1 "$tmp/capture")"
line=$(grep "^received 64 of 64" "$tmp/out")
rx0=$(echo "$line" | sed -n 's/.* rx0=\([0-9]*\).*/\1/p')
rx1=$(echo "$line" | sed -n 's/.* rx1=\([0-9]*\).*/\1/p')
[ -n "$line" ] && [ "${rx0:-0}" -gt 0 ] && [ "${rx1:-0}" -gt 0 ] &&
	pass "after VQ_PAIRS_SET 2: 64 flows arrive once each, over both receive queues ($line)" ||
	fail "after VQ_PAIRS_SET 2: ${line:-not all frames arrived}"

threads=$(jq "$VNET.io_threads | length" "$tmp/stats" 2>/dev/null)
[ "${threads:-0}" = 2 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.queue_pairs")" = 2 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.active_queue_pairs")" = 2 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.counters.ctrl_commands")" = 3 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.counters.ctrl_refused")" = 2 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.counters.tx_packets")" = 16 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.counters.rx_packets")" = 80 ] &&
	pass "--stats: 2 I/O threads, 2 of 2 pairs in use, 3 control commands (2 refused), 16 tx and 80 rx packets" ||
	fail "--stats: $(jq -c "{io_threads: ($VNET.io_threads | length), queue_pairs: $VNET.queue_pairs, active: $VNET.active_queue_pairs, counters: $VNET.counters}" "$tmp/stats" 2>&1)"

# The scaling benchmark's guest (bench/scaling --net): vCPU i sends on pair i.
out=$(nsx timeout 120 "$MINIVMM" --kernel tests/guest/virtio_netbench_mq.elf --cpus 2 \
	--net "mvmq0,queues=2" --cmdline "bench.pairs=2 bench.count=20000" \
	--stats="$tmp/bench.json" 2>&1)
rc=$?
per_pair=$(jq -c "[$VNET.io_threads[]? | .completions]" "$tmp/bench.json" 2>/dev/null)
sent=$(stat_of "$tmp/bench.json" "$VNET.counters.tx_packets")
if [ $rc = 0 ] && echo "$out" | grep -q "^netmq: pairs=2 n=20000 " && [ "${sent:-0}" = 20000 ] &&
	jq -e 'length == 2 and all(.[]; . >= 10000)' <<<"${per_pair:-null}" >/dev/null; then
	pass "bench guest, 2 vCPUs on 2 pairs: 20000 frames sent, each I/O thread completed at least half: $per_pair"
else
	fail "bench guest, 2 vCPUs on 2 pairs: exit $rc, tx_packets ${sent:-?}, per thread ${per_pair:-?}"
	echo "$out" | grep -v "^minivmm: host:" | tail -3 | sed 's/^/#   /'
fi

# A tap created without multi_queue cannot take several queues: said so, a non-zero exit.
nsx ip tuntap add dev mvsq0 mode tap
out=$(nsx timeout 60 "$MINIVMM" --kernel "$GUEST" --net "mvsq0,queues=2" 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q "not a multi-queue tap" &&
	pass "queues=2 on a single-queue tap refused (exit $rc): $(echo "$out" | grep -m1 'multi-queue')" ||
	fail "queues=2 on a single-queue tap: exit $rc: $out"
out=$(nsx timeout 60 "$MINIVMM" --kernel "$GUEST" --net "mvmq0,queues=9" 2>&1)
rc=$?
[ $rc = "$EXIT_STATUS_USAGE" ] && pass "queues=9 refused (exit $rc): $(echo "$out" | head -1)" ||
	fail "queues=9: exit $rc"
exit $failed
