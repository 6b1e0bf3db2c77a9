# The real vhost-user back-ends of the integration tests, started in the
# background, waited for (bounded, no fixed sleeps), killed on purpose and
# cleaned up at exit: qemu-storage-daemon (vhost-user-blk) and dpdk-testpmd
# (vhost-user-net: its vhost PMD forwarding to a TAP PMD port, so that the
# frames reach a kernel tap that lib/frames.py captures and injects on).
# Sourced by vhost_user_blk.sh and vhost_user_net.sh, never run on its own.
# Bash.  The sourcing script sets VU_DIR (its temporary directory: logs,
# pid files, stdin FIFOs) and calls vu_cleanup from its EXIT trap before
# anything that waits for children (net_cleanup) or removes VU_DIR.
#
# Every back-end started here is recorded (VU_PIDS, VU_PATHS), so that
# vu_cleanup leaves no process, socket or DPDK run-time directory behind,
# whether the test passed, failed or was interrupted.
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh # EXIT_STATUS_ERROR

VU_PIDS=()
VU_PATHS=()
VU_WAIT_S=${VU_WAIT_S:-60} # the longest a back-end may take to be ready (TCG-nested runs are slow)

# vu_require_tools: exits 1 with a FAIL line (the sourcing script's fail,
# LABEL) when a back-end program is missing.  dpdk-testpmd is in Debian's
# dpdk-dev package (not dpdk), qemu-storage-daemon in qemu-system-common.
vu_require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || {
			fail "$t not installed (make deps)"
			exit 1
		}
	done
}

# vu_wait SECONDS CMD...: runs CMD every 50 ms until it succeeds (status 0)
# or SECONDS have passed (status 1).
vu_wait() {
	local n=$(($1 * 20))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 1))
	done
	"$@"
}

vu_alive() { kill -0 "$1" 2>/dev/null; }

# qemu-storage-daemon writes its --pidfile only after every export listens.
vu_qsd_ready() { [ -s "$1" ] && [ -S "$2" ]; }

# vu_qsd_start SOCKET IMAGE [LOG]: exports raw IMAGE (read-write) as a
# vhost-user-blk back-end listening on SOCKET; returns once it accepts
# connections (status 0, vu_pid set) or fails (status 1, its log shown).
#  driver=file        the image is a plain raw file (no format layer: the
#                     guest sees the file's bytes, the host test reads them)
#  discard=unmap      really punch DISCARD requests (QEMU's default ignores
#                     them and the guest would read back old data)
#  writable=on        exports are read-only unless asked
#  num-queues=1       QEMU 7.2's vhost-user-blk server serves one queue
#  logical-block-size=512  the guest's sector size (the default anyway)
#  --pidfile          written once the export listens: the ready signal
# The socket and node names need no commas (QEMU's option syntax).
vu_qsd_start() {
	local sock=$1 img=$2 log=${3:-$VU_DIR/qsd.log} pidf
	pidf=$VU_DIR/qsd.$RANDOM.pid
	rm -f "$sock" "$pidf"
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=vu-disk0,filename=$img,discard=unmap" \
		--export "type=vhost-user-blk,id=vu-exp0,node-name=vu-disk0,addr.type=unix,addr.path=$sock,writable=on,num-queues=1,logical-block-size=512" \
		--pidfile "$pidf" </dev/null >"$log" 2>&1 &
	vu_pid=$!
	VU_PIDS+=("$vu_pid")
	VU_PATHS+=("$sock" "$pidf")
	vu_wait "$VU_WAIT_S" vu_start_settled "$vu_pid" vu_qsd_ready "$pidf" "$sock"
	if ! vu_qsd_ready "$pidf" "$sock" || ! vu_alive "$vu_pid"; then
		echo "# qemu-storage-daemon did not start; its log:"
		sed 's/^/#   /' "$log"
		return 1
	fi
}

# vu_start_settled PID CHECK ARGS...: true when CHECK ARGS holds or PID has
# exited (a back-end that fails to start ends the wait at once).
vu_start_settled() {
	local pid=$1
	shift
	"$@" || ! vu_alive "$pid"
}

vu_tap_up() { ip -n "$1" -o link show "$2" 2>/dev/null | grep -q '[<,]UP[,>]'; }
vu_testpmd_ready() { [ -S "$2" ] && vu_tap_up "$1" "$3"; }

