#!/usr/bin/env bash
# --stats end to end: the report is checked before the VM runs, written as
# JSON (docs/stats.md) whose figures agree with each other, written again on
# SIGUSR1 while the guest runs, and printed as a table without a path.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
LABEL=stats
MINIVMM=${MINIVMM:-./minivmm}
HELLO=tests/guest/hello.elf
TIMER=tests/guest/timer.elf
failed=0
pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}
if [ ! -e /dev/kvm ] || ! command -v jq >/dev/null; then
	echo "SKIP: $LABEL (needs /dev/kvm and jq)"
	exit 0
fi
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- an unwritable path fails at once, before the guest runs ----
"$MINIVMM" --kernel "$HELLO" --stats="$tmp/missing/report.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = "$EXIT_STATUS_USAGE" ] && grep -q "^minivmm: --stats $tmp/missing/report.json: cannot create a file in $tmp/missing: No such file or directory" "$tmp/err" &&
	! grep -q "Hello" "$tmp/out"; then
	pass "unwritable --stats path: exit $rc before the VM starts, with the reason"
else
	fail "unwritable --stats path: exit $rc, $(cat "$tmp/err")"
fi
"$MINIVMM" --kernel "$HELLO" --stats="$tmp" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = "$EXIT_STATUS_USAGE" ] && grep -q "is a directory" "$tmp/err" && pass "--stats naming a directory: exit $rc" ||
	fail "--stats naming a directory: exit $rc, $(cat "$tmp/err")"

# ---- the JSON report of a short run ----
"$MINIVMM" --kernel "$HELLO" --stats="$tmp/report.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
r=$tmp/report.json
if [ $rc = 0 ] && jq -e '.format == "minivmm-stats" and .version == 1 and .report.kind == "final"
	and .report.stop_reason == "poweroff"' "$r" >/dev/null; then
	pass "final report: valid JSON, format minivmm-stats version 1, stop reason poweroff"
else
	fail "final report: exit $rc, $(head -c 300 "$r" 2>/dev/null)"
fi
jq -e '.exits.total == ([.vcpus[].exits.total] | add) and .exits.total == .exits.io + .exits.mmio + .exits.other
	and .exits.io == ([.pio.ranges[].exits] | add) + .pio.unassigned_exits' "$r" >/dev/null &&
	pass "exit counts agree: per vCPU, by kind, and by port range" ||
	fail "exit counts disagree: $(jq -c '{exits, vcpus, pio}' "$r")"
jq -e '.devices["serial-0x3f8"].counters.tx_bytes > 0 and ([.threads[] | select(.role == "vcpu" and .ended and .cpu_us > 0)] | length) == 1
	and (.threads[] | select(.role == "main") | .cpus_allowed | length) > 0
	and .process.vmm_rss_kib > 0 and .process.startup_cpu_us > 0
	and .run.guest.kernel == "'"$HELLO"'" and .run.host.cpus_online > 0' "$r" >/dev/null &&
	pass "devices, threads (vCPU CPU time after it ended), process and run sections filled" ||
	fail "sections missing: $(jq -c '{devices, threads, process}' "$r")"
[ -z "$(find "$tmp" -name 'report.json.*')" ] && pass "no temporary file left beside the report" ||
	fail "temporary files left: $(ls -a "$tmp")"

# ---- SIGUSR1 writes a snapshot while the guest runs; SIGTERM a final report ----
"$MINIVMM" --kernel "$TIMER" --cmdline "console=ttyS0 ticks=3000" --stats="$tmp/live.json" \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 200); do # until the vCPU thread exists (bounded poll)
	grep -qx vcpu0 /proc/$pid/task/*/comm 2>/dev/null && break
	sleep 0.05
done
kill -USR1 "$pid"
for _ in $(seq 200); do # until the snapshot is there
	[ -s "$tmp/live.json" ] && break
	sleep 0.05
done
snapshot=$(jq -r '.report.kind + " " + .report.stop_reason' "$tmp/live.json" 2>/dev/null)
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$snapshot" = "snapshot running" ] && pass "SIGUSR1: snapshot written while the VM runs" ||
	fail "SIGUSR1: snapshot '$snapshot', $(tail -3 "$tmp/err")"
final=$(jq -r '.report.kind + " " + .report.stop_reason' "$tmp/live.json" 2>/dev/null)
[ "$final" = "final signal" ] && pass "SIGTERM: final report replaces the snapshot (exit $rc)" ||
	fail "after SIGTERM: '$final', exit $rc"

# ---- no path: a table on stderr, from the same figures ----
"$MINIVMM" --kernel "$HELLO" --stats >"$tmp/out" 2>"$tmp/err"
rc=$?
total=$(sed -n '/^exits:$/{n;s/^  total=\([0-9]*\) .*/\1/p}' "$tmp/err")
if [ $rc = 0 ] && grep -q "^minivmm statistics (minivmm-stats version 1)" "$tmp/err" &&
	[ "${total:-0}" -gt 0 ] && grep -q "^  serial-0x3f8: model=16550a " "$tmp/err"; then
	pass "--stats without a path: table on stderr ($total exits)"
else
	fail "--stats table: exit $rc, $(head -5 "$tmp/err")"
fi
exit $failed
