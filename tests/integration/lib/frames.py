# Host side of the NIC tests: frame k, as tests/guest/net_frames.c generates
# and expects it, sent to or captured from a tap with AF_PACKET.
#
# usage: frames.py capture IFNAME MAC COUNT IDLE_SECONDS
#            waits for COUNT guest frames (ethertype 0x88b5); exit 0 if all match
#        frames.py capture-any IFNAME MAC COUNT IDLE_SECONDS
#            the same, in any order (several transmit queues interleave)
#        frames.py inject[-foreign|-oversized] IFNAME MAC COUNT
#            sends COUNT frames to MAC, first (with a suffix) one frame the
#            guest must not see: for another station, or larger than its buffers
#        frames.py inject-udp IFNAME MAC COUNT
#            sends COUNT IPv4/UDP frames to MAC, port 9, from COUNT source
#            ports (one flow each, so a multi-queue tap spreads them over its
#            queues); payload k (16-bit BE), then byte b = (k*17 + b) & 0xff
#            (tests/guest/virtio_net_mq.c checks them)
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
def udp_frame(k, dst, src):
    payload = k.to_bytes(2, "big") + bytes(((k * 17 + b) & 0xFF) for b in range(40 + k % 200))
    udp = (10000 + k).to_bytes(2, "big") + (9).to_bytes(2, "big") + \
        (8 + len(payload)).to_bytes(2, "big") + b"\0\0" + payload
    ip = bytearray(b"\x45\0" + (20 + len(udp)).to_bytes(2, "big") + b"\0\0\0\0\x40\x11\0\0" +
                   bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    csum = sum(int.from_bytes(ip[i:i + 2], "big") for i in range(0, 20, 2))
    csum = (csum & 0xFFFF) + (csum >> 16)
    ip[10:12] = (~csum & 0xFFFF).to_bytes(2, "big")
    return dst + src + b"\x08\x00" + bytes(ip) + udp


if mode == "capture-any":
    s.settimeout(float(sys.argv[5]))
    print("capture: ready", flush=True)
    got = {}
    bad = None
    try:
        while len(got) < count and not bad:
            data, addr = s.recvfrom(65536)
            if addr[2] == socket.PACKET_OUTGOING or data[12:14] != b"\x88\xb5":
                continue
            k = int.from_bytes(data[14:16], "big")
            if k >= count or k in got:
                bad = "frame %d unexpected or repeated" % k
            elif data != frame(k, 331, 31, b"\xff" * 6, mac, 0x88B5):
                bad = "frame %d differs" % k
            got[k] = data
    except socket.timeout:
        pass
    if not bad and len(got) < count:
        bad = "frames missing: %s" % sorted(set(range(count)) - set(got))[:10]
    print("capture: %d frames, %s" % (len(got), bad or "all match, in any order"))
    sys.exit(1 if bad else 0)
elif mode == "inject-udp":
    for k in range(count):
        s.send(udp_frame(k, mac, peer))
    sys.exit(0)
elif mode == "capture":
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
    if mode == "inject-foreign":
        # A frame for another station: the guest's filter must drop it.
        s.send(frame(999, 557, 17, bytes.fromhex("020000000099"), peer, 0x88B6))
    elif mode == "inject-oversized":
        # Larger than a 1526-byte buffer: the device drops and counts it.
        s.send(mac + peer + b"\x88\xb9" + bytes(3000))
    elif mode != "inject":
        sys.exit("frames.py: unknown mode " + mode)
    for k in range(count):
        s.send(frame(k, 557, 17, mac, peer, 0x88B6))
