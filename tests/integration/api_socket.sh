#!/usr/bin/env bash
# The control socket (--api-socket) and --pidfile end to end, with a guest
# that runs until it is stopped (tests/guest/idle.elf ticks on the console):
# refusals at start, the socket's mode, status/stats, pause (the vCPU exit
# counters and the console stand still) and resume, bad requests of every
# kind (the VM keeps answering), a client that never reads, too many
# clients, and stop (the documented exit status, socket and pidfile gone).
# Also `minivmm ctl`'s own exit statuses.
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=api-socket
MINIVMM=${MINIVMM:-./minivmm}
IDLE=tests/guest/idle.elf
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
failed=0
pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}
if [ ! -e /dev/kvm ] || ! command -v jq >/dev/null || ! command -v python3 >/dev/null; then
	echo "SKIP: $LABEL (needs /dev/kvm, jq and python3)"
	exit 0
fi
tmp=$(mktemp -d)
sock=$tmp/api.sock
pidfile=$tmp/minivmm.pid
con=$tmp/console
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ctl() { "$MINIVMM" ctl "$sock" "$@"; }
field() { jq -r "$1" <<<"$2"; }

# raw TEXT: sends TEXT as it is on one connection, half-closes it and prints
# every line that comes back (python3: ctl only sends well-formed requests).
raw() {
	python3 - "$sock" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode("latin-1"))
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode("utf-8"))
EOF
}

# ---- refused at start, before the VM runs ----
: >"$tmp/regular"
"$MINIVMM" --kernel "$IDLE" --api-socket "$tmp/regular" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = "$EXIT_STATUS_ERROR" ] && [ -f "$tmp/regular" ] &&
	grep -Eq "^minivmm: (error: )?--api-socket $tmp/regular: exists and is not a socket; not replaced" "$tmp/err" &&
	! grep -q "idle: running" "$tmp/out"; then
	pass "an --api-socket path that is a regular file: refused (exit $rc), file kept"
else
	fail "--api-socket on a regular file: exit $rc, $(cat "$tmp/err")"
fi
"$MINIVMM" --kernel "$IDLE" --api-socket "$sock" --pidfile "$tmp/missing/pid" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = "$EXIT_STATUS_ERROR" ] && [ ! -e "$sock" ] &&
	grep -Eq "^minivmm: (error: )?--pidfile $tmp/missing/pid: cannot create a file in $tmp/missing: No such file or directory" "$tmp/err" &&
	! grep -q "idle: running" "$tmp/out"; then
	pass "an unwritable --pidfile: refused (exit $rc) before the VM runs, socket removed"
else
	fail "unwritable --pidfile: exit $rc, socket $(ls "$sock" 2>&1), $(cat "$tmp/err")"
fi

# ---- a running VM ----
# Two vCPUs: the second waits for a SIPI that never comes, inside KVM_RUN; pause must reach it too.
"$MINIVMM" --kernel "$IDLE" --cpus 2 --api-socket "$sock" --pidfile "$pidfile" --console "file:$con" \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 600); do # until the guest ticks (bounded: 60 s)
	grep -q "idle: tick 3" "$con" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q "idle: tick 3" "$con" 2>/dev/null; then
	fail "the idle guest did not start: $(cat "$tmp/err")"
	exit 1
fi
[ "$(stat -c '%a %F' "$sock")" = "600 socket" ] && pass "the socket is a socket with mode 0600" ||
	fail "socket: $(stat -c '%a %F' "$sock")"
[ "$(cat "$pidfile")" = "$pid" ] && pass "the pidfile holds minivmm's PID" ||
	fail "pidfile holds '$(cat "$pidfile")', PID is $pid"

r=$(ctl status)
rc=$?
if [ $rc = 0 ] && [ "$(field '.ok' "$r")" = true ] && [ "$(field '.state' "$r")" = running ] &&
	[ "$(field '.pid' "$r")" = "$pid" ] && [ "$(field '.vcpus' "$r")" = 2 ] &&
	jq -e '.uptime_s > 0' <<<"$r" >/dev/null; then
	pass "status: running, its PID, 2 vCPUs, uptime"
else
	fail "status: exit $rc, $r"
fi
r=$(ctl stats)
if jq -e '.ok and .stats.format == "minivmm-stats" and .stats.report.kind == "snapshot"
	and .stats.report.stop_reason == "running" and .stats.exits.total > 0
	and .stats.devices["serial-0x3f8"].counters.tx_bytes > 0' <<<"$r" >/dev/null; then
	pass "stats: the --stats document (a snapshot) without --stats"
