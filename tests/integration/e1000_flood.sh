#!/usr/bin/env bash
# SIGTERM during a guest-driven e1000 TX flood (issue 11): tests/guest/e1000flood.c
# keeps the largest TX ring full of 64 KiB TSO packets cut with the smallest
# MSS the model accepts (and some with MSS 1, which it refuses), writing TDT
# without pause.  Each trapped write does a bounded turn of work, the I/O
# thread the rest, so SIGTERM must end minivmm through its normal exit path
# (status 143, final --stats report, no error) within 1 s.  Own network
# namespace and tap, as tests/integration/e1000.sh.
set -u
cd "$(dirname "$0")/../.."
LABEL=e1000-flood
. tests/integration/lib/netns.sh
GUEST=tests/guest/e1000flood.elf
LIMIT_MS=1000

net_require "$MINIVMM" "$GUEST"
net_setup
nsx ip tuntap add dev mvtap0 mode tap
nsx ip link set mvtap0 up

# Not through nsx or timeout: $! must be minivmm itself (ip netns exec execs
# it), so SIGTERM reaches it and nothing else.
ip netns exec "$ns" "$MINIVMM" --kernel "$GUEST" --net mvtap0,model=e1000 --stats="$tmp/stats" \
	>"$tmp/out" 2>"$tmp/err" </dev/null &
vm_pid=$!
for _ in $(seq 1200); do
	grep -q "e1000flood: flooding" "$tmp/out" && break
	kill -0 "$vm_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "e1000flood: flooding" "$tmp/out"; then
	fail "the guest never started its flood"
	sed 's/^/#   /' "$tmp/out" "$tmp/err"
	exit 1
fi
# Well into the flood, the I/O thread and the vCPU both busy: a --stats
# snapshot (SIGUSR1) shows thousands of TSO segments sent and MSS-1 packets
# refused.
E1000='.devices["e1000.0"].counters'
for _ in $(seq 600); do
	kill -USR1 "$vm_pid" 2>/dev/null || break
	sleep 0.1
	segs=$(stat_of "$tmp/stats" "$E1000.tx_tso_segments")
	dropped=$(stat_of "$tmp/stats" "$E1000.tx_dropped")
	[ "${segs:-0}" -ge 20000 ] && [ "${dropped:-0}" -gt 0 ] && break
done
# minivmm names its main thread "minivmm" whatever the binary is called
# (minivmm-asan), and /proc/PID/exe may name another path where the tree is
# mounted from the host (the ordinary-KVM stage).
[ "$(cat /proc/"$vm_pid"/comm 2>/dev/null)" = minivmm ] || fail "pid $vm_pid is not minivmm"
# A hung minivmm must not hang the test.  The watchdog's sleep must not hold
# this script's output open, or whoever reads it waits the full minute.
# Killing the watchdog kills its sleep too.
(
	trap 'kill "$nap" 2>/dev/null; exit 0' TERM
	sleep 60 &
	nap=$!
	wait "$nap" && kill -KILL "$vm_pid" 2>/dev/null
) >/dev/null 2>&1 &
watchdog=$!
t0=$(date +%s%N)
kill -TERM "$vm_pid"
wait "$vm_pid"
rc=$?
t1=$(date +%s%N)
kill "$watchdog" 2>/dev/null
vm_pid=
ms=$(((t1 - t0) / 1000000))
echo "# SIGTERM to exit: $ms ms (exit status $rc)"
sed 's/^/#   /' "$tmp/out" "$tmp/err"

if [ "$rc" = 143 ] && ! grep -q 'error' "$tmp/err"; then
	pass "SIGTERM during the flood: normal exit (status 143, no error)"
else
	fail "exit status $rc (expected 143) or an error logged"
fi
[ "$ms" -lt "$LIMIT_MS" ] && pass "SIGTERM during the flood ends minivmm in $ms ms (< $LIMIT_MS)" ||
	fail "SIGTERM took $ms ms (limit $LIMIT_MS)"
segs=$(stat_of "$tmp/stats" "$E1000.tx_tso_segments")
dropped=$(stat_of "$tmp/stats" "$E1000.tx_dropped")
if [ "${segs:-0}" -gt 0 ] && [ "${dropped:-0}" -gt 0 ]; then
	pass "the flood ran ($segs TSO segments sent, $dropped packets with MSS 1 refused)"
else
	fail "no flood in --stats: $(jq -c "$E1000" "$tmp/stats" 2>&1)"
fi
exit $failed
