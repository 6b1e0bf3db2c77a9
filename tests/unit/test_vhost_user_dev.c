/*
 * The vhost-user front-end devices (virtio/vhost_user_dev.c) against a fake
 * back-end: a thread listening on a UNIX socket that answers every request
 * by rule and records what it received (requests, payloads, descriptors).
 * The guest side is the test's virtio-mmio driver on a fake VM whose RAM is
 * a memfd, as minivmm makes it for a vhost-user device.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/vhost_user/vhost_user.h"
#include "fake_vm.h"
#include "helpers.h"
#include "mmio_driver.h"
#include "util.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/vhost_user_dev.h"
#include "virtq_driver.h"
#include "vm_config.h"

#define RAM	    (1u << 20)
#define MAX_MSGS    64
#define MAX_PAYLOAD 512
#define HDR_SIZE    12u

struct fake_msg {
	uint32_t request, flags, size;
	uint8_t payload[MAX_PAYLOAD];
	unsigned int nr_fds;
	ino_t fd_inode[8]; /* what the descriptors were, by inode */
};

/* The fake back-end: its answers, and what it saw. */
static struct {
	char dir[64], path[96];
	int listen_fd, conn_fd;
	pthread_t thread;
	uint64_t features, protocol_features;
	uint8_t config[VHOST_USER_MAX_CONFIG_SIZE];
	bool hang_up_after_open; /* close the connection after GET_CONFIG (blk's last) */
	pthread_mutex_t lock;
	struct fake_msg msgs[MAX_MSGS];
	unsigned int nr_msgs;
} fb;

static struct vm *vm;
static struct vhost_user_dev *dev;

static ino_t fb_inode(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* One request: header, payload and any descriptors; false at EOF. */
static bool fb_receive(int fd, struct fake_msg *m)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} control;
	uint32_t hdr[3];
	struct iovec iov = {hdr, sizeof(hdr)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf)};
	ssize_t n = recvmsg(fd, &mh, MSG_WAITALL);

	memset(m, 0, sizeof(*m));
	if (n != (ssize_t)sizeof(hdr))
		return false;
	m->request = hdr[0];
	m->flags = hdr[1];
	m->size = hdr[2];
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		unsigned int nfds = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int fds[8];

		memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
		for (unsigned int i = 0; i < nfds && m->nr_fds < 8; i++) {
			m->fd_inode[m->nr_fds++] = fb_inode(fds[i]);
			close(fds[i]);
		}
	}
	ck_assert_uint_le(m->size, MAX_PAYLOAD);
	return m->size == 0 || recv(fd, m->payload, m->size, MSG_WAITALL) == (ssize_t)m->size;
}

static void fb_reply(int fd, const struct fake_msg *req, const void *payload, uint32_t size)
{
	uint8_t buf[HDR_SIZE + MAX_PAYLOAD];
	uint32_t hdr[3] = {req->request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, size};

	memcpy(buf, hdr, HDR_SIZE);
	memcpy(buf + HDR_SIZE, payload, size);
	ck_assert_int_eq(send(fd, buf, HDR_SIZE + size, MSG_NOSIGNAL), (ssize_t)(HDR_SIZE + size));
}

/* Answers by rule: the GET_* requests with the fake's values, NEED_REPLY with 0. */
static void fb_answer(int fd, const struct fake_msg *m)
{
	uint64_t v;
	uint8_t cfg[HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE];
	uint32_t size;

	switch (m->request) {
	case VHOST_USER_GET_FEATURES:
		fb_reply(fd, m, &fb.features, 8);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		fb_reply(fd, m, &fb.protocol_features, 8);
		return;
	case VHOST_USER_GET_QUEUE_NUM:
		v = 1;
		fb_reply(fd, m, &v, 8);
		return;
	case VHOST_USER_GET_VRING_BASE:
		fb_reply(fd, m, m->payload, 8); /* index, and num 0 as the front-end sent */
		return;
	case VHOST_USER_GET_CONFIG:
		memcpy(&size, m->payload + 4, 4);
		memcpy(cfg, m->payload, HDR_SIZE);
		memcpy(cfg + HDR_SIZE, fb.config, size);
		fb_reply(fd, m, cfg, HDR_SIZE + size);
		return;
	}
	if (m->flags & VHOST_USER_FLAG_NEED_REPLY) {
		v = 0;
		fb_reply(fd, m, &v, 8);
	}
}

