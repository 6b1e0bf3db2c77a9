# shellcheck shell=sh
# Linux-guest benchmark phases (bench/compare --linux), sourced by /init when
# the command line has minivmm.bench=PHASE[,PHASE]...  Each phase is one fixed
# transfer through Linux's own driver:
#   virtio_net-upload, e1000-upload      POST minivmm.bench_bytes to the host (wget)
#   virtio_net-download, e1000-download  fetch minivmm.bench_bytes from the host (wget)
#   blk-read, blk-write                  minivmm.bench_blocks 4 KiB O_DIRECT
#                                        reads / writes of the scratch disk (dd)
# around which the host takes --stats snapshots.  The handshake, on the console:
#   guest: MINIVMM-BENCH begin NAME      host: snapshot, then a line "go"
#   guest: MINIVMM-BENCH end NAME status=S   host: snapshot, then "go"
# so that each snapshot pair encloses the phase and nothing else (set-up such as
# ifconfig happens before "begin").  Network parameters are those of the boot
# test (lib/net.sh: minivmm.DRIVER_mac/_ip/_host/_upload_port) plus
# minivmm.DRIVER_download_port; the scratch disk is minivmm.bench_disk (vda).

# bench_handshake LINE: print LINE for the host and wait for its "go".
bench_handshake() {
	echo "MINIVMM-BENCH $1"
	read -r bench_go
	[ "$bench_go" = go ] || echo "MINIVMM-BENCH unexpected reply '$bench_go'"
}

# bench_phase NAME CMD [ARG]...: CMD between the two snapshots.
bench_phase() {
	bench_name=$1
	shift
	bench_handshake "begin $bench_name"
	"$@"
	bench_status=$?
	bench_handshake "end $bench_name status=$bench_status"
}

# bench_net DRIVER SYSFS_DRIVER upload|download
bench_net() {
	# shellcheck source=net.sh
	. /etc/minivmm/lib/net.sh
	if ! net_up "$1" "$2"; then
		echo "MINIVMM-BENCH skip $1-$3: $detail"
		return 1
	fi
	if [ "$3" = upload ]; then
		bench_phase "$1-upload" wget -q -O /dev/null --post-file /tmp/bench-upload.bin \
			"http://$host:$port/bench"
	else
		eval "dport=\${param_$1_download_port-}"
		bench_phase "$1-download" wget -q -O /dev/null "http://$host:$dport/bench"
	fi
}

bench_run() {
	bench_bytes=${param_bench_bytes:-1048576}
	bench_blocks=${param_bench_blocks:-1024}
	bench_disk=/dev/${param_bench_disk:-vda}
	# What the upload sends exists before the clock starts.  Not zeros:
	# busybox wget --post-file sends the file as a C string (up to its first NUL).
	head -c "$bench_bytes" /dev/zero | tr '\0' x >/tmp/bench-upload.bin
	set -f
	IFS=,
	# shellcheck disable=SC2086 # a comma list on purpose
	set -- $param_bench
	unset IFS
	set +f
	for phase in "$@"; do
		case $phase in
		virtio_net-upload | virtio_net-download)
			bench_net virtio_net /sys/bus/virtio/drivers/virtio_net "${phase#*-}" ;;
		e1000-upload | e1000-download)
			bench_net e1000 /sys/bus/pci/drivers/e1000 "${phase#*-}" ;;
		blk-read)
			bench_phase blk-read dd if="$bench_disk" of=/dev/null bs=4096 count="$bench_blocks" \
				iflag=direct 2>/dev/null ;;
		blk-write)
			bench_phase blk-write dd if=/dev/zero of="$bench_disk" bs=4096 count="$bench_blocks" \
				oflag=direct conv=fsync 2>/dev/null ;;
		*) echo "MINIVMM-BENCH skip $phase: no such phase" ;;
		esac
	done
	echo "MINIVMM-BENCH done"
}
