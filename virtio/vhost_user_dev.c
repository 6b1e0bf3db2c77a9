#include "virtio/vhost_user_dev.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <json-c/json.h>

#include "devices/vhost_user/vhost_user.h"
#include "iothread.h"
#include "log.h"
#include "util.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "vm.h"
#include "vm_config.h"

/* The one size of config space both kinds expose. */
#define VUD_CONFIG_MAX 72
/*
 * What minivmm asks of virtio-blk's config space: the fields up to
 * write_zeroes_may_unmap and its padding, which every vhost-user-blk
 * back-end has (QEMU 7.2's is exactly this long; asking for more fails).
 */
#define VUD_BLK_CONFIG_ASKED 60

/*
 * Feature bits passed from the back-end to the driver.  The transport's own
 * (VERSION_1, added by mmio.c), the ring layout minivmm's transport checks
 * (split rings: no RING_PACKED) and bits that need a third queue (CTRL_VQ,
 * MQ) or a config write path (CONFIG_WCE) are left out.
 */
#define VUD_RING_FEATURES (BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX))
#define VUD_BLK_FEATURES                                                                           \
	(VUD_RING_FEATURES | BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |              \
	 BIT(VIRTIO_BLK_F_GEOMETRY) | BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_BLK_SIZE) |          \
	 BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_TOPOLOGY) | BIT(VIRTIO_BLK_F_DISCARD) |        \
	 BIT(VIRTIO_BLK_F_WRITE_ZEROES))
#define VUD_NET_FEATURES                                                                           \
	(VUD_RING_FEATURES | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |               \
	 BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |                             \
	 BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_TSO4) | \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO) |   \
	 BIT(VIRTIO_NET_F_MRG_RXBUF))
/* virtio-net config space is minivmm's (MAC, link up): these are offered whatever the back-end
 * says. */
#define VUD_NET_OWN_FEATURES (BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS))

/* Protocol features minivmm uses when the back-end has them. */
#define VUD_PROTOCOL_FEATURES                                                                      \
	(BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                    \
	 BIT(VHOST_USER_PROTOCOL_F_CONFIG))

#define VUD_COUNTERS(X)                                                                            \
	X(activations)	   /* the driver's DRIVER_OK handed to the back-end */                     \
	X(ring_stops)	   /* GET_VRING_BASE on reset */                                           \
	X(backend_hangups) /* the back-end closed the socket */                                    \
	X(backend_errors)  /* a ring's error eventfd signalled */                                  \
	X(activation_failures)
#define VUD_COUNTER_DESC(name) COUNTER_DESC(struct vud_counters, name)

struct vud_counters {
	VUD_COUNTERS(COUNTER_FIELD)
};

static const struct counter_desc vud_counter_descs[] = {VUD_COUNTERS(VUD_COUNTER_DESC)};

struct vhost_user_dev {
	struct virtio_device vdev;
	char name[32];
	const char *model; /* "virtio-blk", "virtio-net" */
	char socket[CONFIG_SOCKET_PATH_MAX + 1];
	struct vm *vm;
	struct vhost_user vu; /* under vdev.lock */
	_Alignas(8) uint8_t config[VUD_CONFIG_MAX];
	/* Sent to the back-end per ring; the back-end signals a ring it cannot serve. */
	int err_fd[VIRTIO_MMIO_MAX_QUEUES];
	bool ring_started[VIRTIO_MMIO_MAX_QUEUES];
	uint64_t acked_features; /* what SET_FEATURES last said */
	/* Waits for the back-end to hang up and for the error eventfds. */
	struct iothread *watch;
	int hangup_watch;
	atomic_bool backend_gone;
	struct vud_counters counters;
};

/* Put the device in NEEDS_RESET, which logs why (once per failure). */
static void vud_backend_failed(struct vhost_user_dev *d, const char *why)
{
	char reason[sizeof(d->socket) + 64];

	snprintf(reason, sizeof(reason), "vhost-user back-end %s %s", d->socket, why);
	virtio_mmio_set_needs_reset(&d->vdev, reason);
}

static void vud_on_hangup(void *opaque)
{
	struct vhost_user_dev *d = opaque;

	/* One-shot and not armed again: the connection is over. */
	atomic_store(&d->backend_gone, true);
	counter_add(&d->counters.backend_hangups, 1);
	vud_backend_failed(d, "closed the connection");
}

static void vud_on_ring_error(void *opaque)
{
	struct vhost_user_dev *d = opaque;

	counter_add(&d->counters.backend_errors, 1);
	vud_backend_failed(d, "signalled a ring error");
}

