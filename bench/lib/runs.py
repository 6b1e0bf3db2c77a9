"""What bench/compare and bench/scaling both do around a run: start a command
and keep its output, read a key=value figure from a guest's result line,
start a block run with the image out of the host's page cache, and build
the host-side network helper (bench/lib/nethost.c)."""
import os
import re
import subprocess

LIB = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    """cmd to completion; its exit status, stdout and stderr (text), never raising."""
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)


def field(line, name):
    """The number after `name=` in a result line, or None."""
    m = re.search(r"\b%s=(\d+)" % name, line or "")
    return int(m.group(1)) if m else None


def drop_cache(path):
    """Forget the image's pages so every round starts cold (writeback mode reads them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def nethost(tmp):
    """bench/lib/nethost.c built into tmp (once): the host side of the network
    benchmarks.  Raises RuntimeError with the compiler's output if it fails."""
    path = os.path.join(tmp, "nethost")
    if not os.path.exists(path):
        r = run(["gcc", "-O2", "-o", path, os.path.join(LIB, "nethost.c")])
        if r.returncode:
            raise RuntimeError("cannot build bench/lib/nethost.c:\n" + r.stderr)
    return path