else
	fail "stats: $(head -c 400 <<<"$r")"
fi

# ---- pause: nothing moves; resume: it moves again ----
r=$(ctl pause)
[ "$(field '.state' "$r")" = paused ] && [ "$(field '.state' "$(ctl status)")" = paused ] &&
	pass "pause: state paused" || fail "pause: $r"
exits=$(ctl stats | jq -c '[.stats.vcpus[].exits.total]')
size=$(stat -c %s "$con")
still=yes
for _ in $(seq 10); do # one second in which the guest would tick 10 times
	sleep 0.1
	[ "$(stat -c %s "$con")" = "$size" ] || still="console grew"
done
exits2=$(ctl stats | jq -c '[.stats.vcpus[].exits.total]')
[ "$exits2" = "$exits" ] || still="vCPU exits went from $exits to $exits2"
[ "$still" = yes ] && pass "paused: each vCPU's exit counter and the console stand still for 1 s ($exits)" ||
	fail "paused VM moved: $still"
r=$(ctl pause)
rc=$?
[ $rc = 1 ] && [ "$(field '.error' "$r")" = "the VM is already paused" ] &&
	pass "pause twice: an error, ctl exits 1" || fail "pause twice: exit $rc, $r"
r=$(ctl resume)
[ "$(field '.state' "$r")" = running ] && pass "resume: state running" || fail "resume: $r"
for _ in $(seq 300); do # until the guest ticks again (bounded: 30 s)
	[ "$(stat -c %s "$con")" != "$size" ] && break
	sleep 0.1
done
exits3=$(ctl stats | jq -c '[.stats.vcpus[].exits.total]')
[ "$(stat -c %s "$con")" != "$size" ] && [ "$exits3" != "$exits" ] &&
	pass "resumed: the guest ticks again ($exits3 exits)" || fail "resumed guest does not run"
r=$(ctl resume)
rc=$?
[ $rc = 1 ] && [ "$(field '.error' "$r")" = "the VM is not paused" ] &&
	pass "resume a running VM: an error" || fail "resume running: exit $rc, $r"

# ---- bad requests: each answered with an error, in order; the VM goes on ----
long=$(head -c 5000 /dev/zero | tr '\0' x)
replies=$(raw $'garbage\n[1,2]\n{}\n{"cmd":42}\n{"cmd":"reboot"}\n{"cmd":"stop","timeout":1}\n{"cmd":"stop","timeout_s":"soon"}\n'"$long"$'\n{"cmd":"status"}\n')
errors=$(jq -r '.error // ("ok: " + .state)' <<<"$replies")
expected='not valid JSON: unexpected character at byte 0
the request must be a JSON object such as {"cmd": "status"}
the request needs a string "cmd": one of status, stats, pause, resume, stop
the request needs a string "cmd": one of status, stats, pause, resume, stop
unknown command "reboot" (known: status, stats, pause, resume, stop)
command "stop" takes no field "timeout"
timeout_s must be a whole number of seconds from 0 to 600
request longer than 4096 bytes: discarded up to its newline
ok: running'
if [ "$errors" = "$expected" ]; then
	pass "malformed, non-object, unknown, oversized requests: one error line each, then served"
else
	fail "bad requests answered:"$'\n'"$errors"
fi
r=$(raw '{"cmd":"status"}') # no newline before the end: still a request
[ "$(field '.state' "$r")" = running ] && pass "a last request without its newline is answered" ||
	fail "request at end of input: $r"

# A client that asks for stats and never reads is dropped; others are served meanwhile.
python3 - "$sock" "$MINIVMM" <<'EOF' >"$tmp/lazy" 2>&1
import socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.setblocking(False)
sent = 0
closed = False
for _ in range(4000):
    try:
        s.send(b'{"cmd":"stats"}\n')
        sent += 1
    except BlockingIOError:
        time.sleep(0.005)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
        break
ok = subprocess.run([sys.argv[2], "ctl", sys.argv[1], "status"], capture_output=True).returncode == 0
print("closed" if closed else "open", sent, "served" if ok else "not-served")
EOF
if grep -q "^closed [0-9]* served$" "$tmp/lazy" &&
	grep -q "control socket: client disconnected: it does not read its replies" "$tmp/err"; then
	pass "a client that never reads is disconnected ($(cut -d' ' -f2 "$tmp/lazy") requests), others served"
else
	fail "lazy client: $(cat "$tmp/lazy")"
