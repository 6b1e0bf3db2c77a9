#!/usr/bin/env bash
# bench/compare --quick: the comparison command runs end to end (network and
# block, every path beside its host baseline) and its output has the promised
# shape: every column in every row, the ratios and spreads it prints agree with
# the figures it prints, CSV and JSON carry the same rows, the charts exist;
# the placement and the host's steadiness are recorded, and every RX run gets
# every frame injected (30 000, three times the tap's queue, so an injector that
# overran the guest would lose some).  Never the numbers themselves: those are for people to read (docs/comparison.md).
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=compare
MINIVMM=${MINIVMM:-./minivmm}
# Inside the ordinary-KVM stage (a KVM nested in QEMU's TCG) the output's shape
# says nothing new, and its 30 extra VM runs only add exposure to that
# machine's own instability (docs/ordinary-kvm.md); the stage runs every
# correctness test.
if [ -n "${MINIVMM_ORDINARY_KVM_INSIDE:-}" ]; then
	echo "SKIP: $LABEL (benchmark output shape: checked on the host, not inside the ordinary-KVM stage)"
	exit 0
fi
if [ "$(id -u)" != 0 ] || [ ! -e /dev/kvm ] || ! command -v fio >/dev/null ||
	! command -v nsenter >/dev/null; then
	echo "SKIP: $LABEL (needs root, /dev/kvm, fio and nsenter)"
	exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
MINIVMM=$MINIVMM bench/compare --quick --vhost-user=blk --out "$out" >"$out/stdout" 2>"$out/stderr"
rc=$?
elapsed=$(($(date +%s) - start))
if [ $rc = 0 ] && [ -s "$out/table.txt" ]; then
	pass_line="bench/compare --quick exits 0 in $elapsed s"
	echo "PASS: $LABEL: $pass_line"
else
	echo "FAIL: $LABEL: bench/compare --quick exit $rc: $(tail -5 "$out/stderr")"
	exit 1
fi
sed 's/^/#   /' "$out/table.txt"
python3 - "$out" <<'PY'
import csv, json, os, re, sys
out = sys.argv[1]
failed = False
def check(ok, what):
    global failed
    print(("PASS: compare: " if ok else "FAIL: compare: ") + what)
    failed |= not ok

res = json.load(open(os.path.join(out, "results.json")))
text = open(os.path.join(out, "table.txt")).read()
errors = [r for r in res["runs"] if "error" in r]
check(not errors, "every run produced a result" + ("" if not errors else ": %s" % errors[:2]))