static void *fb_serve(void *arg)
{
	struct fake_msg m;

	(void)arg;
	fb.conn_fd = accept(fb.listen_fd, NULL, NULL);
	while (fb.conn_fd >= 0 && fb_receive(fb.conn_fd, &m)) {
		pthread_mutex_lock(&fb.lock);
		if (fb.nr_msgs < MAX_MSGS)
			fb.msgs[fb.nr_msgs++] = m;
		pthread_mutex_unlock(&fb.lock);
		fb_answer(fb.conn_fd, &m);
		if (fb.hang_up_after_open && m.request == VHOST_USER_GET_CONFIG)
			break;
	}
	if (fb.conn_fd >= 0)
		close(fb.conn_fd);
	return NULL;
}

static void fb_start(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(fb.path, sizeof(fb.path), "%s/be.sock", fb.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fb.path);
	fb.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fb.listen_fd, 0);
	ck_assert_int_eq(bind(fb.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fb.listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(&fb.thread, NULL, fb_serve, NULL), 0);
}

/* The messages with this request code, in order; the i-th of them. */
static const struct fake_msg *fb_find(uint32_t request, unsigned int i)
{
	for (unsigned int k = 0; k < fb.nr_msgs; k++)
		if (fb.msgs[k].request == request && i-- == 0)
			return &fb.msgs[k];
	return NULL;
}

static unsigned int fb_count(uint32_t request)
{
	unsigned int n = 0;

	for (unsigned int k = 0; k < fb.nr_msgs; k++)
		n += fb.msgs[k].request == request;
	return n;
}

static uint64_t u64_at(const struct fake_msg *m, size_t off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, 8);
	return v;
}

static void setup(void)
{
	memset(&fb, 0, sizeof(fb));
	pthread_mutex_init(&fb.lock, NULL);
	fb.listen_fd = fb.conn_fd = -1;
	snprintf(fb.dir, sizeof(fb.dir), "/tmp/minivmm-vud.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fb.dir));
	fb.features = BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
		      BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_RING_PACKED);
	fb.protocol_features = BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			       BIT(VHOST_USER_PROTOCOL_F_CONFIG) | BIT(VHOST_USER_PROTOCOL_F_MQ);
	vm = fake_vm_create(RAM);
	/* Guest RAM as minivmm makes it for vhost-user: a memfd. */
	free(vm->mem.regions[0].host);
	ck_assert_int_eq(guest_mem_alloc(&vm->mem, RAM, RAM, GUEST_MEM_MEMFD, false), 0);
	dev = NULL;
}

static void teardown(void)
{
	vhost_user_dev_destroy(dev);
	if (fb.thread)
		pthread_join(fb.thread, NULL);
	if (fb.listen_fd >= 0)
		close(fb.listen_fd);
	unlink(fb.path);
	rmdir(fb.dir);
	guest_mem_free(&vm->mem);
	fake_vm_destroy(vm);
}

static struct virtio_device *vdev_of(void)
{
	/* The device embeds its virtio_device first. */
	return (struct virtio_device *)dev;
}

static int create_blk(void)
{
	struct disk_config cfg = {.path = fb.path, .vhost_user = true};

	fb_start();
	return vhost_user_blk_create(vm, &cfg, 0, &dev);
}

static int create_net(const uint8_t *mac)
{
	struct net_config cfg = {.vhost_user = fb.path, .model = NET_MODEL_VIRTIO};

	if (mac) {
		memcpy(cfg.mac, mac, 6);
		cfg.mac_set = true;
	}
	fb_start();
	return vhost_user_net_create(vm, &cfg, 0, &dev);
}

static const uint32_t LIVE = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;

/* The guest driver: negotiate, set up queues 0..nq-1, DRIVER_OK. */
static void drive_up(uint64_t features, unsigned int nq, struct tdrv *d)
{
	struct virtio_device *v = vdev_of();

	ck_assert(tmmio_negotiate(v, features) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < nq; q++) {
		tdrv_init(&d[q], &vm->mem, 8, 0x10000 + 0x4000 * q);
		tmmio_setup_queue(v, q, d[q].size, d[q].desc, d[q].avail, d[q].used);
	}
	tmmio_write(v, VIRTIO_MMIO_STATUS, LIVE);
}

