# shellcheck shell=bash disable=SC2154 # $work, $images, $netns: set by tests/boot-test
# virtio-net and e1000 in the Linux boot test (sourced by tests/boot-test).
# Inside the test's network namespace only: one tap per NIC, the host end
# addressed in a private subnet of its own (they never leave the namespace),
# busybox httpd serving a random file whose md5sum the guest gets on its
# command line, and one TCP receiver per NIC (busybox nc) storing what the
# guest uploads.  The guest checks 6x-virtio-net-* and 7x-e1000-* configure
# the NICs (found by MAC and driver), ping, download and upload; after minivmm
# exits this plugin compares the uploads with the file.

net_http_port=8080
net_file=$work/www/netcheck.bin
net_pids=()
# tap    model   MAC                host end     guest        upload port queues
# (not in 10.0.2.0/24: that is the --net user card's network, 65-net-user.sh)
# (virtio-net with 2 queue pairs on a multi-queue tap: 64-virtio-net-mq.sh)
net_nics=(
	"mvtap0 virtio 02:6d:76:4e:00:01 10.0.4.1/24 10.0.4.2/24 9001 2"
	"mvtap1 e1000  02:6d:76:4e:00:02 10.0.3.1/24 10.0.3.2/24 9002 1"
)

net_setup() {
	local nic tap model mac host guest port queues mq
	mkdir -p "${net_file%/*}" &&
		head -c 262144 /dev/urandom >"$net_file" || return 1
	net_md5=$(md5sum <"$net_file") && net_md5=${net_md5%% *} || return 1
	GUEST_OPTS+=("minivmm.net_http_port=$net_http_port" "minivmm.net_file=/${net_file##*/}"
		"minivmm.net_md5=$net_md5")
	for nic in "${net_nics[@]}"; do
		read -r tap model mac host guest port queues <<<"$nic"
		mq=()
		[ "$queues" -gt 1 ] && mq=(multi_queue)
		ip -n "$netns" tuntap add dev "$tap" mode tap "${mq[@]}" &&
			ip -n "$netns" addr add "$host" dev "$tap" &&
			ip -n "$netns" link set "$tap" up || return 1
		MINIVMM_ARGS+=(--net "$tap,model=$model,mac=$mac,queues=$queues")
		# The guest's parameters are named after its driver: virtio_net, e1000.
		[ "$model" = virtio ] && model=virtio_net
		[ "$queues" -gt 1 ] && GUEST_OPTS+=("minivmm.${model}_queues=$queues")
		GUEST_OPTS+=("minivmm.${model}_mac=$mac" "minivmm.${model}_ip=$guest"
			"minivmm.${model}_host=${host%/*}" "minivmm.${model}_upload_port=$port")
		# One connection, stored, then the receiver exits; cat reads until
		# the guest's nc closes its sending side.
		ip netns exec "$netns" busybox nc -l -p "$port" \
			-e sh -c "exec cat >'$work/upload-$tap.bin'" </dev/null >/dev/null 2>&1 &
		net_pids+=($!)
	done
	ip netns exec "$netns" busybox httpd -f -p "$net_http_port" -h "${net_file%/*}" \
		</dev/null >/dev/null 2>&1 &
	net_pids+=($!)
}

net_verify() {
	local nic tap model got
	for nic in "${net_nics[@]}"; do
		read -r tap model _ <<<"$nic"
		[ "$model" = virtio ] && model=virtio-net
		got=$(md5sum 2>/dev/null <"$work/upload-$tap.bin") && got=${got%% *}
		if [ "${got:-}" = "$net_md5" ]; then
			pass "$label-$model-host-upload ($tap received $(stat -c %s "$work/upload-$tap.bin") bytes, md5 matches)"
		else
			fail "$label-$model-host-upload ($tap: upload ${got:+has md5 $got, expected $net_md5}${got:-missing})"
		fi
	done
}

net_cleanup() {
	local pid
	for pid in "${net_pids[@]+"${net_pids[@]}"}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

setup_hooks+=(net_setup)
verify_hooks+=(net_verify)
cleanup_hooks+=(net_cleanup)
