"""bench/compare --linux: the same comparison with Linux's own drivers.

One boot of the tiny guest (guest-images/out) per round, with a virtio-net
and an e1000 NIC on two taps in a private network namespace and a scratch
disk.  The guest's /init runs fixed phases (guest-images/rootfs/etc/minivmm/
lib/bench.sh): an upload and a download of the same number of bytes over
each NIC (wget --post-file / wget against the host end of the tap) and O_DIRECT 4 KiB
reads and writes of the disk (dd).  Around each phase the guest waits on
the console while this side takes a --stats snapshot (SIGUSR1), so the
difference of two snapshots is the phase and nothing else; per-packet
figures divide it by the packets the device moved in the phase's direction
(TCP acknowledgements going the other way are part of the cost, not of the
count).  On hosts whose KVM emulates guest kernel code this is slow, but
the per-packet figures keep their meaning.
"""
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from stats_report import counter_delta, per_unit, totals

CLONE_NEWNET = 0x40000000
# tap, --net model, guest driver, MAC, host end, guest, upload port, download port
NICS = [
    ("mvlx0", "virtio", "virtio_net", "02:6d:76:4e:01:01", "10.0.12.1", "10.0.12.2", 9101, 9102),
    ("mvlx1", "e1000", "e1000", "02:6d:76:4e:01:02", "10.0.13.1", "10.0.13.2", 9103, 9104),
]
PHASES = ["virtio_net-upload", "virtio_net-download", "e1000-upload", "e1000-download",
          "blk-read", "blk-write"]
BOOT_CMDLINE = "console=ttyS0 rodata=off reboot=k panic=-1"


