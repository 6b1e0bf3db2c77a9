# shellcheck shell=sh disable=SC2034 # $detail is read by /init
# Helpers for the NIC checks (6x-virtio-net-*.sh, 7x-e1000-*.sh), sourced by
# each of them.  NIC is the parameter prefix: virtio_net or e1000.
#
# Parameters (the boot test passes them, tests/boot-test.d/60-net.sh):
#   minivmm.NIC_mac=MAC          the NIC's MAC (minivmm's --net ...,mac=)
#   minivmm.NIC_ip=ADDR/PREFIX   the guest's address on that NIC
#   minivmm.NIC_host=ADDR        the host end of the tap
#   minivmm.NIC_upload_port=N    host TCP port that stores what it receives
#   minivmm.net_http_port=N      host HTTP server (on every tap's address)
#   minivmm.net_file=PATH        file to download from it ...
#   minivmm.net_md5=MD5          ... and its md5sum
#
# Costs: ifconfig, ping, wget and nc are fork+exec each (seconds when guest
# kernel code is emulated), md5sum only a fork; everything else is builtins.
# Each runs through retry_segv (retry.sh, sourced by /init): on emulating
# hosts a fresh process may die at start (docs/compat.md).

# net_params NIC: loads the NIC's parameters into $mac $ip $prefix $host $port.
net_params() {
	eval "mac=\${param_$1_mac-} ip=\${param_$1_ip-} host=\${param_$1_host-}"
	eval "port=\${param_$1_upload_port-}"
	prefix=${ip#*/}
	ip=${ip%/*}
	case $prefix in
	'' | *[!0-9]*) prefix=x ;;
	esac
	if [ -z "$mac" ] || [ -z "$ip" ] || [ -z "$host" ] || [ "$prefix" = x ] || [ "$prefix" -gt 32 ]; then
		detail="need minivmm.$1_mac=, minivmm.$1_ip=ADDR/PREFIX and minivmm.$1_host="
		return 1
	fi
}

# net_netmask PREFIX: sets $netmask (dotted quad); busybox ifconfig takes no
# ADDR/PREFIX.
net_netmask() {
	bits=$(((0xffffffff << (32 - $1)) & 0xffffffff))
	netmask=$((bits >> 24 & 255)).$((bits >> 16 & 255)).$((bits >> 8 & 255)).$((bits & 255))
}

# net_find MAC DRIVER_DIR: finds the interface with MAC and checks that the
# driver in DRIVER_DIR (/sys/bus/.../drivers/NAME) drives it.  Sets $found
# (its /sys/class/net directory) and $dev (its name).
net_find() {
	found=
	seen=
	for sys in /sys/class/net/*; do
		read -r addr <"$sys/address"
		seen="$seen ${sys##*/}=$addr"
		[ "$addr" = "$1" ] && found=$sys
	done
	if [ -z "$found" ]; then
		detail="no interface with MAC $1 (have:$seen)"
		return 1
	fi
	dev=${found##*/}
	# shellcheck disable=SC3013 # busybox test has -ef
	if [ ! "$found/device/driver" -ef "$2" ]; then
		detail="$dev has MAC $1 but is not driven by ${2##*/}"
		return 1
	fi
}

# net_dhcp IFACE: a DHCP lease on IFACE, as a user gets one: busybox udhcpc
# runs /etc/udhcpc/default.script, which applies the lease and prints
# "udhcpc: IFACE is ADDR/MASK, gateway G, DNS D"; at most 3 discovers 2 s
# apart, then udhcpc fails.  /init runs it for minivmm.dhcp=IFACE (make
# run's guest), the user-net check on its card.
net_dhcp() {
	retry_segv udhcpc -f -q -n -t 3 -T 2 -i "$1"
}

# net_up NIC DRIVER_DIR: finds the interface with the NIC's MAC (net_find),
# configures its address, waits for carrier.  Sets $net_if and remembers it as
# $net_if_NIC, so later checks of the same NIC reuse it.
net_up() {
	net_params "$1" || return 1
	eval "net_if=\${net_if_$1-}"
	[ -n "$net_if" ] && return 0
	net_find "$mac" "$2" || return 1
	net_netmask "$prefix"
	if ! retry_segv ifconfig "$dev" "$ip" netmask "$netmask" up; then
		detail="ifconfig $dev $ip netmask $netmask up failed"
		return 1
	fi
	# e1000 reports its link from a watchdog after the interface comes up;
	# frames sent before carrier are dropped.
	tries=0
	while :; do
		read -r carrier <"$found/carrier"
		[ "$carrier" = 1 ] && break
		if [ "$tries" -ge 20 ]; then
			detail="$dev: no carrier 10 s after ifconfig up"
			return 1
		fi
		sleep 0.5
		tries=$((tries + 1))
	done
	net_if=$dev
	eval "net_if_$1=\$dev"
	detail="$dev (${2##*/}) $mac $ip/$prefix, carrier up"
}

# net_ping NIC: three echo replies from the host end within 20 s.  With -w,
# ping -c 3 sends until three replies came: one request may go unanswered
# (seen once in the TCG-emulated ordinary-KVM stage: 4 sent, 3 received).
net_ping() {
	net_up "$1" "$2" || return 1
	retry_segv ping -q -c 3 -A -w 20 "$host" >/tmp/ping-"$1".out 2>&1
	status=$?
	summary=
	while read -r line; do
		case $line in
		*packets\ transmitted*) summary=$line ;;
		esac
	done </tmp/ping-"$1".out
	detail="$net_if -> $host: ${summary:-no summary (ping status $status)}"
	case $summary in
	*" packets transmitted, 3 packets received"*) return 0 ;;
	esac
	return 1
}

