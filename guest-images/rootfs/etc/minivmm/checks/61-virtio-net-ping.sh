# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-net: the host end of the tap answers 3 pings.
check_virtio_net_ping() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_ping virtio_net /sys/bus/virtio/drivers/virtio_net
}