for kind, rate, host_path, match in (("net", "pps", "host", ("dir", "size")),
                                     ("blk", "iops", "host-fio", ("rw", "bs", "qd", "cache"))):
    rows, cols = res[kind], res[kind + "_columns"]
    paths = {r["path"] for r in rows}
    want = {"host", "e1000", "virtio"} if kind == "net" else {"host-fio", "io_uring", "sync", "vhost-user"}
    check(paths == want, "%s: rows for %s (got %s)" % (kind, ", ".join(sorted(want)), sorted(paths)))
    check(all(c in r for r in rows for c in cols), "%s: every column present in every row" % kind)
    # The printed table, parsed back: one line per row, same order.
    section = text.split("## " + ("network" if kind == "net" else "block"))[1].split("\n\n")[0]
    lines = [l.split() for l in section.strip().split("\n")[1:] if l and not l.startswith("#")]
    header = section.strip().split("\n")[1].split()
    check(len(lines) - 1 == len(rows), "%s: the table has one line per row" % kind)
    printed = [dict(zip(header, l)) for l in lines[1:]]
    rate_col = "pps" if kind == "net" else "IOPS"
    bad_ratio, bad_spread, bad_order = [], [], []
    for p in printed:
        key = tuple(p[k] for k in ({"dir": "dir", "size": "size"} if kind == "net" else
                                     {"rw": "rw", "bs": "bs", "qd": "qd", "cache": "cache"}).values())
        host = [h for h in printed if h["path"] == host_path and
                tuple(h[k] for k in (("dir", "size") if kind == "net" else ("rw", "bs", "qd", "cache"))) == key]
        v, lo, hi = float(p[rate_col]), float(p["min"]), float(p["max"])
        if not lo <= v <= hi:
            bad_order.append(p)
        if v and abs(float(p["spread%"]) - (hi - lo) / v * 100) > 0.1 + 0.01 * (hi - lo) / v * 100:
            bad_spread.append(p)
        if host and float(host[0][rate_col]):
            want_pct = v / float(host[0][rate_col]) * 100
            if abs(float(p["%host"]) - want_pct) > 0.1 + want_pct * 0.001:
                bad_ratio.append((p["path"], p["%host"], want_pct))
        else:
            bad_ratio.append((p["path"], "no host row"))
    check(not bad_order, "%s: min <= median <= max in every row %s" % (kind, bad_order[:1]))
    check(not bad_spread, "%s: spread%% = (max - min) / median, as printed %s" % (kind, bad_spread[:1]))
    check(not bad_ratio, "%s: %%host = figure / host figure, as printed %s" % (kind, bad_ratio[:2]))
    guests = [r for r in rows if r["path"] != host_path]
    check(all(r["exits_user"] is not None and r["cpu_us"] is not None and r["doorbells"] is not None
              for r in guests), "%s: guest rows carry exits, CPU and doorbells per unit" % kind)
    check(all(r["exits_kernel"] is not None or r.get("kexits_reason") for r in guests),
          "%s: in-kernel exits counted, or the reason they are not is given" % kind)
    if kind == "blk":
        # The data plane in another process: its CPU is the back-end's, not minivmm's threads'.
        vu = [r for r in guests if r["path"] == "vhost-user"]
        check(vu and all((r.get("be_cpu_us") or 0) > 0 and r.get("vmm_cpu_us") is not None and
                         r["vmm_cpu_us"] < r["be_cpu_us"] for r in vu),
              "blk: vhost-user rows split CPU: back-end's (be_us) beside minivmm's threads' (vmm_us) %s"
              % [(r.get("vmm_cpu_us"), r.get("be_cpu_us")) for r in vu])

# What keeps rounds comparable is recorded with them (docs/comparison.md, "Steady figures").
placed = res["host"].get("placement", {})
if len(os.sched_getaffinity(0)) >= 2:
    check(re.fullmatch(r"vcpus=\d+,io=\d+", placed.get("minivmm") or "") is not None and
          placed.get("injector_cpu") is not None and "# placement: minivmm --cpu-affinity" in text,
          "default placement (vCPU and I/O thread on CPUs of their own) recorded: %s" % placed)
steady = res.get("steadiness") or {}
check((steady.get("rate") or 0) > 0 and "# host steadiness:" in text,
      "the host's steadiness (a fixed CPU loop) measured and printed: %s" % steady)
# The closed-loop injector loses nothing: every rx run got every frame sent.
rx = [r for r in res["runs"] if r["kind"] == "net" and r["dir"] == "rx" and r["path"] != "host"]
lost = [(r["path"], r["batch"], r.get("frames"), r.get("sent")) for r in rx if r.get("frames") != r.get("sent")]
check(rx and not lost, "rx: every injected frame reached the guest %s" % lost[:2])

with open(os.path.join(out, "results.csv")) as f:
    csv_rows = [r for r in csv.reader(f) if r and r[0] in ("net", "blk")]
check(len(csv_rows) == len(res["net"]) + len(res["blk"]), "CSV has the same rows as the JSON")
for svg in ("net.svg", "blk.svg"):
    path = os.path.join(out, svg)
    check(os.path.exists(path) and "<svg" in open(path).read(2000), "%s chart drawn by gnuplot" % svg)
sys.exit(1 if failed else 0)
PY
