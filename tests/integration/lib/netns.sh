# Shared by the integration scripts that drive a guest NIC through a tap in a
# private network namespace.  Sourced, never run on its own (tests/run-all
# runs only tests/integration/*.sh).  The sourcing script runs from the
# repository root and sets LABEL, the prefix of its PASS:/FAIL: lines.

NET_LIB=tests/integration/lib
MINIVMM=${MINIVMM:-./minivmm}
failed=0

pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}

# net_require FILE...: exits 0 with a SKIP line where the test cannot run,
# 1 with a FAIL line when a FILE is missing.
net_require() {
	if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || [ ! -e /dev/kvm ] ||
		! command -v python3 >/dev/null || ! command -v jq >/dev/null; then
		echo "SKIP: $LABEL (needs root, /dev/net/tun, /dev/kvm, python3 and jq)"
		exit 0
	fi
	for f in "$@"; do
		[ -e "$f" ] || {
			fail "missing $f (run make)"
			exit 1
		}
	done
}

nsx() { ip netns exec "$ns" "$@"; }

# stat_of FILE FILTER: a value from a --stats=FILE report (jq filter, e.g.
# '.devices["e1000.0"].counters.tx_packets'); empty if absent.
stat_of() { jq -r "($2) // empty" "$1" 2>/dev/null; }

net_cleanup() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null
	[ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}

# net_setup: creates the namespace $ns (no IPv6, lo up) and the directory
# $tmp; both go on exit, with any guest or capture still running.
net_setup() {
	ns=minivmm-test-$$
	tmp=$(mktemp -d)
	vm_pid= cap_pid=
	trap net_cleanup EXIT
	ip netns add "$ns" || {
		fail "cannot create network namespace"
		exit 1
	}
	# No IPv6: the namespace's own stack must not put frames on the tap.
	nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	nsx ip link set lo up
}

# net_wait_vm_and_capture: waits for the VM ($vm_pid; its status in rc),
# then for the capture ($cap_pid; its status in cap_rc), and forgets both
# (the cleanup trap then kills neither).
net_wait_vm_and_capture() {
	wait "$vm_pid"
	rc=$?
	vm_pid=
	wait "$cap_pid"
	cap_rc=$?
	cap_pid=
}

# net_capture_start TAP MAC COUNT IDLE_SECONDS: captures and checks the
# guest's COUNT frames in the background (lib/frames.py capture; its report
# in $tmp/capture); returns once the capture listens.
net_capture_start() {
	nsx python3 "$NET_LIB/frames.py" capture "$@" >"$tmp/capture" 2>&1 &
	cap_pid=$!
	for _ in $(seq 100); do
		grep -q "capture: ready" "$tmp/capture" && break
		sleep 0.1
	done
}

# net_run_guest SECONDS READY INJECT TAP MAC COUNT MINIVMM_ARGS...: runs
# minivmm in the namespace for at most SECONDS (output in $tmp/out and
# $tmp/err); once the guest prints READY, sends it COUNT frames with
# `lib/frames.py INJECT`.  Then waits for the capture.  Sets rc (minivmm's
# exit status), cap_rc (the capture's), injected (1 once sent) and start.
net_run_guest() {
	local secs=$1 ready=$2 inject=$3 tap=$4 mac=$5 count=$6
	shift 6
	injected=0
	start=$(date +%s)
	nsx timeout "$secs" "$MINIVMM" "$@" >"$tmp/out" 2>"$tmp/err" &
	vm_pid=$!
	for _ in $(seq $((secs * 10))); do
		if grep -q "$ready" "$tmp/out"; then
			nsx python3 "$NET_LIB/frames.py" "$inject" "$tap" "$mac" "$count" && injected=1
			break
		fi
		kill -0 "$vm_pid" 2>/dev/null || break
		sleep 0.1
	done
	net_wait_vm_and_capture
}
