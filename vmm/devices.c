#include "devices.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "cpu_affinity.h"
#include "devices/e1000/e1000.h"
#include "devices/net/mac.h"
#include "devices/net/netlink.h"
#include "devices/net/slirp_process.h"
#include "devices/pci.h"
#include "log.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vhost_user_dev.h"
#include "vm.h"

/* What devices_create() made, for devices_destroy(): one VM per process. */
static struct {
	struct virtio_blk *blk[CONFIG_MAX_DISKS];
	struct virtio_net *net[CONFIG_MAX_NETS];
	struct e1000 *e1000[CONFIG_MAX_NETS];
	struct vhost_user_dev *vhost_user_blk[CONFIG_MAX_DISKS];
	struct vhost_user_dev *vhost_user_net[CONFIG_MAX_NETS];
} created;

/* virtio-net on user-mode networking's socket pair: its header, no offloads, one pair. */
static int devices_user_vnet_hdr_size(struct tap *tap, int size)
{
	(void)tap;
	return size == 12 ? 0 : -EINVAL;
}

static int devices_user_set_offload(struct tap *tap, unsigned int tun_f_flags)
{
	(void)tap;
	return tun_f_flags ? -EINVAL : 0;
}

static const struct virtio_net_tap_ops devices_user_tap_ops = {
    .set_vnet_hdr_size = devices_user_vnet_hdr_size,
    .set_offload = devices_user_set_offload,
    .no_offloads = true,
};

/*
 * NIC i on user-mode networking: the helper process, then the device on its
 * socket pair.  The helper ends when the device closes its end.
 */
static int devices_create_user_nic(struct vm *vm, const struct net_config *net, unsigned int i)
{
	bool virtio = net->model == NET_MODEL_VIRTIO;
	char name[24], err[512];
	struct tap tap;
	int ret;

	snprintf(name, sizeof(name), "net%u-user", i);
	ret = net_user_spawn(net, name, virtio, &tap, err, sizeof(err));
	if (ret) {
		log_error("--net user: %s", err);
		return ret;
	}
	if (virtio)
		return virtio_net_create_on_tap(vm, net, i, &tap, &devices_user_tap_ops,
						&created.net[i]);
	return e1000_create_with_tap(vm, net, i, &tap, &created.e1000[i]);
}

/*
 * ip=ADDR/LEN is for a tap minivmm creates, which vanishes with it: an
 * existing interface belongs to whoever set it up, and is left alone.
 */
static int devices_check_tap_ip(const struct net_config *net)
{
	if (!if_nametoindex(net->tap)) {
		if (!net->ip_set)
			log_info("tap %s: minivmm creates it down and without address "
				 "(--net %s,ip=ADDR/LEN brings it up with one)",
				 net->tap, net->tap);
		return 0;
	}
	if (!net->ip_set)
		return 0;
	log_error("--net %s,ip=...: interface %s exists; ip= configures only a tap minivmm "
		  "creates (leave out ip=, or delete the interface)",
		  net->tap, net->tap);
	return -EEXIST;
}

static int devices_tap_ip(const struct net_config *net)
{
	char err[256];
	int ret;

	if (!net->ip_set)
		return 0;
	ret = net_link_up_ipv4(net->tap, net->ip_addr, net->ip_prefix_len, err, sizeof(err));
	if (ret) {
		log_error("--net %s,ip=...: %s", net->tap, err);
		return ret;
	}
	log_info("tap %s: up, address %u.%u.%u.%u/%u", net->tap, net->ip_addr >> 24,
		 net->ip_addr >> 16 & 0xff, net->ip_addr >> 8 & 0xff, net->ip_addr & 0xff,
		 net->ip_prefix_len);
	return 0;
}

/* The line every NIC gets at start: its name, model, backend and MAC. */
static void devices_log_nic(const struct net_config *net, unsigned int i)
{
	const uint8_t *m = net->mac;
	char on[CONFIG_SOCKET_PATH_MAX + 32];

	if (net->vhost_user)
		snprintf(on, sizeof(on), "vhost-user back-end %s", net->vhost_user);
	else if (net->user)
		snprintf(on, sizeof(on), "user-mode networking");
	else
		snprintf(on, sizeof(on), "tap %s", net->tap);
	log_info("net%u: %s on %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", i,
		 net->model == NET_MODEL_E1000 ? "e1000" : "virtio-net", on, m[0], m[1], m[2], m[3],
		 m[4], m[5]);
}

/*
 * Each device model adds its creation here; the order fixes which
 * virtio-mmio window and IRQ each device gets (disks first, then NICs, in
 * command-line order).
 */
int devices_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	/* The PCI bus exists only when a PCI device (e1000) needs it. */
	bool pci_ready = false;
	uint8_t mac_seed[NET_MAC_SEED_LEN];

	/* The devices' I/O threads are created below: their placement first. */
	cpu_affinity_place_io_threads(vm);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (cfg->disks[i].vhost_user) {
			if (vhost_user_blk_create(vm, &cfg->disks[i], i,
						  &created.vhost_user_blk[i]))
				return -1;
			continue;
		}
		if (virtio_blk_create(vm, &cfg->disks[i], i, &created.blk[i]))
			return -1;
	}
	net_mac_seed(mac_seed);
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		/* A copy with the default MAC filled in: random per VM, so two
		 * VMs on one bridge do not collide. */
		struct net_config nic = cfg->nets[i];
		const struct net_config *net = &nic;

		if (!nic.mac_set) {
			net_mac_default(nic.mac, mac_seed, i);
			nic.mac_set = true;
		}
		devices_log_nic(net, i);
		if (net->user) {
			if (net->model == NET_MODEL_E1000 && !pci_ready) {
				if (pci_init(vm) < 0)
					return -1;
				pci_ready = true;
			}
			if (devices_create_user_nic(vm, net, i))
				return -1;
			continue;
		}
		if (net->vhost_user) {
			if (vhost_user_net_create(vm, net, i, &created.vhost_user_net[i]))
				return -1;
			continue;
		}
		if (devices_check_tap_ip(net))
			return -1;
		if (net->model == NET_MODEL_VIRTIO) {
			if (virtio_net_create(vm, net, i, &created.net[i]) || devices_tap_ip(net))
				return -1;
			continue;
		}
		if (!pci_ready && pci_init(vm) < 0)
			return -1;
		pci_ready = true;
		if (e1000_create(vm, net, i, &created.e1000[i]) < 0 || devices_tap_ip(net))
			return -1;
	}
	return 0;
}

void devices_destroy(void)
{
	for (unsigned int i = CONFIG_MAX_NETS; i-- > 0;) {
		if (created.e1000[i])
			e1000_destroy(created.e1000[i]);
		if (created.net[i])
			virtio_net_destroy(created.net[i]);
		vhost_user_dev_destroy(created.vhost_user_net[i]);
		created.e1000[i] = NULL;
		created.net[i] = NULL;
		created.vhost_user_net[i] = NULL;
	}
	for (unsigned int i = CONFIG_MAX_DISKS; i-- > 0;) {
		if (created.blk[i])
			virtio_blk_destroy(created.blk[i]);
		vhost_user_dev_destroy(created.vhost_user_blk[i]);
		created.blk[i] = NULL;
		created.vhost_user_blk[i] = NULL;
	}
}