fi

# Eight clients at once; a ninth is told so and disconnected.
python3 - "$sock" <<'EOF' >"$tmp/many" 2>&1
import socket, sys
conns = []
for _ in range(8):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sys.argv[1])
    c.sendall(b'{"cmd":"status"}\n')
    c.settimeout(10)
    assert b'"state"' in c.recv(4096)
    conns.append(c)
extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
extra.settimeout(10)
extra.connect(sys.argv[1])
print(extra.recv(4096).decode().strip())
print("eof" if extra.recv(4096) == b"" else "still open")
EOF
r=$(ctl status)
if [ "$(head -1 "$tmp/many" | jq -r .error)" = "too many clients (8 at most): try again later" ] &&
	[ "$(sed -n 2p "$tmp/many")" = eof ] && [ "$(field '.state' "$r")" = running ]; then
	pass "a ninth client is refused with an error; served again once the others left"
else
	fail "too many clients: $(cat "$tmp/many"), then $r"
fi

wait_for_exit() { # reaps minivmm ($pid) into $rc, waiting at most 10 s for it to exit
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	pid=
}

# ---- stop: the guest cannot power off on its own, so it is forced ----
r=$(ctl stop timeout_s=2)
rc=$?
if [ $rc = 0 ] && [ "$(field '.state' "$r")" = stopping ] &&
	jq -e '.forced == true or .guest_asked == true' <<<"$r" >/dev/null; then
	pass "stop: accepted ($(jq -c 'del(.ok)' <<<"$r"))"
else
	fail "stop: exit $rc, $r"
fi
wait_for_exit
if [ $rc = "$EXIT_STATUS_API_STOP" ] && grep -q "^minivmm: control socket: stop: " "$tmp/err"; then
	pass "minivmm exited with EXIT_STATUS_API_STOP ($rc) and said why"
else
	fail "after stop: exit $rc, $(cat "$tmp/err")"
fi
[ ! -e "$sock" ] && [ ! -e "$pidfile" ] && pass "socket file and pidfile removed at exit" ||
	fail "left behind: $(ls "$tmp")"

# ---- a socket left by a killed minivmm is replaced; a signal ends a paused VM ----
start_paused() { # starts a VM on $sock and pauses it; fails the test if it cannot
	"$MINIVMM" --kernel "$IDLE" --api-socket "$sock" --pidfile "$pidfile" --console none \
		>"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 300); do # until it answers (bounded: 30 s)
		[ "$(ctl status 2>/dev/null | jq -r .state)" = running ] && break
		sleep 0.1
	done
	[ "$(ctl pause | jq -r .state)" = paused ] || fail "could not pause: $(cat "$tmp/err")"
}
start_paused
kill -KILL "$pid"
wait "$pid" 2>/dev/null
[ -S "$sock" ] && [ -e "$pidfile" ] || fail "kill -9 left no stale socket to test with"
start_paused
if [ "$(cat "$pidfile")" = "$pid" ] && [ "$(field '.pid' "$(ctl status)")" = "$pid" ]; then
	pass "a stale socket (and pidfile) from a killed minivmm: replaced at start"
else
	fail "stale socket: $(cat "$tmp/err")"
fi
kill -TERM "$pid"
wait_for_exit
[ $rc = $((EXIT_STATUS_SIGNAL_BASE + 15)) ] && [ ! -e "$sock" ] && [ ! -e "$pidfile" ] &&
	pass "SIGTERM ends a paused VM (exit $rc), socket and pidfile removed" ||
	fail "SIGTERM on a paused VM: exit $rc, $(ls "$tmp"), $(cat "$tmp/err")"

# ---- minivmm ctl's own statuses ----
"$MINIVMM" ctl "$sock" status >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q "^minivmm ctl: $sock: No such file or directory" "$tmp/err" &&
	pass "ctl without a VM: exit 3 with the reason" || fail "ctl without a VM: exit $rc, $(cat "$tmp/err")"
"$MINIVMM" ctl "$sock" >"$tmp/out" 2>"$tmp/err"
rc=$?
"$MINIVMM" ctl "$sock" stop timeout_s >/dev/null 2>>"$tmp/err"
rc2=$?
[ $rc = 2 ] && [ $rc2 = 2 ] && grep -q "expected FIELD=VALUE" "$tmp/err" &&
	pass "ctl with bad arguments: exit 2" || fail "ctl usage: exit $rc/$rc2, $(cat "$tmp/err")"

exit $failed
