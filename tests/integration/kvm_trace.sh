#!/usr/bin/env bash
# In-kernel exits under real KVM: the "kernel_exits" section of --stats
# (vmm/kvm_trace.c, docs/stats.md).  As root the kvm:* tracepoints are
# counted per vCPU, and every QueueNotify the virtio-blk benchmark guest
# writes shows up as an in-kernel MMIO write of the device's window (KVM
# serves it through the ioeventfd, minivmm never sees it); the user-space
# side of the arithmetic agrees with minivmm's own exit counts.  Without
# CAP_PERFMON/CAP_SYS_ADMIN (and perf_event_paranoid > 1) the section says
# why instead of reporting zeros.
# tracefs is mounted for the test when nothing mounted it (and unmounted
# after); the ids of the tracepoints are only there.
# Usage: MINIVMM=build/minivmm tests/integration/kvm_trace.sh   (repo root, as root)
cd "$(dirname "$0")/../.." || exit 1
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/virtio_blk_bench.elf
LABEL=kvm-trace
failed=0

pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}

if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ] || ! command -v jq >/dev/null; then
	echo "SKIP: $LABEL (needs root, /dev/kvm and jq)"
	exit 0
fi
for f in "$MINIVMM" "$GUEST"; do
	[ -e "$f" ] || {
		fail "missing $f (run make)"
		exit 1
	}
done

