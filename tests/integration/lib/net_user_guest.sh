# Shared by the scripts that run tests/guest/net_user.elf (net_user.sh,
# net_tap_ip.sh).  Sourced, never run on its own.

# net_user_guest_ready OUT PID: waits (at most 120 s) until the guest, whose
# console goes to OUT, waits for the TCP SYN ("ready for hostfwd"); returns 1
# if it stopped or gave up ("net-user: no ...") first.
net_user_guest_ready() {
	local out=$1 pid=$2
	for _ in $(seq 1200); do
		grep -q "ready for hostfwd" "$out" && return 0
		grep -q "net-user: no" "$out" && return 1
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
