#!/usr/bin/env bash
# --cpu-affinity under real KVM.  Bad lists exit 2 with one line naming the
# CPU; a placed VM has its vCPU threads and its disk's I/O thread on the
# requested host CPUs (a vcpuN= list overriding vcpus=), read from
# /proc/PID/task/*/status while the guest runs; without the option every
# thread keeps the process's own CPUs.  The placement checks need two CPUs
# this process may use and are skipped (SKIP line) on a host with fewer.
#
# The guest is the block benchmark with far more requests than it has time
# for: it keeps running (and keeps its I/O thread busy) until SIGTERM.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/require_kvm.sh
require_kvm cpu-affinity
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
vmm=${MINIVMM:-./minivmm}
guest=tests/guest/virtio_blk_bench.elf
limit=${GUEST_TIMEOUT:-120} # seconds for the threads to appear
tmp=$(mktemp -d)
vm_pid=
failed=0

cleanup() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null && wait "$vm_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS: cpu-affinity: $1"; }
fail() {
	echo "FAIL: cpu-affinity: $1"
	failed=1
}
show() { [ -s "$1" ] && sed 's/^/    | /' "$1"; }

for f in "$vmm" "$guest"; do
	[ -e "$f" ] || {
		fail "missing $f (run make)"
		exit 1
	}
done
truncate -s 8M "$tmp/disk.img"

# expand LIST: "0-2,5" -> "0 1 2 5" (the Cpus_allowed_list notation).
expand() {
	local entry entries c out=()
	IFS=, read -ra entries <<<"$1"
	for entry in "${entries[@]}"; do
		for ((c = ${entry%-*}; c <= ${entry#*-}; c++)); do
			out+=("$c")
		done
	done
	echo "${out[@]}"
}

allowed_list=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
read -ra allowed <<<"$(expand "$allowed_list")"

# ---- rejected lists: EXIT_STATUS_USAGE, one line, no guest ----

# expect_usage NAME REGEX AFFINITY [MORE ARGS...]
expect_usage() {
	local name=$1 regex=$2 spec=$3 rc
	shift 3
	"$vmm" --kernel "$guest" --console none --disk "$tmp/disk.img" \
		--cmdline 'bench.n=1 bench.qd=1 bench.write=0' --cpu-affinity "$spec" "$@" \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" != "$EXIT_STATUS_USAGE" ]; then
		fail "$name: exit status $rc, expected $EXIT_STATUS_USAGE"
		show "$tmp/err"
	elif [ "$(grep -c '^minivmm: ' "$tmp/err")" != 1 ] || ! grep -Eq -- "$regex" "$tmp/err"; then
		fail "$name: expected one line matching /$regex/, got:"
		show "$tmp/err"
	else
		pass "$name exits $rc: $(head -1 "$tmp/err")"
	fi
}

expect_usage out-of-range '^minivmm: --cpu-affinity vcpus=9999: .*CPU 9999 is out of range' vcpus=9999
expect_usage garbage "'x' is not a CPU number" vcpus=0,io=x
expect_usage no-such-vcpu 'vcpu1=: no such vCPU' vcpus=0,vcpu1=0 --cpus 1
# The first CPU number this process may not run on (there is always one below 1024 here).
for ((c = 0; c < 1024; c++)); do
	[[ " ${allowed[*]} " == *" $c "* ]] || break
done
if [ "$c" -lt 1024 ]; then
	expect_usage not-allowed "CPU $c \\(in io=\\) is not one this process may run on \\(allowed: $allowed_list\\)" \
		"vcpus=${allowed[0]},io=$c"
fi

# ---- placement while the guest runs ----

# start_vm [--cpu-affinity SPEC]: boots the long-running guest with 2 vCPUs
# (the second waits for a SIPI that never comes, in KVM_RUN all along).
start_vm() {
	"$vmm" --kernel "$guest" --console none --cpus 2 --disk "$tmp/disk.img" \
		--cmdline 'bench.n=1000000000 bench.qd=1 bench.write=0' "$@" \
		>"$tmp/out" 2>"$tmp/err" </dev/null &
	vm_pid=$!
}

# tid_of NAME: the thread of $vm_pid named NAME, polled for until it exists
# (the I/O thread starts once the guest driver sets DRIVER_OK).  Each thread
# places itself before naming itself, so a named thread is a placed one.
tid_of() {
	local deadline=$((SECONDS + limit)) t
	while [ $SECONDS -lt $deadline ] && kill -0 "$vm_pid" 2>/dev/null; do
		for t in /proc/"$vm_pid"/task/*; do
			if [ "$(cat "$t/comm" 2>/dev/null)" = "$1" ]; then
				echo "${t##*/}"
				return 0
			fi
		done
		sleep 0.05 # poll interval only: the loop ends when the thread exists
	done
	return 1
}

# check_thread NAME WANT: the thread's Cpus_allowed_list is WANT.
check_thread() {
	local name=$1 want=$2 tid got
	if ! tid=$(tid_of "$name"); then
		fail "$label: no thread named $name (minivmm exited or took over ${limit} s)"
		show "$tmp/err"
		return
	fi
	got=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/"$vm_pid"/task/"$tid"/status)
	if [ "$got" = "$want" ]; then
		pass "$label: $name runs on CPUs $got"
	else
		fail "$label: $name runs on CPUs '$got', expected '$want'"
	fi
}

# stop_vm: SIGTERM ends the run (exit status 128+15) with no error logged.
stop_vm() {
	local rc
	kill -TERM "$vm_pid" 2>/dev/null
	wait "$vm_pid"
	rc=$?
	vm_pid=
	if [ "$rc" = 143 ] && ! grep -q 'error' "$tmp/err"; then
		pass "$label: stops cleanly on SIGTERM"
	else
		fail "$label: exit status $rc (expected 143) or an error logged:"
		show "$tmp/err"
	fi
}

if [ "${#allowed[@]}" -lt 2 ]; then
	echo "SKIP: cpu-affinity: placement (needs 2 CPUs this process may use, has $allowed_list)"
	[ "$failed" = 0 ]
	exit
fi
a=${allowed[0]} b=${allowed[1]}

label="vcpus=$b,io=$a,vcpu1=$a"
start_vm --cpu-affinity "$label"
check_thread vcpu0 "$b"
check_thread vcpu1 "$a"
check_thread virtio-blk.0 "$a"
stop_vm

label="no --cpu-affinity"
start_vm
check_thread vcpu0 "$allowed_list"
check_thread virtio-blk.0 "$allowed_list"
stop_vm

[ "$failed" = 0 ]
