# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# User-mode networking (--net user, libslirp) as a user meets it: the
# virtio-net card with MAC minivmm.user_net_mac= gets its address by DHCP
# (net_dhcp: udhcpc and /etc/udhcpc/default.script, as /init runs it for
# make run's guest and as a user would run it by hand), a default
# route through the gateway 10.0.2.2 and the DNS server 10.0.2.3; a file
# downloaded from 10.0.2.2 (the host's loopback, where the boot test's HTTP
# server listens) has the announced md5sum; and a port forward carries it
# back in: the guest listens on minivmm.user_net_guest_port=, connects to
# 10.0.2.2:minivmm.user_net_fwd_port= (the forward's own listening socket
# on the host's 127.0.0.1), and what its listener receives has the same
# md5sum - the path a host client of hostfwd= takes, driven from inside.
check_user_net() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	mac=${param_user_net_mac-} fwd=${param_user_net_fwd_port-} gport=${param_user_net_guest_port-}
	if [ -z "$mac" ] || [ -z "$fwd" ] || [ -z "$gport" ] || [ -z "${param_net_http_port-}" ] ||
		[ -z "${param_net_file-}" ] || [ -z "${param_net_md5-}" ]; then
		detail="need minivmm.user_net_mac=, _fwd_port=, _guest_port= and minivmm.net_http_port=, net_file=, net_md5="
		return 1
	fi
	net_find "$mac" /sys/bus/virtio/drivers/virtio_net || return 1

	net_dhcp "$dev" >/tmp/udhcpc.out 2>&1
	lease=''
	last=''
	while read -r line; do
		last=$line
		case $line in
		"udhcpc: $dev is "*) lease=${line#"udhcpc: $dev is "} ;;
		esac
	done </tmp/udhcpc.out
	if [ -z "$lease" ]; then
		detail="$dev: udhcpc configured nothing: ${last:-no output}"
		return 1
	fi
	gateway=
	while read -r iface dest gw _; do
		[ "$iface" = "$dev" ] && [ "$dest" = 00000000 ] && gateway=$gw
	done </proc/net/route
	server=
	while read -r key value _; do
		[ "$key" = nameserver ] && server=$value && break
	done </etc/resolv.conf
	# /proc/net/route shows addresses as little-endian hex: 10.0.2.2.
	if [ "${lease%%/*}" != 10.0.2.15 ] || [ "$gateway" != 0202000A ] || [ "$server" != 10.0.2.3 ]; then
		detail="$dev: lease '$lease', default route gateway ${gateway:-none} (want 0202000A), nameserver ${server:-none}; expected 10.0.2.15 via 10.0.2.2, DNS 10.0.2.3"
		return 1
	fi

	file=/tmp/user-net.bin
	url=http://10.0.2.2:$param_net_http_port$param_net_file
	net_fetch "$dev ($lease)" "$url" "$file" || return 1

	# The listener must be listening before the connection comes in: slirp
	# answers the host side's connect first and then finds the guest's port
	# closed.  Wait for it in /proc/net/tcp{,6} (state 0A, port in hex).
	received=/tmp/user-net-fwd.bin
	# -e: busybox's small nc stops at the end of its own stdin, so the
	# receiving side is a cat that reads the connection to its end.
	retry_segv nc -l -w 60 -p "$gport" -e sh -c "exec cat >$received" 2>/tmp/nc-listen.err &
	listener=$!
	want_port=$(printf ':%04X' "$gport")
	tries=0
	listening=
	while [ -z "$listening" ]; do
		# A kernel with IPv6 lists nc's dual-stack socket in tcp6.
		for table in /proc/net/tcp /proc/net/tcp6; do
			[ -e "$table" ] || continue
			while read -r _ local _ state _; do
				case $local in
				*"$want_port") [ "$state" = 0A ] && listening=yes ;;
				esac
			done <"$table"
		done
		[ -n "$listening" ] && break
		if [ "$tries" -ge 60 ] || ! kill -0 "$listener" 2>/dev/null; then
			detail="$dev: nc -l -p $gport is not listening after $((tries / 2)) s"
			kill "$listener" 2>/dev/null
			wait "$listener"
			return 1
		fi
		sleep 0.5
		tries=$((tries + 1))
	done
	retry_segv nc -w 20 10.0.2.2 "$fwd" <"$file" >/dev/null 2>/tmp/nc-user-net.err
	sent=$?
	# The listener ends when the connection closes (or when nothing came
	# within -w 60 s).
	wait "$listener"
	net_md5sum "$received"
	detail="$dev: DHCP $lease; $url md5 ok; 10.0.2.2:$fwd forwarded to :$gport delivered md5 $sum (nc status $sent)"
	[ "$sum" = "$param_net_md5" ]
}
