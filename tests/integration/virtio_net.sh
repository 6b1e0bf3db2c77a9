#!/usr/bin/env bash
# virtio-net end to end: tests/guest/virtio_net.elf drives the device through
# a tap inside a private network namespace.  The host side captures the
# frames the guest sends and injects frames for the guest (AF_PACKET on the
# tap, python3); both directions are checked byte for byte (the guest checks
# what it receives).  Run twice: plain RX buffers (with an oversized frame
# the device must drop and count) and MRG_RXBUF with 256-byte buffers, so
# every full-size frame spans several buffers.
set -u
cd "$(dirname "$0")/../.."
LABEL=virtio-net
. tests/integration/lib/netns.sh
GUEST=tests/guest/virtio_net.elf
MAC=52:54:00:12:34:57
NTX=40
NRX=24

net_require "$MINIVMM" "$GUEST"
net_setup
nsx ip tuntap add dev mvvnet0 mode tap
# A large MTU lets the host inject a frame bigger than the guest's buffers.
nsx ip link set mvvnet0 mtu 9000 up

# run_guest NAME MRG INJECT_MODE [MAC]: boots the guest once, both directions.
VNET='.devices["virtio-net.0"]'
run_guest() {
	local name=$1 mrg=$2 inject=$3 mac=${4:-} netopt=mvvnet0 want_mac
	want_mac=${mac:-02:6d:76:00:00:00}
	[ -n "$mac" ] && netopt="mvvnet0,model=virtio,mac=$mac"
	net_capture_start mvvnet0 "$want_mac" "$NTX" 60
	net_run_guest 120 "virtio-net: ready for rx" "$inject" mvvnet0 "$want_mac" "$NRX" \
		--kernel "$GUEST" --net "$netopt" \
		--cmdline "console=ttyS0 vnet.tx=$NTX vnet.rx=$NRX vnet.mrg=$mrg vnet.mac=$want_mac" \
		--stats="$tmp/stats"
	echo "# $name: guest ran $(($(date +%s) - start)) s; its output:"
	sed 's/^/#   /' "$tmp/out" "$tmp/err"
	jq -c "$VNET.counters" "$tmp/stats" | sed 's/^/#   /'

	[ "$rc" = 0 ] && pass "$name: guest driver (discovery, features, MAC, link, TX, RX, irqfd interrupts) exits 0" ||
		fail "$name: guest exited $rc"
	[ "$cap_rc" = 0 ] && pass "$name: $NTX guest frames arrive on the tap byte for byte" ||
		fail "$name: host capture: $(tail -1 "$tmp/capture")"
	[ $injected = 1 ] && grep -q "virtio-net: received $NRX frames ok" "$tmp/out" &&
		pass "$name: $NRX injected frames reach the guest byte for byte" ||
		fail "$name: guest did not receive the injected frames"
	if [ "$(stat_of "$tmp/stats" "$VNET.counters.tx_packets")" = "$NTX" ] &&
		[ "$(stat_of "$tmp/stats" "$VNET.counters.tx_dropped")" = 0 ] &&
		[ "$(stat_of "$tmp/stats" "$VNET.counters.rx_packets")" = "$NRX" ]; then
		pass "$name: --stats counts $NTX tx and $NRX rx packets"
	else
		fail "$name: --stats figures missing or wrong: $(jq -c "$VNET.counters" "$tmp/stats")"
	fi
}

# The default MAC is random per VM (tests/integration/net_user.sh checks it): a known one here.
run_guest "plain buffers" 0 inject-oversized 02:6d:76:00:00:00
[ "$(stat_of "$tmp/stats" "$VNET.counters.rx_dropped")" = 1 ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.counters.rx_oversized")" = 1 ] &&
	pass "plain buffers: a frame larger than the RX buffer is dropped and counted, later frames arrive" ||
	fail "plain buffers: oversized frame not counted: $(jq -c "$VNET.counters" "$tmp/stats")"
[ "$(stat_of "$tmp/stats" "$VNET.transport.kicks_via")" = ioeventfd ] &&
	[ "$(stat_of "$tmp/stats" "$VNET.transport.interrupts_via")" = irqfd ] &&
	pass "kicks by ioeventfd, interrupts by irqfd" ||
	fail "ioeventfd/irqfd not in use: $(jq -c "$VNET.transport" "$tmp/stats")"
# No QueueNotify among the register exits: every kick went through ioeventfd.
[ -z "$(stat_of "$tmp/stats" "$VNET.exits_by_register[\"QueueNotify.w\"]")" ] &&
	pass "no kick reached minivmm as a VM exit" ||
	fail "kicks as VM exits: $(jq -c "$VNET.exits_by_register" "$tmp/stats")"
echo "# register exits (set-up and interrupt acks, no kicks): $(jq -c "$VNET.exits_by_register" "$tmp/stats")"

run_guest "mergeable buffers" 1 inject "$MAC"

# minivmm must let go of its tap when it exits: a VM started right after on
# the same tap (a script restarting it) must not find it busy.  The TX bench
# guest leaves the device polling the tap for received frames; an I/O thread
# not stopped at exit left that poll to the kernel's background io_uring
# teardown, and the next start failed with "busy" in 9 of 20 runs.
busy=0
for model in virtio e1000; do
	elf=tests/guest/virtio_netbench.elf
	[ $model = e1000 ] && elf=tests/guest/e1000bench.elf
	for _ in 1 2 3 4 5; do
		nsx timeout 60 "$MINIVMM" --kernel "$elf" --net "mvvnet0,model=$model,mac=$MAC" \
			--cmdline "console=ttyS0 bench.mode=tx bench.size=64 bench.batch=1 bench.count=200" \
			>"$tmp/out" 2>"$tmp/err" || { busy=$((busy + 1)); tail -1 "$tmp/err"; }
	done
done
[ $busy = 0 ] && pass "the tap is free as soon as minivmm exits (10 back-to-back VMs, virtio and e1000)" ||
	fail "$busy of 10 back-to-back VMs could not start on the tap"

exit $failed
