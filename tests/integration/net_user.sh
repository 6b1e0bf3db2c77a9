#!/usr/bin/env bash
# User-mode networking (--net user, libslirp) end to end with
# tests/guest/net_user.elf, on virtio-net and on the e1000: the guest ARPs
# for the gateway 10.0.2.2 and gets libslirp's reply, pings it and gets the
# echo reply, then the host connects to a hostfwd= port on 127.0.0.1 and the
# guest must see the TCP SYN to its port (its exit status says which step
# failed: 10 ARP, 11 echo, 12 SYN).  Also: the default MAC is printed and is
# the guest's, two VMs get different ones, a forward whose port is taken
# stops minivmm with one error line, and (as root, where /dev/kvm's group
# allows) the whole check passes for the unprivileged user nobody.
# As root everything runs in a private network namespace (its own
# loopback: no port clashes with the host); otherwise on the host's.
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=net-user
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/net_user.elf
GUEST_PORT=2222
failed=0
. tests/integration/lib/net_user_guest.sh

pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}

if [ ! -r /dev/kvm ] || ! command -v python3 >/dev/null; then
	echo "SKIP: $LABEL (needs /dev/kvm and python3)"
	exit 0
fi
for f in "$MINIVMM" "$GUEST"; do
	[ -e "$f" ] || {
		fail "missing $f (run make)"
		exit 1
	}
done

tmp=$(mktemp -d)
chmod 755 "$tmp"
ns= vm_pid=
cleanup() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
in_ns=()
if [ "$(id -u)" = 0 ] && ip netns add "minivmm-test-$$" 2>/dev/null; then
	ns=minivmm-test-$$
	ip netns exec "$ns" ip link set lo up
	in_ns=(ip netns exec "$ns")
fi

# A TCP port free on the loopback the VM will use.
free_port() {
	"${in_ns[@]}" python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_vm NAME MODEL [PREFIX...]: boots the guest on --net user with a forward
# from 127.0.0.1:$port to its GUEST_PORT (PREFIX runs minivmm, e.g. as
# another user), connects once the guest is ready; $rc is the guest's status.
run_vm() {
	local name=$1 model=$2
	shift 2
	port=$(free_port)
	out=$tmp/$name.out err=$tmp/$name.err
	"${in_ns[@]}" "$@" timeout 120 "$MINIVMM" --kernel "$GUEST" --mem 64M \
		--net "user,model=$model,hostfwd=tcp::$port-:$GUEST_PORT" \
		--cmdline "console=ttyS0 nu.port=$GUEST_PORT nu.timeout_ms=60000" >"$out" 2>"$err" &
	vm_pid=$!
	connect=no
	if net_user_guest_ready "$out" "$vm_pid"; then
		"${in_ns[@]}" python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10).close()" \
			"$port" 2>"$tmp/$name.connect" && connect=yes
	fi
	wait "$vm_pid"
	rc=$?
	vm_pid=
	echo "# $name: guest output and minivmm's lines:"
	sed 's/^/#   /' "$out" "$err"
}

# check_vm NAME MODEL_NAME: the assertions on one run.
check_vm() {
	local name=$1 dev=$2 logged guest_mac
	grep -q "arp reply: 10.0.2.2 is at" "$out" && pass "$name: ARP request for 10.0.2.2 answered" ||
		fail "$name: no ARP reply from the gateway (guest status $rc)"
	grep -q "echo reply from 10.0.2.2" "$out" && pass "$name: ICMP echo to 10.0.2.2 answered" ||
		fail "$name: no ICMP echo reply (guest status $rc)"
	[ "$connect" = yes ] && pass "$name: host connects to the forwarded port 127.0.0.1:$port" ||
		fail "$name: connecting to 127.0.0.1:$port failed: $(cat "$tmp/$name.connect" 2>/dev/null)"
	[ "$rc" = 0 ] && grep -q "TCP SYN to port $GUEST_PORT" "$out" &&
		pass "$name: the guest sees the forwarded SYN to port $GUEST_PORT (exit 0)" ||
		fail "$name: guest exited $rc (10 ARP, 11 echo, 12 no SYN)"
	logged=$(sed -n "s/^minivmm: net0: $dev on user-mode networking, MAC \(..:..:..:..:..:..\)$/\1/p" "$err")
	guest_mac=$(sed -n 's/^net-user: .*, mac \(..:..:..:..:..:..\)\r*$/\1/p' "$out")
	if [ -n "$logged" ] && [ "$logged" = "$guest_mac" ] &&
		[ $((0x${logged%%:*} & 3)) = 2 ]; then
		pass "$name: default MAC $logged printed at start, locally administered unicast, the guest's"
	else
		fail "$name: MAC line '$logged' vs guest '$guest_mac'"
	fi
	grep -q "net0-user: forwarding tcp 127.0.0.1:$port to the guest's 10.0.2.15:$GUEST_PORT" "$err" &&
		pass "$name: the forward is logged" || fail "$name: no forward line"
}