/* Guest RAM as the back-end maps it: every region in the memfd. */
static int vud_send_mem_table(struct vhost_user_dev *d)
{
	const struct guest_mem *gm = &d->vm->mem;
	struct vhost_user_mem_region regions[GUEST_MEM_MAX_REGIONS];

	for (unsigned int i = 0; i < gm->nr_regions; i++)
		regions[i] = (struct vhost_user_mem_region){
		    .guest_phys_addr = gm->regions[i].gpa,
		    .memory_size = gm->regions[i].size,
		    .userspace_addr = (uintptr_t)gm->regions[i].host,
		    .mmap_offset = gm->regions[i].fd_offset,
		    .fd = gm->fd,
		};
	return vhost_user_set_mem_table(&d->vu, regions, gm->nr_regions);
}

/* One ready queue handed over: size, start index 0, addresses, kick, call, error fd, enable. */
static int vud_start_ring(struct vhost_user_dev *d, unsigned int q)
{
	const struct virtq *vq = &d->vdev.queues[q].vq;
	struct vhost_user *vu = &d->vu;
	int ret;

	ret = vhost_user_set_vring_num(vu, q, vq->size);
	if (!ret)
		ret = vhost_user_set_vring_base(vu, q, 0);
	if (!ret)
		ret = vhost_user_set_vring_addr(vu, q, (uintptr_t)vq->desc, (uintptr_t)vq->avail,
						(uintptr_t)vq->used);
	if (!ret)
		ret = vhost_user_set_vring_kick(vu, q, d->vdev.queues[q].kick_fd);
	if (!ret)
		ret = vhost_user_set_vring_call(vu, q, d->vdev.call_fd);
	if (!ret)
		ret = vhost_user_set_vring_err(vu, q, d->err_fd[q]);
	/* With protocol features a ring starts disabled (the spec's "ring enable"). */
	if (!ret && (d->acked_features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		ret = vhost_user_set_vring_enable(vu, q, true);
	if (!ret)
		d->ring_started[q] = true;
	return ret;
}

/* Stop every ring the back-end serves (GET_VRING_BASE), under vdev.lock. */
static void vud_stop_rings(struct vhost_user_dev *d)
{
	for (unsigned int q = 0; q < d->vdev.nr_queues; q++) {
		unsigned int base;

		if (!d->ring_started[q])
			continue;
		d->ring_started[q] = false;
		counter_add(&d->counters.ring_stops, 1);
		/* The guest decides how often this runs: its budget of log lines. */
		if (vhost_user_get_vring_base(&d->vu, q, &base) && !d->vu.broken)
			log_guest_error(&d->vdev.guest_errors, "%s: stopping ring %u: %s", d->name,
					q, d->vu.error);
	}
}

/*
 * DRIVER_OK (vCPU thread, vdev.lock held): tell the back-end the features,
 * the memory and each ready ring.  Each message waits at most the
 * connection's timeout; a failure puts the device in NEEDS_RESET.
 */
static int vud_activate(struct virtio_device *vdev)
{
	struct vhost_user_dev *d = container_of(vdev, struct vhost_user_dev, vdev);
	uint64_t features = vdev->driver_features & d->vu.backend_features;
	int ret;

	if (atomic_load(&d->backend_gone) || d->vu.broken) {
		counter_add(&d->counters.activation_failures, 1);
		log_guest_error(&vdev->guest_errors, "%s: vhost-user back-end %s is gone", d->name,
				d->socket);
		return -EPIPE;
	}
	if (d->vu.backend_features & BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		features |= BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	ret = vhost_user_set_features(&d->vu, features);
	d->acked_features = features;
	if (!ret)
		ret = vud_send_mem_table(d);
	for (unsigned int q = 0; q < vdev->nr_queues && !ret; q++)
		if (vdev->queues[q].vq.ready)
			ret = vud_start_ring(d, q);
	if (ret) {
		counter_add(&d->counters.activation_failures, 1);
		log_guest_error(&vdev->guest_errors, "%s: vhost-user back-end %s: %s", d->name,
				d->socket, d->vu.error);
		vud_stop_rings(d);
		return ret;
	}
	counter_add(&d->counters.activations, 1);
	return 0;
}

/* The driver reset the device: the back-end stops the rings and lets go of them. */
static void vud_reset(struct virtio_device *vdev)
{
	vud_stop_rings(container_of(vdev, struct vhost_user_dev, vdev));
}

static const struct virtio_device_ops vud_ops = {
    .activate = vud_activate,
    .reset = vud_reset,
};

static void vud_report_stats(void *opaque, struct json_object *obj)
{
	struct vhost_user_dev *d = opaque;
	struct json_object *vu = json_object_new_object();
	struct json_object *counters = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string(d->model));
	json_object_object_add(vu, "socket", json_object_new_string(d->socket));
	json_object_object_add(
	    vu, "connected",
	    json_object_new_boolean(!atomic_load(&d->backend_gone) && !d->vu.broken));
	json_object_object_add(vu, "backend_features",
			       json_object_new_uint64(d->vu.backend_features));
	json_object_object_add(vu, "protocol_features",
			       json_object_new_uint64(d->vu.protocol_features));
	json_object_object_add(vu, "acked_features", json_object_new_uint64(d->acked_features));
	json_object_object_add(vu, "messages_sent", json_object_new_uint64(d->vu.messages_sent));
	json_object_object_add(vu, "replies_refused",
			       json_object_new_uint64(d->vu.replies_refused));
	counters_to_json(counters, &d->counters, vud_counter_descs, ARRAY_SIZE(vud_counter_descs));
	json_object_object_add(vu, "counters", counters);
	json_object_object_add(obj, "vhost_user", vu);
	iothread_report_stats(d->watch, obj);
}

/* The watcher thread: hang-up of the socket and every ring's error eventfd. */
static int vud_start_watch(struct vhost_user_dev *d)
{
	int ret = 0;

	d->watch = iothread_create(d->name, 16);
	if (!d->watch)
		return -errno;
	d->hangup_watch = iothread_watch_hangup(d->watch, d->vu.sock, vud_on_hangup, d);
	if (d->hangup_watch < 0)
		return d->hangup_watch;
	for (unsigned int q = 0; q < d->vdev.nr_queues && !ret; q++)
		ret = iothread_watch_eventfd(d->watch, d->err_fd[q], vud_on_ring_error, d);
	if (!ret)
		ret = iothread_seal(d->watch);
	/* The thread arms the hang-up watch as it starts; a hang-up before that is seen at once. */
	if (!ret)
		ret = iothread_start(d->watch);
	return ret;
}

static void vud_free(struct vhost_user_dev *d)
{
	iothread_destroy(d->watch);
	vhost_user_close(&d->vu);
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		if (d->err_fd[q] >= 0)
			close(d->err_fd[q]);
	free(d);
}

static struct vhost_user_dev *vud_alloc(const char *model, unsigned int index, const char *socket)
{
	struct vhost_user_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->model = model;
	snprintf(d->name, sizeof(d->name), "%s.%u", model, index);
	snprintf(d->socket, sizeof(d->socket), "%s", socket);
	d->hangup_watch = -1;
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		d->err_fd[q] = -1;
	atomic_init(&d->backend_gone, false);
	return d;
}

/*
 * What both kinds share after the back-end is connected: the identity the
 * driver sees (features already filtered; config in d->config), error eventfds, the transport
 * (which must give an irqfd: the back-end's call fd), the watcher, the stats.  0 or -errno after
 * logging.
 */
static int vud_register(struct vhost_user_dev *d, struct vm *vm, uint32_t device_id,
			uint64_t features, unsigned int nr_queues, uint32_t config_size)
{
	int ret;

	d->vdev.device_id = device_id;
	d->vdev.device_features = features;
	d->vdev.nr_queues = nr_queues;
	d->vdev.queue_num_max = VIRTQ_MAX_SIZE;
	d->vdev.config = d->config;
	d->vdev.config_size = config_size;

	d->vm = vm;
	if (vm->mem.backing == GUEST_MEM_ANON || vm->mem.fd < 0) {
		log_error("%s: guest RAM is not shareable (--memory-backend memfd or hugetlb)",
			  d->name);
		return -EINVAL;
	}
	for (unsigned int q = 0; q < d->vdev.nr_queues; q++) {
		d->err_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->err_fd[q] < 0) {
			log_errno("%s: eventfd", d->name);
			return -errno;
		}
	}
	d->vdev.name = d->name;
	d->vdev.ops = &vud_ops;
	d->vdev.data_plane_external = true;
	ret = virtio_mmio_init(&d->vdev, vm);
	if (ret)
		return ret;
	if (d->vdev.call_fd < 0) {
		/* The back-end would have no way to interrupt the guest but
		 * through minivmm, which is what vhost-user is meant to avoid. */
		log_error("%s: vhost-user needs KVM irqfd, which this host lacks", d->name);
		virtio_mmio_destroy(&d->vdev);
		return -ENOSYS;
	}
	ret = vud_start_watch(d);
	if (ret) {
		log_error("%s: cannot start the watch on the back-end: %s", d->name,
			  strerror(-ret));
		virtio_mmio_destroy(&d->vdev);
		return ret;
	}
	vm_register_stats(vm, d->name, vud_report_stats, d);
	return 0;
}

/* Connect and negotiate; a back-end without virtio 1.0 cannot serve minivmm's driver. */
static int vud_connect(struct vhost_user_dev *d)
{
	int ret = vhost_user_connect(&d->vu, d->socket, d->name, 0, VUD_PROTOCOL_FEATURES);

	if (ret) {
		log_error("%s: vhost-user back-end %s: %s", d->name, d->socket, d->vu.error);
		return ret;
	}
	if (!(d->vu.backend_features & BIT(VIRTIO_F_VERSION_1))) {
		log_error("%s: vhost-user back-end %s does not offer VIRTIO_F_VERSION_1 "
			  "(features 0x%" PRIx64 "); minivmm drives virtio 1.x only",
			  d->name, d->socket, d->vu.backend_features);
		return -EPROTO;
	}
	return 0;
}

/* A device named MODEL.index, connected to the back-end at socket: 0 or -errno after logging. */
static int vud_open(const char *model, unsigned int index, const char *socket,
		    struct vhost_user_dev **out)
{
	struct vhost_user_dev *d = vud_alloc(model, index, socket);
	int ret;

	*out = NULL;
	if (!d) {
		log_error("%s.%u: vhost-user back-end %s: out of memory", model, index, socket);
		return -ENOMEM;
	}
	ret = vud_connect(d);
	if (ret) {
		vud_free(d);
		return ret;
	}
	*out = d;
	return 0;
}

int vhost_user_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned int index,
			  struct vhost_user_dev **out)
{
	struct vhost_user_dev *d;
	struct virtio_blk_config *c;
	int ret = vud_open("virtio-blk", index, cfg->path, &d);

