# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-net: the downloaded file goes back to the host over TCP (nc); the
# host compares what arrived after minivmm exits (tests/boot-test.d/60-net.sh).
check_virtio_net_upload() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_upload virtio_net /sys/bus/virtio/drivers/virtio_net
}
