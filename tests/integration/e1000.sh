#!/usr/bin/env bash
# e1000 end to end: tests/guest/e1000.elf drives the emulated 82540EM through
# a tap inside a private network namespace.  The host side captures the
# frames the guest sends and injects frames for the guest (AF_PACKET on the
# tap, python3); both directions are checked byte for byte (the guest checks
# what it receives).  A hostile driver (tests/guest/e1000hostile.c) must not
# hurt minivmm and leaves a working NIC after reset.  Also: attaching to an existing tap, creating a missing
# one, and clear errors for a busy tap and for an interface that is no tap.
set -u
cd "$(dirname "$0")/../.."
LABEL=e1000
. tests/integration/lib/netns.sh
GUEST=tests/guest/e1000.elf
HELLO=tests/guest/hello.elf
HOSTILE=tests/guest/e1000hostile.elf
MAC=52:54:00:12:34:56
NTX=40
NRX=24

net_require "$MINIVMM" "$GUEST" "$HELLO" "$HOSTILE" tests/guest/pci_list.elf
net_setup
nsx ip tuntap add dev mvtap0 mode tap
nsx ip link set mvtap0 up

# ---- the guest driver, both directions ----
net_capture_start mvtap0 "$MAC" "$NTX" 120
net_run_guest 300 "e1000: ready for rx" inject-foreign mvtap0 "$MAC" "$NRX" \
	--kernel "$GUEST" --net "mvtap0,model=e1000,mac=$MAC" \
	--cmdline "console=ttyS0 e1000.tx=$NTX e1000.rx=$NRX e1000.mac=$MAC" --stats="$tmp/stats"
echo "# guest ran $(($(date +%s) - start)) s; its output:"
sed 's/^/#   /' "$tmp/out" "$tmp/err"

[ "$rc" = 0 ] && pass "guest driver (PCI scan, EEPROM, PHY, TX, RX, INTx) exits 0" ||
	fail "guest exited $rc"
grep -q "attached to existing interface" "$tmp/err" && pass "attaches to an existing tap" ||
	fail "no 'attached' log line"
[ "$cap_rc" = 0 ] && pass "$NTX guest frames arrive on the tap byte for byte" ||
	fail "host capture: $(tail -1 "$tmp/capture")"
[ $injected = 1 ] && grep -q "e1000: received $NRX frames ok" "$tmp/out" &&
	pass "$NRX injected frames reach the guest byte for byte (one foreign frame filtered)" ||
	fail "guest did not receive the injected frames"
E1000='.devices["e1000.0"]'
if [ "$(stat_of "$tmp/stats" "$E1000.counters.tx_packets")" = "$NTX" ] &&
	[ "$(stat_of "$tmp/stats" "$E1000.counters.rx_packets")" = "$NRX" ] &&
	[ "$(stat_of "$tmp/stats" "$E1000.counters.rx_filtered")" -ge 1 ] &&
	[ "$(stat_of "$tmp/stats" "$E1000.exits_by_register[\"TDT.w\"]")" -ge 1 ]; then
	pass "--stats counts packets and exits per register"
else
	fail "--stats figures missing or wrong: $(jq -c "$E1000" "$tmp/stats")"
fi

# ---- a hostile driver ----
nsx timeout 120 "$MINIVMM" --kernel "$HOSTILE" --net "mvtap0,model=e1000,mac=$MAC" \
	--stats="$tmp/stats" >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/#   /' "$tmp/out"
if [ $rc = 0 ] && [ "$(stat_of "$tmp/stats" "$E1000.counters.tx_packets")" = 1 ] &&
	[ "$(stat_of "$tmp/stats" "$E1000.counters.tx_desc_errors")" -ge 1 ]; then
	pass "hostile driver (rings/buffers outside RAM, bad indices, lengths, TSO contexts) survived; NIC works after reset"
else
	fail "hostile driver: exit $rc, $(jq -c "$E1000.counters" "$tmp/stats")"
fi

# ---- four cards, as many as --net accepts ----
# Each on its own PCI slot and its own interrupt line, none of them a line a
# legacy device uses (1 keyboard, 12 PS/2 mouse, 13 FPU, ...).
PCI_LIST=tests/guest/pci_list.elf
nsx timeout 60 "$MINIVMM" --kernel "$PCI_LIST" --net mvtap1,model=e1000 --net mvtap2,model=e1000 \
	--net mvtap3,model=e1000 --net mvtap4,model=e1000 >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/#   /' "$tmp/out" "$tmp/err"
lines=$(sed -n 's/^pci 00:0[1-4]\.0 8086:100e irq \([0-9]*\) pin 1\r*$/\1/p' "$tmp/out" | tr '\n' ' ')
if [ $rc = 0 ] && [ "$lines" = "10 11 5 9 " ]; then
	pass "four e1000 cards start, on slots 1-4 with interrupt lines 10 11 5 9"
else
	fail "four e1000 cards: exit $rc, lines '$lines'"
fi

# ---- tap handling ----
nsx timeout 60 "$MINIVMM" --kernel "$HELLO" --net mvnew0,model=e1000 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 0 ] && grep -q "tap mvnew0: created" "$tmp/err" && ! nsx ip link show mvnew0 >/dev/null 2>&1; then
	pass "creates a missing tap (and it is gone after exit)"
else
	fail "creating a missing tap: exit $rc, $(head -3 "$tmp/err")"
fi
nsx timeout 60 "$MINIVMM" --kernel "$HELLO" --net mvtap0,model=e1000 --net mvtap0,model=e1000 \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc != 0 ] && grep -q "tap mvtap0 is busy" "$tmp/err" && pass "busy tap: clear error, exit $rc" ||
	fail "busy tap: exit $rc, $(cat "$tmp/err")"
nsx timeout 60 "$MINIVMM" --kernel "$HELLO" --net lo,model=e1000 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc != 0 ] && grep -q "not a tap" "$tmp/err" && pass "non-tap interface: clear error, exit $rc" ||
	fail "non-tap interface: exit $rc, $(cat "$tmp/err")"

exit $failed
