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
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/virtio_net.elf
MAC=52:54:00:12:34:57
NTX=40
NRX=24
failed=0

pass() { echo "PASS: virtio-net: $1"; }
fail() {
	echo "FAIL: virtio-net: $1"
	failed=1
}

if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || [ ! -e /dev/kvm ] || ! command -v python3 >/dev/null; then
	echo "SKIP: virtio-net (needs root, /dev/net/tun, /dev/kvm and python3)"
	exit 0
fi
for f in "$MINIVMM" "$GUEST"; do
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
nsx ip tuntap add dev mvvnet0 mode tap
# A large MTU lets the host inject a frame bigger than the guest's buffers.
nsx ip link set mvvnet0 mtu 9000 up

# Frame k, as tests/guest/virtio_net.c generates and expects it.
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
    if mode == "inject-oversized":
        # Larger than a 1526-byte buffer: the device drops and counts it.
        s.send(mac + peer + b"\x88\xb9" + bytes(3000))
    for k in range(count):
        s.send(frame(k, 557, 17, mac, peer, 0x88B6))
EOF

# run_guest NAME MRG INJECT_MODE [MAC]: boots the guest once, both directions.
run_guest() {
	local name=$1 mrg=$2 inject=$3 mac=${4:-} netopt=mvvnet0 want_mac rc cap_rc injected=0 start
	want_mac=${mac:-02:6d:76:00:00:00}
	[ -n "$mac" ] && netopt="mvvnet0,model=virtio,mac=$mac"
	nsx python3 "$tmp/frames.py" capture mvvnet0 "$want_mac" "$NTX" 60 >"$tmp/capture" 2>&1 &
	cap_pid=$!
	for _ in $(seq 100); do
		grep -q "capture: ready" "$tmp/capture" && break
		sleep 0.1
	done
	start=$(date +%s)
	nsx timeout 120 "$MINIVMM" --kernel "$GUEST" --net "$netopt" \
		--cmdline "console=ttyS0 vnet.tx=$NTX vnet.rx=$NRX vnet.mrg=$mrg vnet.mac=$want_mac" \
		--stats="$tmp/stats" >"$tmp/out" 2>"$tmp/err" &
	vm_pid=$!
	for _ in $(seq 1200); do
		if grep -q "virtio-net: ready for rx" "$tmp/out"; then
			nsx python3 "$tmp/frames.py" "$inject" mvvnet0 "$want_mac" "$NRX" && injected=1
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
	echo "# $name: guest ran $(($(date +%s) - start)) s; its output:"
	sed 's/^/#   /' "$tmp/out" "$tmp/err"
	grep '^virtio-net0' "$tmp/stats" | sed 's/^/#   /'

	[ "$rc" = 0 ] && pass "$name: guest driver (discovery, features, MAC, link, TX, RX, irqfd interrupts) exits 0" ||
		fail "$name: guest exited $rc"
	[ "$cap_rc" = 0 ] && pass "$name: $NTX guest frames arrive on the tap byte for byte" ||
		fail "$name: host capture: $(tail -1 "$tmp/capture")"
	[ $injected = 1 ] && grep -q "virtio-net: received $NRX frames ok" "$tmp/out" &&
		pass "$name: $NRX injected frames reach the guest byte for byte" ||
		fail "$name: guest did not receive the injected frames"
	if grep -q "virtio-net0: tx_packets=$NTX .*tx_dropped=0 .*rx_packets=$NRX " "$tmp/stats"; then
		pass "$name: --stats counts $NTX tx and $NRX rx packets"
	else
		fail "$name: --stats line missing or wrong: $(grep '^virtio-net0: tx' "$tmp/stats")"
	fi
}

run_guest "plain buffers" 0 inject-oversized
grep -q "virtio-net0: .*rx_dropped=1 .*rx_oversized=1 " "$tmp/stats" &&
	pass "plain buffers: a frame larger than the RX buffer is dropped and counted, later frames arrive" ||
	fail "plain buffers: oversized frame not counted: $(grep '^virtio-net0: tx' "$tmp/stats")"
grep -q "ioeventfd=yes irqfd=yes" "$tmp/stats" && pass "kicks by ioeventfd, interrupts by irqfd" ||
	fail "ioeventfd/irqfd not in use: $(grep 'ioeventfd=' "$tmp/stats")"
grep -q "mmio virtio-net0 .*exits" "$tmp/stats" && mmio_exits=$(sed -n 's/.*mmio virtio-net0 0x[0-9a-f]*: \([0-9]*\) exits/\1/p' "$tmp/stats")
echo "# register exits (set-up and interrupt acks, no kicks): ${mmio_exits:-0}"

run_guest "mergeable buffers" 1 inject "$MAC"

exit $failed
