#!/bin/sh
# virtio-blk host memory under a hostile guest (issue 11): the guest sends
# requests of seg_max misaligned size_max buffers that all overlap one MiB
# of its RAM, eight in flight, on cache=none (every one bounced), then
# requests over the advertised limits.  minivmm's peak RSS (ru_maxrss) and
# its own memory at exit (--stats vmm_rss_kib) must stay within a few MiB
# of a run with the same requests one sector long.
# Usage: MINIVMM=BUILD/minivmm tests/integration/virtio_blk_memory.sh
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/require_kvm.sh
require_kvm virtio-blk-memory
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/virtio_blk_bigreq.elf
TMP=$(mktemp -d /var/tmp/minivmm-blkmem.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
failed=0
# The bounce pool is 4 MiB per disk; allow as much again for the rest.
MAX_GROWTH_KIB=8192
# SIGTERM during a flood: the normal exit within 1 s.  Inside the
# ordinary-KVM stage's emulated (TCG) machine the host kernel's own copying
# of one 254 MiB request runs several times slower: 5 s there.
SIGTERM_LIMIT_MS=1000
[ -z "${MINIVMM_ORDINARY_KVM_INSIDE:-}" ] || SIGTERM_LIMIT_MS=5000

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failed=1; }

# Run minivmm with the guest; print "exit-status peak-rss-KiB vmm-rss-KiB-at-exit",
# the output to $TMP/out.
run_guest() {
	python3 - "$MINIVMM" "$GUEST" "$1" "$2" "$TMP/out" "$TMP/stats.json" <<'PY'
import json, os, subprocess, sys
vmm, guest, disk, big, out, stats = sys.argv[1:]
with open(out, 'wb') as f:
    p = subprocess.Popen(['timeout', '120', vmm, '--kernel', guest, '--disk', disk,
                          '--cmdline', 'test.big=' + big, '--stats=' + stats],
                         stdout=f, stderr=subprocess.STDOUT)
    _, status, ru = os.wait4(p.pid, 0)
try:
    vmm_rss = json.load(open(stats))['process']['vmm_rss_kib']
except Exception:
    vmm_rss = -1
print(os.waitstatus_to_exitcode(status), ru.ru_maxrss, vmm_rss)
PY
}

for engine in io_uring sync; do
	img="$TMP/big.img"
	rm -f "$img"
	truncate -s 512M "$img"
	set -- $(run_guest "$img,cache=none,engine=$engine" 0)
	rc0=$1 base=$2 base_end=$3
	set -- $(run_guest "$img,cache=none,engine=$engine" 1)
	rc=$1 peak=$2 end=$3
	name="virtio_blk_memory engine=$engine"
	if [ "$rc0" -eq 0 ] && [ "$rc" -eq 0 ] && grep -q "virtio_blk_bigreq: PASS" "$TMP/out" &&
		grep -q "over size_max/seg_max: IOERR" "$TMP/out"; then
		pass "$name: guest (large overlapping misaligned requests served, over-limit ones IOERR)"
	else
		fail "$name: guest (exit $rc0/$rc)"; tail -20 "$TMP/out"
	fi
	growth=$((peak - base))
	if [ "$growth" -le "$MAX_GROWTH_KIB" ]; then
		pass "$name: peak RSS $peak KiB, $growth KiB over the small-request run ($base KiB)"
	else
		fail "$name: peak RSS $peak KiB, $growth KiB over the small-request run ($base KiB; at most $MAX_GROWTH_KIB)"
	fi
	growth=$((end - base_end))
	if [ "$base_end" -ge 0 ] && [ "$end" -ge 0 ] && [ "$growth" -le "$MAX_GROWTH_KIB" ]; then
		pass "$name: minivmm's own memory at exit $end KiB, $growth KiB over the small-request run"
	else
		fail "$name: minivmm's own memory at exit $end KiB, small-request run $base_end KiB (at most $MAX_GROWTH_KIB more)"
	fi

	# SIGTERM while the guest keeps eight of the largest reads in flight:
	# the normal exit path (status 143) within SIGTERM_LIMIT_MS.
	for cache in none writeback; do
		"$MINIVMM" --kernel "$GUEST" --disk "$img,cache=$cache,engine=$engine" \
			--cmdline test.flood=1 >"$TMP/flood" 2>&1 &
		vm=$!
		for _ in $(seq 600); do
			grep -q "virtio_blk_bigreq: flooding" "$TMP/flood" && break
			kill -0 "$vm" 2>/dev/null || break
			sleep 0.1
		done
		t0=$(date +%s%N)
		kill -TERM "$vm"
		wait "$vm"
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		if grep -q "virtio_blk_bigreq: flooding" "$TMP/flood" && [ "$rc" = 143 ] &&
			[ "$ms" -lt "$SIGTERM_LIMIT_MS" ]; then
			pass "$name cache=$cache: SIGTERM during the flood ends minivmm in $ms ms (status 143)"
		else
			fail "$name cache=$cache: SIGTERM during the flood: status $rc after $ms ms"
			tail -5 "$TMP/flood"
		fi
	done
done
exit $failed