# vu_testpmd_start NS SOCKET TAP [LOG]: dpdk-testpmd in network namespace NS
# with a vhost-user server port (net_vhost0) on SOCKET and a TAP PMD port
# (net_tap0) that creates the kernel tap TAP in NS, forwarding each port's
# input to the other ("io" mode, frames untouched); returns once both are up
# (status 0, vu_pid set) or it failed (status 1, its log shown).
#  -l 0-1             two lcores: the main one (waits on stdin) and one
#                     forwarding lcore (busy-polls both ports: a whole CPU);
#                     on a one-CPU machine both share CPU 0 (--lcores)
#  --no-huge -m 256   no hugetlbfs on this host: anonymous memory.  The
#                     vhost PMD maps the guest's RAM from the fds in
#                     SET_MEM_TABLE, so its own memory needs no huge pages
#  --no-pci           no PCI scan (no devices to bind, no sysfs writes)
#  --iova-mode=va     with no device to DMA, addresses are virtual: the
#                     vhost PMD then maps guest RAM (SET_MEM_TABLE) without
#                     looking up a physical address per 4 KiB page in
#                     /proc/self/pagemap, which took over minivmm's 5 s
#                     reply timeout for 256 MiB inside the TCG-emulated
#                     ordinary-KVM stage
#  --no-shconf        no shared config / multi-process socket files
#                     (--in-memory would, but it cannot be combined with
#                     --no-huge, which implies --legacy-mem)
#  --file-prefix      unique per run: concurrent instances never collide
#                     on /var/run/dpdk/PREFIX (removed by vu_cleanup)
#  --vdev net_vhost0,iface=SOCKET,queues=1  vhost-user server on SOCKET
#  --vdev net_tap0,iface=TAP                the kernel-visible end
#  --forward-mode=io --auto-start           forward from the start
#  --stats-period 0   no periodic statistics: totals are printed at exit
#  --total-num-mbufs=2048  the default pool (~155k mbufs) does not fit in -m
#  stdin: a FIFO opened read-write, so that testpmd's "Press enter to exit"
#         read blocks for good (no EOF) until SIGTERM ends it cleanly
#  stdbuf -oL: its log is written line by line, readable while it runs
# The tap comes up at port start, after the vhost socket listens (device
# probe): socket present and tap UP means ready.
vu_testpmd_start() {
	local ns=$1 sock=$2 tap=$3 log=${4:-$VU_DIR/testpmd.log} prefix fifo cores=(-l 0-1)
	[ "$(nproc)" -ge 2 ] || cores=(--lcores '(0,1)@0')
	prefix=minivmm-vu-$$-$RANDOM
	fifo=$VU_DIR/testpmd-stdin.$prefix
	rm -f "$sock"
	mkfifo "$fifo" || return 1
	ip netns exec "$ns" stdbuf -oL dpdk-testpmd "${cores[@]}" --no-huge -m 256 --no-pci --iova-mode=va --no-shconf \
		--file-prefix "$prefix" \
		--vdev "net_vhost0,iface=$sock,queues=1" --vdev "net_tap0,iface=$tap" -- \
		--forward-mode=io --auto-start --stats-period 0 --total-num-mbufs=2048 \
		0<>"$fifo" >"$log" 2>&1 &
	vu_pid=$!
	VU_PIDS+=("$vu_pid")
	VU_PATHS+=("$sock" "$fifo" "/var/run/dpdk/$prefix")
	vu_wait "$VU_WAIT_S" vu_start_settled "$vu_pid" vu_testpmd_ready "$ns" "$sock" "$tap"
	if ! vu_testpmd_ready "$ns" "$sock" "$tap" || ! vu_alive "$vu_pid"; then
		echo "# dpdk-testpmd did not start; its log:"
		sed 's/^/#   /' "$log"
		return 1
	fi
}

# vu_testpmd_port_stat LOG PORT FIELD: a figure from the forward statistics
# testpmd prints when it stops ("RX-packets", "TX-packets", "RX-dropped",
# "TX-dropped"); empty if absent.  Port 0 is the vhost port, 1 the tap.
vu_testpmd_port_stat() {
	awk -v port="$2" -v field="$3:" '
		/Forward statistics for port/ { cur = $(NF - 1) }
		cur == port { for (i = 1; i < NF; i++) if ($i == field) { print $(i + 1); exit } }
	' "$1"
}

