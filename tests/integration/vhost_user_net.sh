#!/usr/bin/env bash
# virtio-net over vhost-user against a real back-end, DPDK's dpdk-testpmd:
# its vhost PMD serves the guest's rings and "io" forwarding joins it to a
# TAP PMD port, whose kernel tap (in a private network namespace) is where
# lib/frames.py captures the guest's frames and injects frames for it,
# exactly as virtio_net.sh does with minivmm's own tap back-end:
#   guest TX -> vhost PMD -> testpmd -> TAP PMD -> kernel tap -> capture
#   inject -> kernel tap -> TAP PMD -> testpmd -> vhost PMD -> guest RX
# The functional guest (tests/guest/virtio_net.elf) runs with plain and
# with mergeable RX buffers.  Then the faults: no back-end at start, and
# testpmd killed (SIGKILL) while the guest transmits.
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=vhost-user-net
. tests/integration/lib/netns.sh
. tests/integration/lib/vhost_user.sh
GUEST=tests/guest/virtio_net.elf
DEATH=tests/guest/vhost_user_death.elf
MAC=52:54:00:12:34:58
TAP=mvvhu0
NTX=40
NRX=24
VNET='.devices["virtio-net.0"]'

net_require "$MINIVMM" "$GUEST" "$DEATH"
vu_require_tools dpdk-testpmd stdbuf
net_setup
VU_DIR=$tmp
# Back-ends first: net_cleanup waits for every child of this shell.
trap 'vu_cleanup; net_cleanup' EXIT
trap 'exit 1' INT TERM

# capture_start and run_vm: lib/netns.sh's net_capture_start and
# net_run_guest, but with `ip netns exec` run directly rather than through
# the nsx function: backgrounding a function forks a subshell, so $! would
# be that subshell and killing it (net_cleanup, on an interrupted run) would
# leave the capture, timeout and minivmm running.  `ip netns exec` execs its
# command: $! is the process itself.
capture_start() {
	: >"$tmp/capture"
	ip netns exec "$ns" python3 "$NET_LIB/frames.py" capture "$@" >"$tmp/capture" 2>&1 &
	cap_pid=$!
	vu_wait 10 vu_start_settled "$cap_pid" grep -q "capture: ready" "$tmp/capture"
}

# run_vm SECONDS READY INJECT TAP MAC COUNT MINIVMM_ARGS...: as net_run_guest.
run_vm() {
	local secs=$1 ready=$2 inject=$3 tap=$4 mac=$5 count=$6
	shift 6
	injected=0
	start=$(date +%s)
	: >"$tmp/out"
	ip netns exec "$ns" timeout "$secs" "$MINIVMM" "$@" >"$tmp/out" 2>"$tmp/err" &
	vm_pid=$!
	vu_wait "$secs" vu_start_settled "$vm_pid" grep -q "$ready" "$tmp/out"
	grep -q "$ready" "$tmp/out" &&
		ip netns exec "$ns" python3 "$NET_LIB/frames.py" "$inject" "$tap" "$mac" "$count" &&
		injected=1
	net_wait_vm_and_capture
}

