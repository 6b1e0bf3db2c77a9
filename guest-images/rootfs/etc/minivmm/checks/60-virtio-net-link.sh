# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-net: the interface with minivmm.virtio_net_mac= exists, is driven by
# virtio_net, takes its address and has carrier.  See /etc/minivmm/lib/net.sh.
check_virtio_net_link() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_up virtio_net /sys/bus/virtio/drivers/virtio_net
}
