#!/usr/bin/env bash
# --seccomp under real KVM: the option parses (on, off, bad values exit 2
# with one clear line), a guest runs with the filters on and with them off,
# and while a guest runs every minivmm thread (main, vCPU, the virtio-blk
# I/O thread) is under a seccomp filter ("Seccomp: 2" in its
# /proc/PID/task/TID/status), or under none with --seccomp=off.  Whether a
# forbidden call is caught, with its log line, is tests/unit/test_seccomp.c.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/require_kvm.sh
require_kvm seccomp
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
vmm=${MINIVMM:-./minivmm}
hello=tests/guest/hello.elf
bench=tests/guest/virtio_blk_bench.elf
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failed=0

pass() { echo "PASS: seccomp: $1"; }
fail() {
	echo "FAIL: seccomp: $1"
	failed=1
}

for f in "$hello" "$bench"; do
	[ -e "$f" ] || {
		fail "missing $f (run make guests)"
		exit 1
	}
done

# bad_value NAME ARGS...: EXIT_STATUS_USAGE, one line naming the option, then the --help pointer.
bad_value() {
	local name=$1 rc
	shift
	"$vmm" --kernel "$hello" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ $rc = "$EXIT_STATUS_USAGE" ] && [ "$(grep -c '^minivmm: ' "$tmp/err")" = 1 ] &&
		grep -q -- "^minivmm: --seccomp" "$tmp/err" &&
		grep -q "^Try 'minivmm --help'" "$tmp/err"; then
		pass "$name refused: $(head -1 "$tmp/err")"
	else
		fail "$name: exit $rc, stderr:"
		sed 's/^/    /' "$tmp/err"
	fi
}
bad_value "--seccomp=maybe" --seccomp=maybe
bad_value "--seccomp ON" --seccomp ON
bad_value "--seccomp without a value" --seccomp
bad_value "--seccomp=" --seccomp=

if "$vmm" --help | grep -q -- '--seccomp on|off'; then
	pass "--help lists --seccomp"
else
	fail "--help does not list --seccomp"
fi

for mode in "" --seccomp=on --seccomp=off "--seccomp off"; do
	# shellcheck disable=SC2086 # $mode is zero, one or two words
	out=$(timeout 60 "$vmm" --kernel "$hello" $mode --console stdio 2>&1 </dev/null)
	rc=$?
	if [ $rc = 0 ] && echo "$out" | grep -q '^Hello from minivmm test guest'; then
		pass "hello guest runs with ${mode:-the default (on)}"
	else
		fail "hello guest with ${mode:-the default}: exit $rc"
		echo "$out" | tail -5 | sed 's/^/    /'
	fi
done

# seccomp_of_threads PID: "comm=N" for each of minivmm's own threads.
seccomp_of_threads() {
	local t comm
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in
		minivmm | vcpu* | virtio-* | e1000.* | console-in)
			echo "$comm=$(awk '/^Seccomp:/ {print $2}' "$t/status" 2>/dev/null)"
			;;
		esac
	done | sort
}

# A guest that keeps its vCPU and the disk's I/O thread busy until SIGTERM.
truncate -s 16M "$tmp/disk.img"
for mode in on off; do
	want=2
	[ $mode = off ] && want=0
	"$vmm" --kernel "$bench" --disk "$tmp/disk.img" --cmdline "bench.n=1000000000" \
		--cpus 2 --seccomp=$mode --console "file:$tmp/console" 2>"$tmp/err" </dev/null &
	pid=$!
	threads=
	for _ in $(seq 100); do
		threads=$(seccomp_of_threads $pid)
		echo "$threads" | grep -q '^virtio-blk.0=' && echo "$threads" | grep -q '^vcpu1=' &&
			echo "$threads" | grep -q '^minivmm=2' && break
		[ $mode = off ] && echo "$threads" | grep -q '^virtio-blk.0=' &&
			echo "$threads" | grep -q '^vcpu1=' && break
		sleep 0.1
	done
	names=$(echo "$threads" | cut -d= -f1 | tr '\n' ' ')
	if ! echo "$threads" | grep -q '^virtio-blk.0='; then
		fail "--seccomp=$mode: the guest did not start the disk's I/O thread; threads: $names"
	elif [ -z "$(echo "$threads" | grep -v "=$want\$")" ]; then
		pass "--seccomp=$mode: every thread has Seccomp: $want ($names)"
	else
		fail "--seccomp=$mode: threads not at Seccomp: $want: $(echo "$threads" | grep -v "=$want\$" | tr '\n' ' ')"
	fi
	kill -TERM $pid
	wait $pid
	rc=$?
	pid=
	if [ $rc = 143 ] && ! grep -q 'seccomp' "$tmp/err"; then
		pass "--seccomp=$mode: SIGTERM stops the VM normally"
	else
		fail "--seccomp=$mode: after SIGTERM: exit $rc, stderr:"
		sed 's/^/    /' "$tmp/err"
	fi
done

exit $failed
