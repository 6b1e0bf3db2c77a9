#!/usr/bin/env bash
# The process-start reproducer (docs/compat.md, "Fresh processes that die at
# start"): builds guest-images/repro/ into its own initramfs, boots it with
# minivmm and the guest kernel, and reports what /init (repro/init.c) counted.
# Run through `make -C guest-images repro-process-start`; NOT part of make test.
#
# Environment (the Makefile passes them):
#   MINIVMM          minivmm binary (default ../minivmm)
#   OUT              guest-images output directory (default out)
#   REPRO_CPUS       vCPUs (default 2)
#   REPRO_MEM        guest RAM (default 256M)
#   REPRO_DURATION   seconds of guest time the exec loop runs (default 240)
#   REPRO_CMDLINE    the base guest command line (GUEST_CMDLINE)
#   REPRO_CMDLINE_EXTRA  more guest options, e.g. nopcid, repro.pin=0
#   REPRO_CFLAGS, REPRO_LDFLAGS  how tls-start is built (ELF layout
#                    experiments; default -O2 and -static)
#   REPRO_MINIVMM_ARGS  more minivmm options (e.g. --disk PATH)
#   REPRO_FULL_ROOTFS=1  the default guest's initramfs plus the reproducer
#                    (then boot it with rdinit=/init.repro or rdinit=/init.sh)
#   REPRO_LOG        console log (default OUT/repro-process-start.log)
#   REPRO_TIMEOUT    seconds before minivmm is killed (default duration + 900)
# Exit status: 0 when every start survived; 1 when one died (or lost its
# TLS), when there was no summary line, or when minivmm failed.
set -euo pipefail
{ # read to the end before running: a run takes minutes

here=$(cd "$(dirname "$0")" && pwd)
minivmm=${MINIVMM:-../minivmm}
out=${OUT:-out}
cpus=${REPRO_CPUS:-2}
mem=${REPRO_MEM:-256M}
duration=${REPRO_DURATION:-240}
log=${REPRO_LOG:-$out/repro-process-start.log}
timeout_s=${REPRO_TIMEOUT:-$((duration + 900))}
cc=${CC:-gcc}
busybox=${BUSYBOX:-/bin/busybox}

[ -x "$minivmm" ] || { echo "repro: $minivmm not found: run 'make minivmm' at the top of the repository" >&2; exit 1; }
if [ ! -x "$out/gen_init_cpio" ] || [ ! -e "$out/vmlinux" ]; then
	echo "repro: no kernel in $out (make -C guest-images kernel)" >&2
	exit 1
fi

# A private build directory, so two runs with different flags can go in parallel.
work=$(mktemp -d "$out/repro.XXXXXX")
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # flag lists
$cc ${REPRO_CFLAGS:--O2} -Wall -Wextra -static -o "$work/init" "$here/init.c"
# shellcheck disable=SC2086
$cc ${REPRO_CFLAGS:--O2} -Wall -Wextra ${REPRO_LDFLAGS:--static} -o "$work/tls-start" "$here/tls-start.c"
file "$work/tls-start" 2>/dev/null | sed 's/^[^:]*: /repro: tls-start: /' || true
if [ "${REPRO_FULL_ROOTFS:-0}" = 1 ]; then
	# The default guest's initramfs (busybox, every applet, rootfs/) plus the
	# reproducer: the same memory layout as `make run`.
	cp -a "$here/../rootfs" "$work/rootfs"
	mkdir -p "$work/rootfs/bin"
	cp "$work/tls-start" "$work/rootfs/bin/tls-start"
	cp "$here/init.sh" "$work/rootfs/init.sh"
	cp "$work/init" "$work/rootfs/init.repro"
	"$here/../gen-initramfs.sh" "$out/gen_init_cpio" "$work/rootfs" "$busybox" "$work/initramfs.cpio"
	echo "repro: full guest rootfs; /init.repro (C) or /init.sh (ash) via rdinit="
else
	cat >"$work/list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0555 0 0
dir /sys 0555 0 0
dir /bin 0755 0 0
file /init $work/init 0755 0 0
file /bin/tls-start $work/tls-start 0755 0 0
file /init.sh $here/init.sh 0755 0 0
file /bin/busybox $busybox 0755 0 0
LIST
	for applet in sh mount taskset kill printf dd reboot; do
		echo "slink /bin/$applet /bin/busybox 0777 0 0" >>"$work/list"
	done
	"$out/gen_init_cpio" "$work/list" >"$work/initramfs.cpio"
fi

cmdline="${REPRO_CMDLINE:-console=ttyS0 rodata=off reboot=k panic=-1} repro.duration=$duration"
[ -z "${REPRO_CMDLINE_EXTRA:-}" ] || cmdline+=" $REPRO_CMDLINE_EXTRA"
# shellcheck disable=SC2206 # REPRO_MINIVMM_ARGS is a list of options
cmd=("$minivmm" --kernel "$out/vmlinux" --initrd "$work/initramfs.cpio" --mem "$mem" --cpus "$cpus"
	${REPRO_MINIVMM_ARGS:-} --cmdline "$cmdline")
echo "repro: $(printf '%q ' "${cmd[@]}")"
echo "repro: console log: $log ($(date -u +%H:%M:%S); boot ~2 min on an emulating host, then ${duration} s)"
set +e
timeout -k 10 "$timeout_s" "${cmd[@]}" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -a 'REPRO-PROCESS-START ' "$log" | tail -n 1 | tr -d '\r' || true)
if [ -z "$summary" ]; then
	echo "repro: FAIL: no REPRO-PROCESS-START line (minivmm exit status $status)"
	exit 1
fi
echo "repro: ${summary#*REPRO-PROCESS-START } (minivmm exit status $status)"
# shellcheck disable=SC2086 # split into its words
set -- $summary
for word; do
	case $word in
	died=0 | tls_zero=0 | other_failures=0 | checker_bad=0) ;;
	died=* | tls_zero=* | other_failures=* | checker_bad=*)
		echo "repro: FAIL: a process start went wrong (see REPRO-DIED lines and segfaults in $log)"
		exit 1
		;;
	esac
done
if [ "$status" != 0 ]; then
	echo "repro: FAIL: minivmm exit status $status (expected 0 from the guest's power-off)"
	exit 1
fi
echo "repro: PASS: no process start died"
exit 0
}