# net_md5sum FILE: FILE's md5sum in $sum.
net_md5sum() {
	retry_segv md5sum "$1" >"$1.md5"
	read -r sum _ <"$1.md5"
}

# net_fetch WHO URL FILE: wget URL into FILE; true when its md5sum ($sum) is
# $param_net_md5.  $detail begins with WHO (the interface).
net_fetch() {
	if ! retry_segv wget -q -O "$3" "$2" 2>"$3.err"; then
		read -r err <"$3.err"
		detail="$1: wget $2 failed: $err"
		return 1
	fi
	net_md5sum "$3"
	detail="$1: $2 md5 $sum (expected $param_net_md5)"
	[ "$sum" = "$param_net_md5" ]
}

# net_download NIC DRIVER_DIR: wget $net_file from the host end over HTTP
# into /tmp/net-NIC.bin and compare its md5sum with $param_net_md5.
net_download() {
	net_up "$1" "$2" || return 1
	if [ -z "${param_net_http_port-}" ] || [ -z "${param_net_file-}" ] || [ -z "${param_net_md5-}" ]; then
		detail="need minivmm.net_http_port=, minivmm.net_file= and minivmm.net_md5="
		return 1
	fi
	net_fetch "$net_if" "http://$host:$param_net_http_port$param_net_file" "/tmp/net-$1.bin"
}

# net_upload NIC DRIVER_DIR: send the downloaded file back to the host's
# upload port with nc (which closes its sending side at the end of the file;
# the host's receiver closes the connection once it has read everything).  The
# host compares what arrived (tests/boot-test.d/60-net.sh).
net_upload() {
	net_up "$1" "$2" || return 1
	file=/tmp/net-$1.bin
	if [ ! -s "$file" ]; then
		detail="nothing to upload: $file missing (download failed)"
		return 1
	fi
	if [ -z "$port" ]; then
		detail="need minivmm.$1_upload_port="
		return 1
	fi
	if ! retry_segv nc -w 20 "$host" "$port" <"$file" >/dev/null 2>/tmp/nc-"$1".err; then
		read -r err </tmp/nc-"$1".err
		detail="$net_if: nc $host $port failed: $err"
		return 1
	fi
	detail="$net_if: $file sent to $host:$port (md5 $param_net_md5)"
}