def _in_netns(ns, fn):
    """fn() with this thread in network namespace ns (Python 3.11 has no os.setns)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net") as orig, open("/run/netns/" + ns) as target:
        if libc.setns(target.fileno(), CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            return fn()
        finally:
            libc.setns(orig.fileno(), CLONE_NEWNET)


def _listen(ns, addr, port):
    def make():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(4)
        return s
    return _in_netns(ns, make)


def _read_request(conn):
    """An HTTP request's header; returns (header bytes, the body bytes read with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _serve(sock, answer):
    """answer(conn) for each connection, until the socket is closed."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            answer(conn)


def _receive_upload(conn, received):
    """An HTTP POST (from wget --post-file): reads Content-Length bytes, answers."""
    head, body = _read_request(conn)
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    want, n = (int(m.group(1)) if m else 0), len(body)
    while n < want:
        data = conn.recv(65536)
        if not data:
            break
        n += len(data)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    received.append(n)


def _send_download(conn, nbytes):
    """Answers any request with nbytes of zeros (HTTP/1.0, for wget)."""
    chunk = bytes(65536)
    _read_request(conn)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % nbytes)
    left = nbytes
    while left:
        k = min(left, len(chunk))
        conn.sendall(chunk[:k])
        left -= k


class LinuxBench:
    def __init__(self, args, tmp, ns):
        self.args, self.tmp, self.ns = args, tmp, ns
        self.sockets, self.received = [], []
        for tap, _, _, _, host, _, up, down in NICS:
            for cmd in (["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"],
                        ["ip", "-n", ns, "addr", "add", host + "/24", "dev", tap],
                        ["ip", "-n", ns, "link", "set", tap, "up"]):
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
            s_up, s_down = _listen(ns, host, up), _listen(ns, host, down)
            self.sockets += [s_up, s_down]
            threading.Thread(target=_serve, daemon=True,
                             args=(s_up, lambda c: _receive_upload(c, self.received))).start()
            threading.Thread(target=_serve, daemon=True,
                             args=(s_down, lambda c: _send_download(c, args.linux_bytes))).start()
        self.disk = os.path.join(tmp, "linux-scratch.raw")
        with open(self.disk, "wb") as f:
            f.truncate(max(16 << 20, args.linux_blocks * 4096 + (1 << 20)))

    def close(self):
        for s in self.sockets:
            s.close()

    def command(self, stats):
        cmdline = [BOOT_CMDLINE, "minivmm.bench=" + ",".join(self.args.linux_phases or PHASES),
                   "minivmm.bench_bytes=%d" % self.args.linux_bytes,
                   "minivmm.bench_blocks=%d" % self.args.linux_blocks, "minivmm.bench_disk=vda"]
        cmd = ["nsenter", "--net=/run/netns/" + self.ns, self.args.minivmm,
               "--kernel", "guest-images/out/vmlinux", "--initrd", "guest-images/out/initramfs.cpio",
               "--mem", "128M", "--disk", self.disk, "--stats=" + stats]
        for tap, model, drv, mac, host, guest, up, down in NICS:
            cmd += ["--net", "%s,model=%s,mac=%s" % (tap, model, mac)]
            cmdline += ["minivmm.%s_mac=%s" % (drv, mac), "minivmm.%s_ip=%s/24" % (drv, guest),
                        "minivmm.%s_host=%s" % (drv, host), "minivmm.%s_upload_port=%d" % (drv, up),
                        "minivmm.%s_download_port=%d" % (drv, down)]
        if self.args.placement[0]:
            cmd += ["--cpu-affinity", self.args.placement[0]]
        return cmd + ["--cmdline", " ".join(cmdline)]

    @staticmethod
    def snapshot(vm, path, after):
        """Ask for a snapshot and wait (bounded) until it is there, newer than `after` seconds."""
        vm.send_signal(signal.SIGUSR1)
        for _ in range(600):
            try:
                with open(path) as f:
                    doc = json.load(f)
                if doc["report"]["kind"] == "snapshot" and doc["report"]["elapsed_s"] > after:
                    return doc
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("no --stats snapshot within 30 s")

    def boot(self, rnd, log):
        """One boot running every phase: [(name, status, before, after)]."""
        stats = os.path.join(self.tmp, "linux-stats.json")
        vm = subprocess.Popen(self.command(stats), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, bufsize=1)
        timer = threading.Timer(self.args.linux_timeout, vm.kill)
        timer.start()
        phases, begin, last = [], None, 0.0
        try:
            for line in vm.stdout:
                log.write(line)
                log.flush()
                line = line.strip()
                if not line.startswith("MINIVMM-BENCH "):
                    continue
                words = line.split()
                if words[1] in ("begin", "end"):
                    doc = self.snapshot(vm, stats, last)
                    last = doc["report"]["elapsed_s"]
                    if words[1] == "begin":
                        begin, uploads = doc, len(self.received)
                    else:
                        status = int(words[3].split("=")[1]) if len(words) > 3 else -1
                        # An upload must have delivered every byte to the host.
                        if status == 0 and words[2].endswith("-upload") and \
                                self.received[uploads:] != [self.args.linux_bytes]:
                            status = 256
                        phases.append((words[2], status, begin, doc))
                    vm.stdin.write("go\n")
                    vm.stdin.flush()
            vm.wait()
        finally:
            timer.cancel()
            if vm.poll() is None:
                vm.kill()
                vm.wait()
        return vm.returncode, phases

    def row(self, rnd, name, status, before, after):
        a, b = totals(after), totals(before)
        kind, what = name.split("-")
        row = dict(kind="linux", round=rnd, path={"virtio_net": "virtio", "e1000": "e1000",
                                                   "blk": "virtio-blk"}[kind], phase=what)
        if kind == "blk":
            dev = next(n for n, d in a["devices"].items() if d.get("model") == "virtio-blk")
            units = counter_delta(a, b, dev, "counters.requests")
            nbytes = self.args.linux_blocks * 4096
        else:
            tap = next(n[0] for n in NICS if n[2] == kind)
            dev = next(n for n, d in a["devices"].items() if d.get("tap") == tap)
            units = counter_delta(a, b, dev, "counters.%s_packets" % ("tx" if what == "upload" else "rx"))
            nbytes = self.args.linux_bytes
        secs = a["elapsed_s"] - b["elapsed_s"]
        if status or not units or secs <= 0:
            row["error"] = "phase status %d%s, %d units in %.2f s" % (
                status, " (the host did not receive every byte)" if status == 256 else "", units, secs)
            return row
        u = per_unit(a, b, units)
        row.update(device=dev, units=units, seconds=secs, mbps=nbytes / secs / 1e6,
                   exits_user=u["exits"], exits_kernel=u["kexits"], kexits_reason=a["kexits_reason"],
                   irqs=u["irqs"], cpu_us=u["cpu_us"], switches=u["switches"], load=a["load"],
                   registers={k.split(" ", 1)[1]: v for k, v in u["registers"].items()
                              if k.startswith(dev + " ")})
        return row


def run_linux(args, tmp, ns, runs, log_path):
    """Every round's phases into runs; a boot that fails is recorded as an error row."""
    for f in ("guest-images/out/vmlinux", "guest-images/out/initramfs.cpio"):
        if not os.path.exists(f):
            raise RuntimeError("%s missing (make guest-images)" % f)
    bench = LinuxBench(args, tmp, ns)
    try:
        with open(log_path, "w") as log:
            for rnd in range(args.rounds):
                rc, phases = bench.boot(rnd, log)
                done = set()
                for name, status, before, after in phases:
                    runs.append(bench.row(rnd, name, status, before, after))
                    done.add(name)
                for name in args.linux_phases or PHASES:
                    if name not in done:
                        runs.append(dict(kind="linux", round=rnd, path=name.split("-")[0],
                                         phase=name.split("-")[1],
                                         error="phase did not run (minivmm exit %s; console in %s)"
                                         % (rc, log_path)))
    finally:
        bench.close()
