# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-blk multi-queue: the scratch disk (minivmm.disk_raw=SERIAL) has
# minivmm.disk_raw_queues=N request queues (--disk ...,queues=N); Linux gives
# it one blk-mq hardware queue per virtqueue, at most one per CPU, each a
# directory under /sys/block/vdX/mq/.  Counted with a glob: no fork.
check_disk_mq() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_by_serial "${param_disk_raw-}" vdb || return 1
	want=${param_disk_raw_queues-1}
	cpus=${param_cpus-1}
	[ "$cpus" -ge "$want" ] || want=$cpus
	hw=0
	for q in "/sys/block/${disk_dev##*/}/mq"/*; do
		[ -d "$q" ] && hw=$((hw + 1))
	done
	detail="${disk_dev}: $hw blk-mq hardware queues (expected $want: queues=${param_disk_raw_queues-1}, $cpus CPUs)"
	[ "$hw" = "$want" ]
}