/* virtio-blk: features and config come from the back-end, filtered. */
START_TEST(blk_takes_config_and_features_from_the_backend)
{
	struct virtio_blk_config *c = (struct virtio_blk_config *)fb.config;
	struct virtio_device *v;

	fb.features |=
	    BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ) | BIT(VIRTIO_BLK_F_CONFIG_WCE);
	c->capacity = 12345;
	c->num_queues = 4;
	c->blk_size = 4096;
	ck_assert_int_eq(create_blk(), 0);
	v = vdev_of();
	ck_assert_uint_eq(v->device_id, VIRTIO_ID_BLOCK);
	ck_assert(v->data_plane_external);
	/* Passed on: FLUSH, EVENT_IDX.  Not: packed rings, MQ, CONFIG_WCE, the protocol bit. */
	ck_assert_uint_eq(v->device_features, BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_F_EVENT_IDX));
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_CONFIG), 12345);
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_CONFIG + 20), 4096);    /* blk_size */
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_CONFIG + 32) >> 16, 1); /* num_queues */
	/* The opening: SET_OWNER, then GET_CONFIG for 60 bytes from offset 0. */
	ck_assert_uint_eq(fb_count(VHOST_USER_SET_OWNER), 1);
	ck_assert_ptr_nonnull(fb_find(VHOST_USER_GET_CONFIG, 0));
	ck_assert_uint_eq(u64_at(fb_find(VHOST_USER_GET_CONFIG, 0), 0), 60ULL << 32);
}
END_TEST

/* DRIVER_OK hands over memory and rings; the kick fd is the ioeventfd, the call fd the irqfd. */
START_TEST(driver_ok_hands_the_rings_to_the_backend)
{
	struct virtio_device *v;
	struct tdrv d[1];
	const struct fake_msg *m;
	uint64_t acked;

	ck_assert_int_eq(create_blk(), 0);
	v = vdev_of();
	drive_up(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX), 1, d);
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_STATUS), LIVE);

	m = fb_find(VHOST_USER_SET_FEATURES, 0);
	ck_assert_ptr_nonnull(m);
	acked = u64_at(m, 0);
	ck_assert_uint_eq(acked, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) |
				     BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	/* The memory table: one region, guest address 0, the memfd itself. */
	m = fb_find(VHOST_USER_SET_MEM_TABLE, 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->nr_fds, 1);
	ck_assert_uint_eq(m->fd_inode[0], fb_inode(vm->mem.fd));
	ck_assert_uint_eq(u64_at(m, 8), 0);    /* guest_phys_addr */
	ck_assert_uint_eq(u64_at(m, 16), RAM); /* memory_size */
	ck_assert_uint_eq(u64_at(m, 24), (uintptr_t)vm->mem.regions[0].host);
	ck_assert_uint_eq(u64_at(m, 32), 0); /* mmap_offset */
	/* The ring: size, base 0, addresses in minivmm's address space. */
	ck_assert_uint_eq(u64_at(fb_find(VHOST_USER_SET_VRING_NUM, 0), 0), 8ULL << 32);
	ck_assert_uint_eq(u64_at(fb_find(VHOST_USER_SET_VRING_BASE, 0), 0), 0);
	m = fb_find(VHOST_USER_SET_VRING_ADDR, 0);
	ck_assert_uint_eq(u64_at(m, 8), (uintptr_t)guest_mem_ptr(&vm->mem, d[0].desc, 1));
	ck_assert_uint_eq(u64_at(m, 16), (uintptr_t)guest_mem_ptr(&vm->mem, d[0].used, 1));
	ck_assert_uint_eq(u64_at(m, 24), (uintptr_t)guest_mem_ptr(&vm->mem, d[0].avail, 1));
	m = fb_find(VHOST_USER_SET_VRING_KICK, 0);
	ck_assert_uint_eq(m->nr_fds, 1);
	ck_assert_uint_eq(m->fd_inode[0], fb_inode(v->queues[0].kick_fd));
	m = fb_find(VHOST_USER_SET_VRING_CALL, 0);
	ck_assert_uint_eq(m->nr_fds, 1);
	ck_assert_uint_eq(m->fd_inode[0], fb_inode(v->call_fd));
	ck_assert_uint_eq(fb_find(VHOST_USER_SET_VRING_ERR, 0)->nr_fds, 1);
	ck_assert_uint_eq(u64_at(fb_find(VHOST_USER_SET_VRING_ENABLE, 0), 0), 1ULL << 32);
	/* Every request after the opening asked for an acknowledgement (REPLY_ACK). */
	ck_assert(fb_find(VHOST_USER_SET_VRING_KICK, 0)->flags & VHOST_USER_FLAG_NEED_REPLY);
	/* minivmm itself reads VRING in InterruptStatus: the back-end owns the irqfd. */
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING,
			  VIRTIO_MMIO_INT_VRING);

	/* The driver resets the device: the back-end stops the ring. */
	ck_assert_uint_eq(fb_count(VHOST_USER_GET_VRING_BASE), 0);
	tmmio_write(v, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(fb_count(VHOST_USER_GET_VRING_BASE), 1);
	/* And a second start sends it all again. */
	drive_up(BIT(VIRTIO_F_VERSION_1), 1, d);
	ck_assert_uint_eq(fb_count(VHOST_USER_SET_VRING_KICK), 2);
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_STATUS), LIVE);
}
END_TEST