# run_guest NAME MRG: testpmd afresh, the guest once, both directions.
run_guest() {
	local name=$1 mrg=$2 tp sock=$tmp/net.sock log=$tmp/testpmd-$2.log
	if ! vu_testpmd_start "$ns" "$sock" "$TAP" "$log"; then
		fail "$name: dpdk-testpmd did not start"
		return
	fi
	tp=$vu_pid
	capture_start "$TAP" "$MAC" "$NTX" 60
	run_vm 120 "virtio-net: ready for rx" inject "$TAP" "$MAC" "$NRX" \
		--kernel "$GUEST" --mem 64M --net "vhost-user=$sock,mac=$MAC" \
		--cmdline "console=ttyS0 vnet.tx=$NTX vnet.rx=$NRX vnet.mrg=$mrg vnet.mac=$MAC" \
		--stats="$tmp/stats"
	vu_stop "$tp" TERM
	echo "# $name: guest ran $(($(date +%s) - start)) s; its output:"
	sed 's/^/#   /' "$tmp/out" "$tmp/err"
	echo "#   $VNET: $(jq -c "$VNET | del(.exits_by_register)" "$tmp/stats" 2>/dev/null)"

	[ "$rc" = 0 ] && pass "$name: guest driver (features, MAC, link, TX, RX, interrupts) exits 0" ||
		fail "$name: guest exited $rc"
	[ "$cap_rc" = 0 ] && pass "$name: $NTX guest frames arrive on the tap through testpmd byte for byte" ||
		fail "$name: host capture: $(tail -1 "$tmp/capture")"
	[ "$injected" = 1 ] && grep -q "virtio-net: received $NRX frames ok" "$tmp/out" &&
		pass "$name: $NRX injected frames reach the guest through testpmd byte for byte" ||
		fail "$name: guest did not receive the injected frames"
	# testpmd's own count: port 0 is the vhost port (RX = the guest's TX).
	local vrx vtx
	vrx=$(vu_testpmd_port_stat "$log" 0 RX-packets)
	vtx=$(vu_testpmd_port_stat "$log" 0 TX-packets)
	[ "${vrx:-0}" -ge "$NTX" ] && [ "${vtx:-0}" -ge "$NRX" ] &&
		pass "$name: testpmd moved the frames (vhost port: $vrx received from, $vtx sent to the guest)" ||
		fail "$name: testpmd's vhost port counts rx ${vrx:-?} tx ${vtx:-?} (want >= $NTX, >= $NRX)"
	[ "$(stat_of "$tmp/stats" '.run.guest.nets[0].vhost_user')" = "$sock" ] &&
		[ "$(jq -r "$VNET.vhost_user | type" "$tmp/stats" 2>/dev/null)" = object ] &&
		pass "$name: --stats: virtio-net.0 is a vhost-user device on $sock" ||
		fail "$name: --stats: no vhost_user object for virtio-net.0, or run.guest.nets[0].vhost_user is not $sock"
	# minivmm handles no packet: its own counters stay at zero, no kick is a VM exit.
	local txp rxp kicks
	txp=$(stat_of "$tmp/stats" "$VNET.counters.tx_packets")
	rxp=$(stat_of "$tmp/stats" "$VNET.counters.rx_packets")
	kicks=$(stat_of "$tmp/stats" "$VNET.exits_by_register[\"QueueNotify.w\"]")
	[ "${txp:-0}" = 0 ] && [ "${rxp:-0}" = 0 ] && [ -z "$kicks" ] &&
		pass "$name: minivmm handled no packet and took no kick as a VM exit" ||
		fail "$name: minivmm on the data path: tx_packets ${txp:-none} rx_packets ${rxp:-none} QueueNotify exits ${kicks:-none}"
}

run_guest "plain buffers" 0
# vnet.mrg=1: MRG_RXBUF with 256-byte buffers; the guest asserts it was negotiated.
run_guest "mergeable buffers" 1

# ---- no back-end at start: one clear error naming the socket, exit 1 ----
vu_missing_backend_test "$tmp/no-such-backend.sock" nsx timeout 30 "$MINIVMM" --kernel "$GUEST" \
	--net "vhost-user=$tmp/no-such-backend.sock"

# ---- testpmd dies (SIGKILL) while the guest transmits ----
# The guest ends the VM itself once it sees NEEDS_RESET (stay=0), or idles
# until minivmm is stopped with SIGTERM (stay=1).  `ip netns exec` execs
# minivmm, so the signal reaches minivmm itself.
sock=$tmp/net.sock
for stay in 0 1; do
	name="back-end killed during TX"
	[ $stay = 1 ] && name="$name, VM stopped by SIGTERM"
	if vu_testpmd_start "$ns" "$sock" "$TAP" "$tmp/testpmd-death-$stay.log"; then
		vu_death_test "$name" "$vu_pid" $stay virtio-net.0 "$tmp/death-$stay.json" \
			ip netns exec "$ns" "$MINIVMM" --kernel "$DEATH" --mem 64M --net "vhost-user=$sock,mac=$MAC" \
			--cmdline "console=ttyS0 death.timeout=60 death.stay=$stay" \
			--stats="$tmp/death-$stay.json"
	else
		fail "$name: dpdk-testpmd did not start"
	fi
done

exit $failed
