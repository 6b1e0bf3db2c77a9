"""The vhost-user back-ends of bench/compare (docs/comparison.md, "vhost-user
rows"): qemu-storage-daemon serving virtio-blk and dpdk-testpmd serving
virtio-net, each started for one guest run and stopped after it, with what
the per-request and per-packet columns need that minivmm's --stats cannot
give for them:

- the back-end's CPU time (every thread of the process), read from /proc
  before and after the guest's run;
- the interrupts the back-end raised.  It writes the irqfd itself, so
  minivmm never sees them (its transport "interrupts" counter stays 0);
  KVM does, and traces every injection as kvm:kvm_set_irq (gsi, level).
  `perf stat -a` counts the rising edges (level 1) on the device's GSI
  while the guest runs.  The count is system-wide: another VM raising the
  same GSI at the same time would be counted too, so the processes holding
  a KVM VM are looked for after each run and a row says when there were any.

The command lines are those of tests/integration/lib/vhost_user.sh (its
comments explain every option), plus CPU placement and, for
qemu-storage-daemon, the cache mode and AIO engine of the configuration.
"""
import os
import re
import shutil
import signal
import subprocess
import time

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10


def process_cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns, or None if it is gone.
    Per-thread schedstat (ns) where every thread seen before is still
    there; the caller compares two readings with cpu_delta_us."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    per_thread = {}
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                per_thread[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    try:
        with open("/proc/%d/stat" % pid) as f:
            # utime, stime: fields 14 and 15, after the ")" closing comm.
            rest = f.read().rsplit(")", 1)[1].split()
        ticks = int(rest[11]) + int(rest[12])
    except (OSError, ValueError, IndexError):
        return None
    return {"threads": per_thread, "ticks": ticks}


def cpu_delta_us(before, after):
    """CPU µs a process used between two process_cpu_ns readings: the sum of
    its threads' schedstat growth (ns precision) when no thread ended in
    between, else utime+stime (which keeps ended threads, at clock-tick
    precision)."""
    if not before or not after:
        return None
    if set(before["threads"]) <= set(after["threads"]):
        return sum(after["threads"][t] - before["threads"].get(t, 0) for t in after["threads"]) / 1000.0
    return (after["ticks"] - before["ticks"]) * 1e6 / os.sysconf("SC_CLK_TCK")


def other_vm_pids(exclude=()):
    """Processes (other than exclude) holding a KVM VM file descriptor."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in exclude or int(p) == os.getpid():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % p)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%s/fd/%s" % (p, fd)) == "anon_inode:kvm-vm":
                    pids.append(int(p))
                    break
            except OSError:
                continue
    return pids


def _wait_for(check, proc, timeout_s):
    """Polls check() every 20 ms until it holds, proc exits or timeout_s pass."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return check()


class Backend:
    """One back-end process: started, measured, stopped (always)."""

    name = "back-end"

    def __init__(self):
        self.proc = None
        self.log_path = None

    def log_tail(self, n=1500):
        try:
            return open(self.log_path, errors="replace").read()[-n:]
        except OSError:
            return ""

    def cpu(self):
        return process_cpu_ns(self.proc.pid) if self.proc else None

    def stop(self):
        """SIGTERM (both back-ends then close their ports, remove their socket
        and, testpmd, print their statistics), SIGKILL after STOP_TIMEOUT_S."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        rc, self.proc = self.proc.returncode, None
        return rc


class Qsd(Backend):
    """qemu-storage-daemon exporting a raw image as vhost-user-blk on sock.
    cache "none" is cache.direct=on (O_DIRECT, like minivmm's cache=none),
    "writeback" cache.direct=off; aio=io_uring in both, as minivmm's
    io_uring engine.  cpu: the CPU it is pinned to (None: unpinned)."""

    name = "qemu-storage-daemon"

    def __init__(self, tmp, img, sock, cache, cpu=None):
        super().__init__()
        self.sock = sock
        self.log_path = os.path.join(tmp, "qsd.log")
        pidfile = os.path.join(tmp, "qsd.pid")
        for p in (sock, pidfile):
            if os.path.exists(p):
                os.unlink(p)
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        cmd = pin + [
            "qemu-storage-daemon", "--blockdev",
            "driver=file,node-name=vu-disk0,filename=%s,discard=unmap,cache.direct=%s,aio=io_uring"
            % (img, "on" if cache == "none" else "off"),
            "--export", "type=vhost-user-blk,id=vu-exp0,node-name=vu-disk0,addr.type=unix,"
            "addr.path=%s,writable=on,num-queues=1,logical-block-size=512" % sock,
            "--pidfile", pidfile]
        self.command = cmd
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        # The pid file is written once the export listens.
        ready = _wait_for(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0 and
                          os.path.exists(sock), self.proc, READY_TIMEOUT_S)
        if not ready or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("qemu-storage-daemon did not start (%s): %s"
                               % (" ".join(cmd), self.log_tail().strip()))


class Testpmd(Backend):
    """dpdk-testpmd in network namespace ns (nsx: its command prefix) with a
    vhost-user server port on sock (port 0) and a TAP PMD port (port 1) that
    creates the kernel tap `tap`, forwarding each port's input to the other
    ("io" mode, frames untouched).  lcores: "MAIN,FWD" CPUs; the forwarding
    lcore busy-polls both ports."""

    name = "dpdk-testpmd"

    def __init__(self, tmp, nsx, ns, sock, tap, lcores, mbufs=2048):
        super().__init__()
        self.sock, self.tap, self.ns = sock, tap, ns
        self.log_path = os.path.join(tmp, "testpmd.log")
        self.prefix = "minivmm-compare-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        if os.path.exists(sock):
            os.unlink(sock)
        # "io retry": a burst the guest's ring cannot take yet is retried
        # (up to 2000 x 10 us) instead of dropped, so that receive runs
        # measure the guest and not testpmd's losses (plain "io" dropped two
        # thirds of the injected frames at 64 B).
        cmdfile = os.path.join(tmp, "testpmd.cmds")
        with open(cmdfile, "w") as f:
            f.write("set fwd io retry\nset burst tx delay 10 retry 2000\n")
        cmd = nsx("stdbuf", "-oL", "dpdk-testpmd", "-l", lcores, "--no-huge", "-m", "256", "--no-pci",
                  "--no-shconf", "--file-prefix", self.prefix,
                  "--vdev", "net_vhost0,iface=%s,queues=1" % sock, "--vdev", "net_tap0,iface=%s" % tap,
                  "--", "--cmdline-file=" + cmdfile, "--forward-mode=io", "--auto-start", "--stats-period", "0",
                  "--total-num-mbufs=%d" % mbufs)
        self.command = cmd
        with open(self.log_path, "w") as log:
            # stdin: a pipe this process keeps open, so testpmd's "Press enter
            # to exit" read blocks until SIGTERM ends it.
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log)

        def tap_up():
            r = subprocess.run(["ip", "-n", ns, "-o", "link", "show", tap], capture_output=True, text=True)
            return bool(re.search(r"[<,]UP[,>]", r.stdout))
        ready = _wait_for(lambda: os.path.exists(sock) and tap_up(), self.proc, READY_TIMEOUT_S)
        if not ready or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("dpdk-testpmd did not start (%s): %s"
                               % (" ".join(cmd), self.log_tail().strip()))

    def stop(self):
        rc = super().stop()
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)
        return rc

    def port_stats(self):
        """{port: {"RX-packets": n, "RX-dropped": n, "TX-packets": n, "TX-dropped": n}}
        from the forward statistics testpmd prints when it stops."""
        out, port = {}, None
        for line in self.log_tail(20000).splitlines():
            m = re.search(r"Forward statistics for port (\d+)", line)
            if m or "Accumulated forward statistics" in line:
                port = int(m.group(1)) if m else None
                continue
            if port is None:
                continue
            for k, v in re.findall(r"(RX-packets|RX-dropped|TX-packets|TX-dropped|RX-total|TX-total):\s*(\d+)",
                                   line):
                out.setdefault(port, {})[k] = int(v)
        return out


class IrqCount:
    """Rising edges of kvm:kvm_set_irq on one GSI, system-wide, while a
    command runs: wrap(cmd) gives the command to run, result() the count
    (None with reason() if perf could not count)."""

    def __init__(self, tmp, gsi):
        self.out = os.path.join(tmp, "irqs.perf")
        self.gsi = gsi
        self._reason = None if shutil.which("perf") else "perf not installed"

    def wrap(self, cmd):
        if self._reason:
            return cmd
        if os.path.exists(self.out):
            os.unlink(self.out)
        return ["perf", "stat", "-a", "-x,", "-o", self.out, "-e", "kvm:kvm_set_irq",
                "--filter", "gsi == %d && level == 1" % self.gsi, "--"] + cmd

    def result(self):
        if self._reason:
            return None
        try:
            for line in open(self.out):
                parts = line.strip().split(",")
                if len(parts) > 2 and parts[2] == "kvm:kvm_set_irq":
                    return int(parts[0]) if parts[0].isdigit() else None
        except OSError:
            pass
        self._reason = "perf stat gave no kvm:kvm_set_irq count"
        return None

    def reason(self):
        return self._reason
