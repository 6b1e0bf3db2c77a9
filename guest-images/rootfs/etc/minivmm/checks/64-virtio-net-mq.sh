# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-net multi-queue: the virtio-net NIC (minivmm.virtio_net_mac=) has
# minivmm.virtio_net_queues=N queue pairs (--net ...,queues=N); Linux turns
# on one pair per CPU, at most N (VQ_PAIRS_SET at probe), and shows each
# receive queue as /sys/class/net/IFACE/queues/rx-K.  Counted with a glob:
# no fork.
check_virtio_net_mq() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_up virtio_net /sys/bus/virtio/drivers/virtio_net || return 1
	want=${param_virtio_net_queues-1}
	cpus=${param_cpus-1}
	[ "$cpus" -ge "$want" ] || want=$cpus
	rx=0
	for q in "/sys/class/net/$net_if/queues"/rx-*; do
		[ -d "$q" ] && rx=$((rx + 1))
	done
	detail="$net_if: $rx receive queues (expected $want: queues=${param_virtio_net_queues-1}, $cpus CPUs)"
	[ "$rx" = "$want" ]
}