/* virtio-net: MAC and link are minivmm's; features the back-end lacks are not sent to it. */
START_TEST(net_config_is_minivmms_and_features_are_filtered_both_ways)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
	struct virtio_device *v;
	struct tdrv d[2];
	uint8_t got[6];

	fb.features |= BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CTRL_VQ);
	ck_assert_int_eq(create_net(mac), 0);
	v = vdev_of();
	ck_assert_uint_eq(v->device_id, VIRTIO_ID_NET);
	ck_assert_uint_eq(v->nr_queues, 2);
	ck_assert_uint_eq(v->device_features, BIT(VIRTIO_NET_F_MRG_RXBUF) |
						  BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MAC) |
						  BIT(VIRTIO_NET_F_STATUS));
	for (unsigned int i = 0; i < 6; i++)
		virtio_mmio_access(v, VIRTIO_MMIO_CONFIG + i, &got[i], 1, false);
	ck_assert_mem_eq(got, mac, 6);
	drive_up(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
		     BIT(VIRTIO_NET_F_MRG_RXBUF),
		 2, d);
	ck_assert_uint_eq(tmmio_read(v, VIRTIO_MMIO_STATUS), LIVE);
	/* MAC and STATUS are not the back-end's to know. */
	ck_assert_uint_eq(u64_at(fb_find(VHOST_USER_SET_FEATURES, 0), 0),
			  BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
			      BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	ck_assert_uint_eq(fb_count(VHOST_USER_SET_VRING_KICK), 2);
	ck_assert_uint_eq(fb_count(VHOST_USER_GET_CONFIG), 0);
}
END_TEST

static bool needs_reset(void)
{
	return tmmio_read(vdev_of(), VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* A back-end that hangs up: NEEDS_RESET for the device, a clean reset afterwards. */
START_TEST(backend_hangup_sets_needs_reset)
{
	struct tdrv d[1];
	uint64_t waited_ms = 0;

	fb.hang_up_after_open = true;
	ck_assert_int_eq(create_blk(), 0);
	/* The watcher thread sees the hang-up; wait for it, bounded. */
	while (!needs_reset() && waited_ms < 5000) {
		poll(NULL, 0, 1);
		waited_ms++;
	}
	ck_assert(needs_reset());
	ck_assert_uint_eq(counter_get(&vdev_of()->stat_needs_reset), 1);
	/* DRIVER_OK on a dead back-end fails at once: no wait for a reply. */
	tmmio_write(vdev_of(), VIRTIO_MMIO_STATUS, 0);
	drive_up(BIT(VIRTIO_F_VERSION_1), 1, d);
	ck_assert(needs_reset());
	tmmio_write(vdev_of(), VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(tmmio_read(vdev_of(), VIRTIO_MMIO_STATUS), 0);
}
END_TEST

START_TEST(backend_without_version_1_is_refused)
{
	fb.features &= ~BIT(VIRTIO_F_VERSION_1);
	ck_assert_int_eq(create_blk(), -EPROTO);
	ck_assert_ptr_null(dev);
}
END_TEST

START_TEST(blk_backend_without_config_is_refused)
{
	fb.protocol_features &= ~BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	ck_assert_int_eq(create_blk(), -EPROTO);
	ck_assert_ptr_null(dev);
}
END_TEST

START_TEST(private_guest_ram_is_refused)
{
	guest_mem_free(&vm->mem);
	ck_assert_int_eq(guest_mem_alloc(&vm->mem, RAM, RAM, GUEST_MEM_ANON, false), 0);
	ck_assert_int_eq(create_blk(), -EINVAL);
	ck_assert_ptr_null(dev);
}
END_TEST

START_TEST(missing_socket_is_an_error)
{
	struct disk_config cfg = {.path = "/nonexistent/minivmm.sock", .vhost_user = true};

	ck_assert_int_lt(vhost_user_blk_create(vm, &cfg, 0, &dev), 0);
	ck_assert_ptr_null(dev);
}
END_TEST

Suite *vhost_user_dev_suite(void)
{
	return unit_suite("vhost_user_dev", setup, teardown,
			  UNIT_TESTS(blk_takes_config_and_features_from_the_backend,
				     driver_ok_hands_the_rings_to_the_backend,
				     net_config_is_minivmms_and_features_are_filtered_both_ways,
				     backend_hangup_sets_needs_reset,
				     backend_without_version_1_is_refused,
				     blk_backend_without_config_is_refused,
				     private_guest_ram_is_refused, missing_socket_is_an_error));
}
