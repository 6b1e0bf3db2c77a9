# shellcheck shell=bash disable=SC2154 # $net_http_port, $net_file: set by 60-net.sh
# User-mode networking in the Linux boot test (sourced by tests/boot-test,
# after 60-net.sh, whose HTTP server it downloads from): a virtio-net card on
# --net user with a forward from the namespace's 127.0.0.1:9003 to the
# guest's port 8022.  The guest check 65-user-net.sh takes a DHCP lease,
# downloads from 10.0.2.2 (this namespace's loopback) and sends the file to
# itself through the forward; it compares the md5sums itself.
net_user_mac=02:6d:76:4e:00:03
net_user_fwd_port=9003
net_user_guest_port=8022
MINIVMM_ARGS+=(--net "user,mac=$net_user_mac,hostfwd=tcp::$net_user_fwd_port-:$net_user_guest_port")
GUEST_OPTS+=("minivmm.user_net_mac=$net_user_mac" "minivmm.user_net_fwd_port=$net_user_fwd_port"
	"minivmm.user_net_guest_port=$net_user_guest_port")
