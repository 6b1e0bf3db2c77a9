#!/usr/bin/env bash
# --net TAP,ip=ADDR/LEN: minivmm creates the tap, brings it up and gives it
# the host address over rtnetlink; no `ip` command is run before it.  Inside
# a private network namespace, tests/guest/net_user.elf (10.0.2.15, which
# talks to 10.0.2.2) then finds the namespace's own stack behind the tap:
# the kernel answers its ARP request and its ping only if the tap is up with
# 10.0.2.2/24, and a TCP connect from the namespace to 10.0.2.15 reaches the
# guest as a SYN.  While the VM runs `ip -4 addr show` must list the address
# on an UP tap; afterwards the tap is gone.  The same guest without ip= gets
# no ARP reply (status 10): the test fails when the feature is absent.
# ip= on a tap that exists already is refused.
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=net-tap-ip
. tests/integration/lib/netns.sh
. tests/integration/lib/net_user_guest.sh
GUEST=tests/guest/net_user.elf
TAP=mvip0
MAC=02:6d:76:1e:00:01
PORT=2222

net_require "$MINIVMM" "$GUEST"
net_setup

# run_vm NETOPT [GUEST_ARGS]: boots the guest on NETOPT; once it waits for the SYN,
# records the tap's addresses and connects to the guest.  rc: its status.
run_vm() {
	local ready
	: >"$tmp/out"
	nsx timeout 120 "$MINIVMM" --kernel "$GUEST" --mem 64M --net "$1" \
		--cmdline "console=ttyS0 nu.port=$PORT nu.timeout_ms=30000 nu.mac=$MAC ${2:-}" \
		>"$tmp/out" 2>"$tmp/err" &
	vm_pid=$!
	net_user_guest_ready "$tmp/out" "$vm_pid"
	ready=$?
	addr_while_running=$(nsx ip -4 -o addr show dev "$TAP" 2>&1)
	link_while_running=$(nsx ip -o link show dev "$TAP" 2>&1)
	if [ $ready = 0 ]; then
		nsx python3 -c "import socket; socket.create_connection(('10.0.2.15', $PORT), timeout=3)" \
			>/dev/null 2>&1
	fi
	wait "$vm_pid"
	rc=$?
	vm_pid=
	sed 's/^/#   /' "$tmp/out" "$tmp/err"
}

run_vm "$TAP,ip=10.0.2.2/24,mac=$MAC"
grep -q "tap $TAP: up, address 10.0.2.2/24" "$tmp/err" && pass "minivmm logs the tap up with its address" ||
	fail "no 'up, address' line"
if echo "$addr_while_running" | grep -q "inet 10.0.2.2/24 brd 10.0.2.255" &&
	echo "$link_while_running" | grep -q "[<,]UP[,>]"; then
	pass "while the VM runs, $TAP is UP with 10.0.2.2/24 (ip -4 addr show)"
else
	fail "tap state while running: $addr_while_running / $link_while_running"
fi
grep -q "arp reply: 10.0.2.2 is at" "$tmp/out" && pass "the namespace answers the guest's ARP request through the tap" ||
	fail "no ARP reply through the tap (guest status $rc)"
grep -q "echo reply from 10.0.2.2" "$tmp/out" && pass "the namespace answers the guest's ping" ||
	fail "no echo reply through the tap (guest status $rc)"
[ "$rc" = 0 ] && pass "a connect from the namespace to 10.0.2.15:$PORT reaches the guest as a SYN (exit 0)" ||
	fail "guest exited $rc (10 ARP, 11 echo, 12 no SYN)"
nsx ip link show dev "$TAP" >/dev/null 2>&1 && fail "$TAP outlived minivmm" ||
	pass "the tap minivmm created is gone after it exits"

# Without ip= the created tap stays down: the same guest gets no ARP reply.
run_vm "$TAP,mac=$MAC" nu.phase_ms=3000
[ "$rc" = 10 ] && pass "without ip= the tap is down: no ARP reply (guest status 10)" ||
	fail "without ip=: guest status $rc, expected 10"

# ip= on an interface that exists: refused, the interface left alone.
nsx ip tuntap add dev "$TAP" mode tap
nsx timeout 30 "$MINIVMM" --kernel "$GUEST" --mem 64M --net "$TAP,ip=10.0.2.2/24" \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" != 0 ] && grep -q "interface $TAP exists; ip= configures only a tap minivmm creates" "$tmp/err" &&
	[ -z "$(nsx ip -4 -o addr show dev "$TAP")" ]; then
	pass "ip= on an existing tap is refused (status $rc) and the tap left without address"
else
	fail "ip= on an existing tap: status $rc, $(cat "$tmp/err")"
fi

exit $failed
