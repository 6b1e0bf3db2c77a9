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
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/e1000.elf
HELLO=tests/guest/hello.elf
HOSTILE=tests/guest/e1000hostile.elf
MAC=52:54:00:12:34:56
NTX=40
NRX=24
failed=0

pass() { echo "PASS: e1000: $1"; }
fail() {
	echo "FAIL: e1000: $1"
	failed=1
}

if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || [ ! -e /dev/kvm ] || ! command -v python3 >/dev/null; then
	echo "SKIP: e1000 (needs root, /dev/net/tun, /dev/kvm and python3)"
	exit 0
fi
for f in "$MINIVMM" "$GUEST" "$HELLO" "$HOSTILE"; do
	[ -e "$f" ] || {
		fail "missing $f (run make)"
		exit 1
	}
done

ns=minivmm-test-$$
tmp=$(mktemp -d)
vm_pid= cap_pid=
cleanup() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null
	[ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
nsx() { ip netns exec "$ns" "$@"; }

ip netns add "$ns" || {
	fail "cannot create network namespace"
	exit 1
}
# No IPv6: the namespace's own stack must not put frames on the tap.
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
nsx ip link set lo up
nsx ip tuntap add dev mvtap0 mode tap
nsx ip link set mvtap0 up

# Frame k, as tests/guest/e1000.c generates and expects it.
cat >"$tmp/frames.py" <<'EOF'
import socket, sys

def frame(k, mul, seed, dst, src, etype):
    n = 60 + (k * mul) % 1455
    b = bytearray(n)
    b[0:6], b[6:12] = dst, src
    b[12:14], b[14:16] = etype.to_bytes(2, "big"), k.to_bytes(2, "big")
    for i in range(16, n):
        b[i] = (k * seed + i * 7 + (i >> 8)) & 0xFF
    return bytes(b)

mode, ifname, mac, count = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", "")), int(sys.argv[4])
peer = bytes.fromhex("020000000001")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
if mode == "capture":
    s.settimeout(float(sys.argv[5]))
    print("capture: ready", flush=True)
    got = []
    try:
        while len(got) < count:
            data, addr = s.recvfrom(65536)
            if addr[2] != socket.PACKET_OUTGOING and data[12:14] == b"\x88\xb5":
                got.append(data)
    except socket.timeout:
        pass
    bad = None
    for k in range(count):
        want = frame(k, 331, 31, b"\xff" * 6, mac, 0x88B5)
        if k >= len(got):
            bad = "frame %d missing" % k
        elif got[k] != want:
            diff = next((i for i in range(min(len(want), len(got[k]))) if got[k][i] != want[i]), None)
            bad = "frame %d: length %d (want %d), first difference at byte %s" % (k, len(got[k]), len(want), diff)
        if bad:
            break
    print("capture: %d frames, %s" % (len(got), bad or "all match"))
    sys.exit(1 if bad else 0)
else:
    # First a frame for another station: the guest's filter must drop it.
    s.send(frame(999, 557, 17, bytes.fromhex("020000000099"), peer, 0x88B6))
    for k in range(count):
        s.send(frame(k, 557, 17, mac, peer, 0x88B6))
EOF

# ---- the guest driver, both directions ----
nsx python3 "$tmp/frames.py" capture mvtap0 "$MAC" "$NTX" 120 >"$tmp/capture" 2>&1 &
cap_pid=$!
for _ in $(seq 100); do
	grep -q "capture: ready" "$tmp/capture" && break
	sleep 0.1
done
start=$(date +%s)
nsx timeout 300 "$MINIVMM" --kernel "$GUEST" --net "mvtap0,model=e1000,mac=$MAC" \
	--cmdline "console=ttyS0 e1000.tx=$NTX e1000.rx=$NRX e1000.mac=$MAC" \
	--stats="$tmp/stats" >"$tmp/out" 2>"$tmp/err" &
vm_pid=$!
injected=0
for _ in $(seq 3000); do
	if grep -q "e1000: ready for rx" "$tmp/out"; then
		nsx python3 "$tmp/frames.py" inject mvtap0 "$MAC" "$NRX" && injected=1
		break
	fi
	kill -0 "$vm_pid" 2>/dev/null || break
	sleep 0.1
done
wait "$vm_pid"
rc=$?
vm_pid=
wait "$cap_pid"
cap_rc=$?
cap_pid=
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
if grep -q "e1000.0: tx_packets=$NTX .*rx_packets=$NRX .*rx_filtered=[1-9]" "$tmp/stats" &&
	grep -q "e1000.0 exits by register:.*TDT.w=" "$tmp/stats"; then
	pass "--stats counts packets and exits per register"
else
	fail "--stats lines missing or wrong: $(grep e1000 "$tmp/stats" | head -1)"
fi

# ---- a hostile driver ----
nsx timeout 120 "$MINIVMM" --kernel "$HOSTILE" --net "mvtap0,model=e1000,mac=$MAC" \
	--stats="$tmp/stats" >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/#   /' "$tmp/out"
if [ $rc = 0 ] && grep -q "e1000.0: tx_packets=1 .*tx_desc_errors=[1-9]" "$tmp/stats"; then
	pass "hostile driver (rings/buffers outside RAM, bad indices, lengths, TSO contexts) survived; NIC works after reset"
else
	fail "hostile driver: exit $rc, $(grep "e1000.0:" "$tmp/stats")"
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
