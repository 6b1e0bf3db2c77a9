"""Reading minivmm --stats reports (docs/stats.md) for the benchmarks:
the additive totals every per-packet / per-request column needs, and their
difference between two reports divided by what moved."""
import json


def totals(doc):
    """The figures every per-unit column needs, from one parsed --stats report."""
    k = doc.get("kernel_exits", {})
    windows = k.get("by_window") or {}
    devices = doc.get("devices", {})
    irqs = 0
    for d in devices.values():
        irqs += d.get("transport", {}).get("interrupts", 0)
        if d.get("model") == "e1000":
            irqs += d.get("counters", {}).get("irqs", 0)
    # The main thread is left out: it only starts and stops the VM (it sleeps
    # on the signalfd meanwhile), and its start-up CPU varies by milliseconds
    # between runs, which divided by a short run's units would swamp the
    # per-unit figures (docs/comparison.md).
    threads = [t for t in doc.get("threads", []) if t.get("role") != "main"]
    return {
        "exits": doc["exits"]["total"],
        # In-kernel exits: the MMIO writes KVM completed itself (ioeventfd
        # kicks).  None where they cannot be counted (not root, no tracefs).
        "kexits": sum(w.get("in_kernel") or 0 for w in windows.values()) if k.get("available") else None,
        "kexits_reason": None if k.get("available") else k.get("reason", "not reported"),
        "irqs": irqs,
        "cpu_us": sum(t.get("cpu_us", 0) for t in threads),
        # minivmm's own work, without the guest's: the I/O and console threads.
        "cpu_us_vmm": sum(t.get("cpu_us", 0) for t in threads if t.get("role") != "vcpu"),
        "switches": sum(t.get("voluntary_switches", 0) + t.get("involuntary_switches", 0)
                        for t in threads),
        "load": doc["run"]["host"].get("loadavg_start", [None])[0],
        "elapsed_s": doc["report"]["elapsed_s"],
        "registers": {n: d.get("exits_by_register", {}) for n, d in devices.items()},
        "devices": devices,
    }


def stats_totals(path):
    """totals() of the report in the file at path."""
    with open(path) as f:
        return totals(json.load(f))


def per_unit(run_totals, base, units):
    """(run - base) / units for each additive figure; None stays None."""
    out = {}
    for key in ("exits", "kexits", "irqs", "cpu_us", "cpu_us_vmm", "switches"):
        a, b = run_totals[key], base[key]
        out[key] = None if a is None or b is None or not units else max(a - b, 0) / units
    regs = {}
    for dev, r in run_totals["registers"].items():
        for reg, n in r.items():
            d = n - base["registers"].get(dev, {}).get(reg, 0)
            if units and d / units >= 0.0005:
                regs["%s %s" % (dev, reg)] = round(d / units, 4)
    out["registers"] = regs
    return out


def counter_delta(run_totals, base, device, path):
    """How much devices[device].PATH (dotted) grew between base and run."""
    def get(t):
        v = t["devices"].get(device, {})
        for k in path.split("."):
            v = v.get(k, {}) if isinstance(v, dict) else {}
        return v if isinstance(v, int) else 0
    return get(run_totals) - get(base)