tmp=$(mktemp -d /var/tmp/minivmm-kvmtrace.XXXXXX)
mounted=
# shellcheck disable=SC2317 # run from the EXIT trap
cleanup() {
	[ -n "$mounted" ] && umount "$mounted"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ] &&
	[ -d /sys/kernel/tracing ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
	mounted=/sys/kernel/tracing
	echo "($LABEL: mounted tracefs on /sys/kernel/tracing for this test)"
fi
have_tracefs=0
[ -d /sys/kernel/tracing/events/kvm ] || [ -d /sys/kernel/debug/tracing/events/kvm ] && have_tracefs=1

# run NAME [PREFIX...]: the benchmark guest (random 4 KiB O_DIRECT writes at
# QD 1, so the device sleeps between requests and the guest kicks often)
# under PREFIX, with --stats=$tmp/NAME.json and its console in $tmp/NAME.out.
run() {
	local name=$1
	shift
	truncate -s 64M "$tmp/disk.img"
	timeout 120 "$@" "$MINIVMM" --kernel "$GUEST" --disk "$tmp/disk.img,engine=io_uring,cache=none" \
		--cmdline "bench.n=1000 bench.qd=1 bench.write=1" --stats="$tmp/$name.json" \
		>"$tmp/$name.out" 2>&1
}

# q NAME FILTER: a value of $tmp/NAME.json (jq), empty if absent or null
# (not `// empty`, which would hide false).
q() { jq -r "($2) | select(. != null)" "$tmp/$1.json" 2>/dev/null; }

K=.kernel_exits
BLK='.kernel_exits.by_window["virtio-blk.0"]'

# ---- as root ----
run root
rc=$?
kicks=$(sed -n 's/^blkbench: .* kicks=\([0-9]*\) .*/\1/p' "$tmp/root.out")
if [ $rc != 0 ] || [ -z "$kicks" ] || [ ! -s "$tmp/root.json" ]; then
	fail "benchmark guest (exit $rc, no blkbench line or no --stats file)"
	tail -20 "$tmp/root.out"
	exit 1
fi

if [ $have_tracefs = 0 ]; then
	# Not this host's fault the test can fix: the report must say so.
	if [ "$(q root "$K.available")" = false ] && q root "$K.reason" | grep -q tracefs &&
		[ -z "$(q root "$K.events")" ]; then
		pass "no tracefs here: kernel_exits says why ($(q root "$K.reason")) and prints no counts"
	else
		fail "no tracefs here, yet kernel_exits is $(jq -c "$K" "$tmp/root.json")"
	fi
	exit $failed
fi

if [ "$(q root "$K.available")" = true ] && [ "$(q root "$K.source")" = "perf_event tracepoints" ]; then
	pass "as root, in-kernel exits are counted from perf_event tracepoints"
else
	fail "as root, kernel_exits: $(jq -c "$K" "$tmp/root.json")"
	exit 1
fi

missing=$(q root "$K.missing | join(\",\")")
for e in kvm_userspace_exit kvm_exit kvm_mmio kvm_fast_mmio kvm_pio; do
	[ -n "$(q root "$K.events.$e")" ] || fail "events.$e absent (missing: $missing)"
done
[ -z "$missing" ] && pass "all five tracepoints counted"

# The per-vCPU figures add up to the totals.
if [ "$(jq "$K | .events == ([.per_vcpu[] | del(.vcpu) | to_entries[]] | group_by(.key) |
	map({key: .[0].key, value: (map(.value) | add)}) | from_entries)" "$tmp/root.json")" = true ] &&
	[ "$(q root "$K.vcpus_counted")" = "$(q root '.vcpus | length')" ]; then
	pass "per_vcpu counts add up to events, every vCPU counted"
else
	fail "per_vcpu does not add up: $(jq -c "$K | {events, per_vcpu, vcpus_counted}" "$tmp/root.json")"
fi

# Every exit minivmm handled was a return to user space KVM traced.
uexits=$(q root "$K.events.kvm_userspace_exit")
seen=$(q root '.exits.total')
if [ -n "$seen" ] && [ "$uexits" -ge "$seen" ] && [ "$seen" -gt 0 ]; then
	pass "kvm_userspace_exit $uexits >= exits minivmm handled ($seen)"
else
	fail "kvm_userspace_exit ${uexits:-?} vs exits.total ${seen:-?}"
fi

# kvm_exit: a count of every exit where the host fires it, else marked unusable.
kexit=$(q root "$K.events.kvm_exit")
usable=$(q root "$K.kvm_exit_usable | tostring")
if [ "$usable" = true ] && [ "$kexit" -ge "$seen" ]; then
	pass "kvm_exit counts every exit here ($kexit >= $seen)"
elif [ "$usable" = false ] && [ "$kexit" = 0 ] && [ "$uexits" -gt 0 ]; then
	pass "kvm_exit never fires on this host (0 beside $uexits returns): marked unusable"
else
	fail "kvm_exit $kexit with kvm_exit_usable $usable ($uexits user-space returns)"
fi

# Every kick of the guest was served in the kernel: the ioeventfd of QueueNotify.
in_kernel=$(q root "$BLK.in_kernel")
if [ "$kicks" -gt 0 ] && [ "$in_kernel" = "$kicks" ]; then
	pass "virtio-blk.0: in-kernel MMIO writes ($in_kernel) == the guest's kicks ($kicks)"
else
	fail "virtio-blk.0: in_kernel ${in_kernel:-absent} vs the guest's $kicks kicks: $(jq -c "$BLK" "$tmp/root.json")"
fi
if [ "$(q root '.devices["virtio-blk.0"].transport.kicks_via')" = ioeventfd ] &&
	[ "$(q root '.devices["virtio-blk.0"].transport.notifies_on_exit_path')" = 0 ]; then
	pass "virtio-blk.0 kicks went through the ioeventfd, none reached minivmm"
else
	fail "virtio-blk.0 transport: $(jq -c '.devices["virtio-blk.0"].transport' "$tmp/root.json")"
fi

# The user-space side of the arithmetic is minivmm's own count of register writes.
uwrites=$(q root "$BLK.userspace_writes")
reg_writes=$(q root '[.devices["virtio-blk.0"].exits_by_register | to_entries[] |
	select(.key | endswith(".w")) | .value] | add')
total=$(q root "$BLK.mmio_writes_total")
if [ -n "$reg_writes" ] && [ "$uwrites" = "$reg_writes" ] &&
	[ "$total" = $((uwrites + in_kernel)) ]; then
	pass "virtio-blk.0: $total writes = $uwrites register writes minivmm handled + $in_kernel in the kernel"
else
	fail "virtio-blk.0: userspace_writes ${uwrites:-?}, register writes ${reg_writes:-?}, total ${total:-?}"
fi

# ---- without the capabilities that allow counting kernel events ----
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null)
if ! command -v setpriv >/dev/null || ! setpriv --bounding-set -perfmon,-sys_admin true 2>/dev/null; then
	echo "SKIP: $LABEL: without CAP_PERFMON (setpriv cannot drop it here)"
elif [ -n "$paranoid" ] && [ "$paranoid" -gt 1 ]; then
	run nocap setpriv --bounding-set -perfmon,-sys_admin --inh-caps -perfmon,-sys_admin
	rc=$?
	reason=$(q nocap "$K.reason")
	if [ $rc = 0 ] && [ "$(q nocap "$K.available")" = false ] &&
		[ -z "$(q nocap "$K.source")" ] && [ -z "$(q nocap "$K.events")" ] &&
		echo "$reason" | grep -q "perf_event_paranoid <= 1 (it is $paranoid)"; then
		pass "without CAP_PERFMON: no counts, the reason instead ($reason)"
	else
		fail "without CAP_PERFMON (exit $rc): $(jq -c "$K" "$tmp/nocap.json" 2>&1)"
	fi
else
	echo "SKIP: $LABEL: without CAP_PERFMON (perf_event_paranoid is ${paranoid:-unknown}: counting is allowed anyway)"
fi
exit $failed