run_vm virtio virtio
check_vm virtio virtio-net
mac_virtio=$(sed -n 's/^net-user: .*, mac \(..:..:..:..:..:..\)\r*$/\1/p' "$out")
run_vm e1000 e1000
check_vm e1000 e1000
if [ -n "$ns" ]; then
	# The helper (minivmm-net-user) ends with its VM: nothing runs in the namespace.
	[ -z "$(ip netns pids "$ns")" ] && pass "no user-mode networking helper outlives its VM" ||
		fail "processes left in the namespace: $(ip netns pids "$ns" | xargs -r ps -o pid=,args= -p)"
fi
mac_e1000=$(sed -n 's/^net-user: .*, mac \(..:..:..:..:..:..\)\r*$/\1/p' "$out")
[ -n "$mac_virtio" ] && [ "$mac_virtio" != "$mac_e1000" ] &&
	pass "two VMs get different default MACs ($mac_virtio, $mac_e1000)" ||
	fail "default MACs of two VMs: '$mac_virtio' and '$mac_e1000'"

# A forward whose port is taken: one error line naming it, no guest.
port=$(free_port)
"${in_ns[@]}" python3 -c "
import socket, subprocess, sys
s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(1)
r = subprocess.run(sys.argv[1:], stdout=open('$tmp/taken.out', 'w'), stderr=open('$tmp/taken.err', 'w'))
sys.exit(r.returncode)" "$MINIVMM" --kernel "$GUEST" --mem 64M --net "user,hostfwd=tcp::$port-:22"
taken_rc=$?
if [ "$taken_rc" != 0 ] && [ "$(grep -c 'error' "$tmp/taken.err")" = 1 ] &&
	grep -q "error: --net user: hostfwd tcp 127.0.0.1:$port: cannot listen there" "$tmp/taken.err" &&
	! grep -q "net-user:" "$tmp/taken.out"; then
	pass "a forward on a port in use: minivmm stops (status $taken_rc) with one line naming it"
else
	fail "port in use: status $taken_rc, stderr: $(cat "$tmp/taken.err")"
fi

# The helper killed while the VM runs: the guest loses its network, minivmm
# says so once and runs on (the guest's SYN wait ends it, status 12).
if [ -n "$ns" ]; then
	ip netns exec "$ns" timeout 60 "$MINIVMM" --kernel "$GUEST" --mem 64M --net user \
		--cmdline "console=ttyS0 nu.port=$GUEST_PORT nu.timeout_ms=3000" >"$tmp/kill.out" 2>"$tmp/kill.err" &
	vm_pid=$!
	for _ in $(seq 600); do
		grep -q "ready for hostfwd" "$tmp/kill.out" && break
		sleep 0.1
	done
	helper=$(ip netns pids "$ns" | xargs -r ps -o pid=,args= -p | awk '/minivmm-net-user/ {print $1}')
	[ -n "$helper" ] && kill -KILL $helper
	wait "$vm_pid"
	rc=$?
	vm_pid=
	if [ -n "$helper" ] && [ "$rc" = 12 ] &&
		[ "$(grep -c 'virtio-net.0: backend gone (end of file), receive stopped' "$tmp/kill.err")" = 1 ]; then
		pass "helper killed: one line, the VM runs on to its own end (guest status 12)"
	else
		fail "helper killed (pid '${helper:-none}'): status $rc, $(grep -v 'host:' "$tmp/kill.err" | tr '\n' ' ')"
	fi
fi

# No root needed: the same as nobody, with only /dev/kvm's group.
kvm_group=$(stat -c %G /dev/kvm)
if [ "$(id -u)" != 0 ]; then
	echo "# already unprivileged ($(id -un)): the runs above were the unprivileged check"
elif [ "$(stat -c %a /dev/kvm)" = 666 ] || [ "$kvm_group" != root ]; then
	groups=()
	[ "$kvm_group" != root ] && groups=(--groups "$kvm_group")
	run_vm nobody virtio setpriv --reuid=nobody --regid=nogroup "${groups[@]}" --inh-caps=-all \
		--bounding-set=-all
	check_vm nobody virtio-net
else
	echo "# /dev/kvm is root-only here: no unprivileged run"
fi

exit $failed