	_Static_assert(sizeof(*c) <= VUD_CONFIG_MAX, "virtio_blk_config fits");
	if (ret)
		return ret;
	c = (struct virtio_blk_config *)d->config;
	if (!vhost_user_has_protocol_feature(&d->vu, VHOST_USER_PROTOCOL_F_CONFIG)) {
		log_error("%s: vhost-user back-end %s does not offer its config space "
			  "(protocol feature CONFIG), which a virtio-blk disk needs",
			  d->name, d->socket);
		ret = -EPROTO;
		goto fail;
	}
	ret = vhost_user_get_config(&d->vu, 0, c, VUD_BLK_CONFIG_ASKED);
	if (ret) {
		log_error("%s: vhost-user back-end %s: %s", d->name, d->socket, d->vu.error);
		goto fail;
	}
	/* One queue: MQ is not passed on. */
	c->num_queues = 1;
	ret = vud_register(d, vm, VIRTIO_ID_BLOCK, d->vu.backend_features & VUD_BLK_FEATURES, 1,
			   sizeof(*c));
	if (ret)
		goto fail;
	log_info("%s: vhost-user back-end %s, %" PRIu64 " sectors, features 0x%" PRIx64, d->name,
		 d->socket, c->capacity, d->vdev.device_features);
	*out = d;
	return 0;
fail:
	vud_free(d);
	return ret;
}