# vu_stop PID [SIGNAL]: sends SIGNAL (default TERM: both back-ends then
# close their ports and remove their socket) and waits up to 10 s for the
# process to end, then SIGKILLs it.  Status: the process's exit status.
vu_stop() {
	local pid=$1 sig=${2:-TERM}
	vu_alive "$pid" || {
		wait "$pid" 2>/dev/null
		return
	}
	kill -s "$sig" "$pid" 2>/dev/null
	if ! vu_wait 10 eval "! kill -0 $pid 2>/dev/null"; then
		echo "# back-end $pid still running 10 s after SIG$sig: killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# vu_kill PID: the back-end dies at once (SIGKILL: no clean-up of its
# own, like a crash); returns once it is gone.
vu_kill() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# vu_cleanup: every back-end this script started is stopped (TERM, then
# KILL), and its socket, pid file, FIFO and DPDK run-time directory removed.
vu_cleanup() {
	local pid p
	for pid in "${VU_PIDS[@]}"; do
		vu_alive "$pid" && vu_stop "$pid" TERM >/dev/null
	done
	for p in "${VU_PATHS[@]}"; do
		rm -rf -- "$p"
	done
	VU_PIDS=()
	VU_PATHS=()
}

vu_gone() { ! kill -0 "$1" 2>/dev/null; }

# vu_death_test NAME BACKEND_PID STAY DEV STATS CMD...: the back-end dies
# during guest I/O.  CMD runs minivmm (no `timeout` wrapper: this function
# bounds it, so that SIGTERM reaches minivmm itself) with
# tests/guest/vhost_user_death.elf, the device served by BACKEND_PID, and
# --stats=STATS.  Once the guest prints that I/O flows, the back-end gets
# SIGKILL.  STAY=0: the guest sees DEVICE_NEEDS_RESET and ends the VM
# itself (exit 0).  STAY=1 (death.stay=1): the VM runs on until SIGTERM,
# which must end it normally (status 143) within 5 s.  Either way minivmm
# logs one "vhost-user back-end ... device needs reset" line and --stats
# counts needs_reset 1 for DEV (e.g. virtio-blk.0).  Uses the sourcing
# script's pass and fail.
# vu_missing_backend_test SOCKET CMD...: CMD (minivmm with a vhost-user
# device on SOCKET, which nobody serves) must exit with EXIT_STATUS_ERROR
# (lib/exit_status.sh) within 10 s and name the socket in its error.
vu_missing_backend_test() {
	local sock=$1 start out rc secs
	shift
	start=$(date +%s)
	out=$("$@" 2>&1)
	rc=$?
	secs=$(($(date +%s) - start))
	if [ $rc -eq "$EXIT_STATUS_ERROR" ] && echo "$out" | grep -qF "$sock" && [ $secs -le 10 ]; then
		pass "missing back-end: exit $rc after ${secs} s, error names the socket"
	else
		fail "missing back-end: exit $rc after ${secs} s (want $EXIT_STATUS_ERROR within 10 s), output: $out"
	fi
}

vu_death_test() {
	local name=$1 backend=$2 stay=$3 dev=$4 stats=$5 vm rc killed ms t0 n
	local out=$VU_DIR/death-$stay.out err=$VU_DIR/death-$stay.err
	shift 5
	: >"$out" # exists before the polling below reads it
	"$@" >"$out" 2>"$err" </dev/null &
	vm=$!
	VU_PIDS+=("$vm") # stopped by vu_cleanup if the test is interrupted
	vu_wait 60 vu_start_settled "$vm" grep -q "vhost_user_death: I/O flowing" "$out"
	if grep -q "vhost_user_death: I/O flowing" "$out"; then
		vu_kill "$backend"
		pass "$name: guest I/O flowing, back-end killed (SIGKILL)"
	else
		fail "$name: guest I/O never flowed"
	fi
	killed=$(date +%s)
	if [ "$stay" = 1 ]; then
		vu_wait 60 vu_start_settled "$vm" grep -q "vhost_user_death: staying up" "$out"
		t0=$(date +%s%N)
		kill -TERM "$vm" 2>/dev/null
		vu_wait 10 vu_gone "$vm" || kill -KILL "$vm" 2>/dev/null
		wait "$vm"
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		echo "# minivmm: SIGTERM to exit $ms ms, status $rc; guest output and stderr:"
		sed 's/^/#   /' "$out" "$err"
		[ "$rc" = 143 ] && [ "$ms" -le 5000 ] && grep -q "vhost_user_death: staying up" "$out" &&
			pass "$name: VM ran on without the back-end; SIGTERM ended it normally in $ms ms (status 143)" ||
			fail "$name: VM after the back-end died: SIGTERM -> status $rc in $ms ms (want 143 within 5000)"
	else
		vu_wait 90 vu_gone "$vm" || kill -TERM "$vm" 2>/dev/null
		vu_wait 10 vu_gone "$vm" || kill -KILL "$vm" 2>/dev/null
		wait "$vm"
		rc=$?
		echo "# minivmm exit $rc $(($(date +%s) - killed)) s after the kill; guest output and stderr:"
		sed 's/^/#   /' "$out" "$err"
		[ "$rc" = 0 ] && grep -q "vhost_user_death: device needs reset" "$out" &&
			pass "$name: VM kept running, the guest saw DEVICE_NEEDS_RESET and ended normally" ||
			fail "$name: after the back-end died: minivmm exit $rc (143/137: had to be stopped; other >128: crashed)"
	fi
	echo "#   --stats $dev: vhost_user.counters $(jq -c ".devices[\"$dev\"].vhost_user.counters" "$stats" 2>/dev/null)," \
		"io_thread $(jq -c ".devices[\"$dev\"].io_thread" "$stats" 2>/dev/null)"
	n=$(grep -ci "needs reset" "$err")
	grep -i "vhost-user back-end" "$err" | grep -qi "device needs reset" && [ "$n" = 1 ] &&
		pass "$name: one log line: $(grep -i "needs reset" "$err")" ||
		fail "$name: want one 'vhost-user back-end ... device needs reset' line, found $n"
	n=$(jq -r ".devices[\"$dev\"].transport.needs_reset // empty" "$stats" 2>/dev/null)
	[ "$n" = 1 ] && pass "$name: --stats: $dev needs_reset 1" ||
		fail "$name: --stats: $dev needs_reset ${n:-missing} (want 1)"
}