int vhost_user_net_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
			  struct vhost_user_dev **out)
{
	struct vhost_user_dev *d;
	struct virtio_net_config *c;
	int ret = vud_open("virtio-net", index, cfg->vhost_user, &d);

	if (ret)
		return ret;
	c = (struct virtio_net_config *)d->config;
	c->status = VIRTIO_NET_S_LINK_UP;
	c->max_virtqueue_pairs = 1;
	ret = vud_register(d, vm, VIRTIO_ID_NET,
			   (d->vu.backend_features & VUD_NET_FEATURES) | VUD_NET_OWN_FEATURES, 2,
			   sizeof(*c));
	if (ret)
		goto fail;
	/* The slot is known now; the default MAC is virtio-net's, from it. */
	if (cfg->mac_set) {
		memcpy(c->mac, cfg->mac, sizeof(c->mac));
	} else {
		const uint8_t mac[6] = {0x02, 0x6d, 0x76, 0x00, 0x00, (uint8_t)d->vdev.slot};

		memcpy(c->mac, mac, sizeof(mac));
	}
	log_info(
	    "%s: vhost-user back-end %s, mac %02x:%02x:%02x:%02x:%02x:%02x, features 0x%" PRIx64,
	    d->name, d->socket, c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5],
	    d->vdev.device_features);
	*out = d;
	return 0;
fail:
	vud_free(d);
	return ret;
}

void vhost_user_dev_destroy(struct vhost_user_dev *d)
{
	if (!d)
		return;
	/* The watcher first: it must not report the hang-up minivmm causes. */
	iothread_destroy(d->watch);
	d->watch = NULL;
	virtio_mmio_destroy(&d->vdev); /* resets: GET_VRING_BASE for each started ring */
	vud_free(d);
}
