/*
 * virtio-net device model: a SOCK_DGRAM socketpair stands in for the tap
 * (one datagram per frame, vnet header included, as the tap delivers them),
 * the tap ioctls are recorded by fake ops, and the device runs its real
 * io_uring I/O thread.  The tests wait for the device on its irqfd.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vm_config.h"
#include "fake_vm.h"
#include "helpers.h"
#include "mmio_driver.h"
#include "devices/net/tap.h"
#include "virtio/mmio.h"
#include "virtio/net.h"

#define BIT(n)	 (1ULL << (n))
#define RAM_SIZE (1 << 20)
#define QSIZE	 16
#define HDR	 12
#define WAIT_MS	 5000

/* Ring addresses in fake guest RAM; buffers from 0x10000. */
static const uint64_t ring_base[2] = {0x1000, 0x4000};
#define BUF_BASE 0x10000ULL

static struct vm *vm;
static struct virtio_net *net;
static struct virtio_device *dev;
static int peer = -1;  /* the "host side" of the tap */
static int tapfd = -1; /* the device's side */

static struct {
	int hdr_size;
	unsigned int offload;
	unsigned int offload_calls;
	int offload_result;
} tapio;

static int fake_set_vnet_hdr_size(struct tap *tap, int size)
{
	(void)tap;
	tapio.hdr_size = size;
	return 0;
}

static int fake_set_offload(struct tap *tap, unsigned int flags)
{
	(void)tap;
	tapio.offload = flags;
	tapio.offload_calls++;
	return tapio.offload_result;
}

static const struct virtio_net_tap_ops fake_ops = {
    .set_vnet_hdr_size = fake_set_vnet_hdr_size,
    .set_offload = fake_set_offload,
};

/* Driver-side state of one queue. */
struct drvq {
	uint64_t desc, avail, used;
	uint16_t next_desc, avail_idx, used_seen;
};
static struct drvq q[2 * VIRTIO_NET_MAX_PAIRS + 1];
static uint64_t next_buf;

static void *gpa(uint64_t addr, uint64_t len)
{
	void *p = guest_mem_ptr(&vm->mem, addr, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static uint64_t alloc_buf(uint64_t len)
{
	uint64_t a = next_buf;

	next_buf += (len + 15) & ~15ULL;
	ck_assert_uint_le(next_buf, RAM_SIZE);
	return a;
}

static void reg_write(uint32_t off, uint32_t v)
{
	tmmio_write(dev, off, v);
}

static uint32_t reg_read(uint32_t off)
{
	return tmmio_read(dev, off);
}

/* Hand the device a blocking "tap" (it must make it non-blocking itself). */
static bool blocking_tap;

static void create(const struct net_config *cfg)
{
	int sv[2];
	struct tap tap;

	vm = fake_vm_create(RAM_SIZE);
	memset(&tapio, 0, sizeof(tapio));
	tapio.hdr_size = -1;
	ck_assert_int_eq(socketpair(AF_UNIX,
				    SOCK_DGRAM | SOCK_CLOEXEC | (blocking_tap ? 0 : SOCK_NONBLOCK),
				    0, sv),
			 0);
	peer = sv[1];
	tapfd = sv[0];
	tap_init_fd(&tap, sv[0], "faketap0", true);
	ck_assert_int_eq(virtio_net_create_on_tap(vm, cfg, 0, &tap, &fake_ops, &net), 0);
	dev = virtio_net_device(net);
	next_buf = BUF_BASE;
}

static void setup(void)
{
	static struct net_config cfg = {.tap = "faketap0", .model = NET_MODEL_VIRTIO};

	create(&cfg);
}

static void teardown(void)
{
	virtio_net_destroy(net);
	close(peer);
	fake_vm_destroy(vm);
	net = NULL;
}

/* The driver's initialisation sequence; returns the Status read back. */
static uint32_t bring_up(uint64_t features, bool driver_ok)
{
	uint32_t st;

	reg_write(VIRTIO_MMIO_STATUS, 0);
	st = tmmio_negotiate(dev, features | BIT(VIRTIO_F_VERSION_1));
	if (!(st & VIRTIO_STATUS_FEATURES_OK))
		return st;
	for (unsigned int i = 0; i < 2; i++) {
		q[i] = (struct drvq){.desc = ring_base[i],
				     .avail = ring_base[i] + 0x1000,
				     .used = ring_base[i] + 0x2000};
		memset(gpa(ring_base[i], 0x3000), 0, 0x3000);
		tmmio_setup_queue(dev, i, QSIZE, q[i].desc, q[i].avail, q[i].used);
	}
	if (driver_ok)
		reg_write(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						  VIRTIO_STATUS_FEATURES_OK |
						  VIRTIO_STATUS_DRIVER_OK);
	return reg_read(VIRTIO_MMIO_STATUS);
}

static void up(uint64_t features)
{
	uint32_t st = bring_up(features, true);

	ck_assert_uint_eq(st & ~VIRTIO_STATUS_NEEDS_RESET, 0x0f);
	ck_assert_uint_eq(st & VIRTIO_STATUS_NEEDS_RESET, 0);
}

struct buf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

/* Make a chain available; returns its head. */
/* Write a descriptor chain without making it available yet. */
static uint16_t write_chain(unsigned int qi, const struct buf *b, unsigned int n)
{
	struct drvq *d = &q[qi];
	struct virtq_desc *desc = gpa(d->desc, 16 * QSIZE);
	uint16_t head = d->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);

		desc[idx].addr = b[i].addr;
		desc[idx].len = b[i].len;
		desc[idx].flags = b[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		desc[idx].next = (uint16_t)((idx + 1) % QSIZE);
	}
	d->next_desc = (uint16_t)((head + n) % QSIZE);
	return head;
}

/* Put head in the avail ring: from here on the (polling) device may take it. */
static void publish(unsigned int qi, uint16_t head)
{
	struct drvq *d = &q[qi];
	uint16_t *avail = gpa(d->avail, 4 + 2 * QSIZE + 2);

	avail[2 + d->avail_idx % QSIZE] = head;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t post(unsigned int qi, const struct buf *b, unsigned int n)
{
	uint16_t head = write_chain(qi, b, n);

	publish(qi, head);
	return head;
}

static void kick(unsigned int qi)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(dev->queues[qi].kick_fd, &one, sizeof(one)), 8);
}

static uint16_t used_idx(unsigned int qi)
{
	uint16_t *used = gpa(q[qi].used, 4);

	return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
}

static struct virtq_used_elem used_elem(unsigned int qi, uint16_t i)
{
	struct virtq_used_elem *e = gpa(q[qi].used + 4 + 8 * (i % QSIZE), 8);

	return *e;
}

/* Wait on the irqfd until the device has used `n` chains of queue qi in all. */
static void wait_used(unsigned int qi, uint16_t n)
{
	struct pollfd p = {.fd = dev->call_fd, .events = POLLIN};
	uint64_t v;

	ck_assert_int_ge(dev->call_fd, 0);
	/* Ask for an interrupt at the n-th entry (matters with EVENT_IDX). */
	__atomic_store_n((uint16_t *)gpa(q[qi].avail + 4 + 2 * QSIZE, 2), (uint16_t)(n - 1),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while ((uint16_t)(used_idx(qi) - n) >= 0x8000) {
		ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "no interrupt within %d ms", WAIT_MS);
		if (read(dev->call_fd, &v, sizeof(v)) < 0)
			ck_assert_int_eq(errno, EAGAIN);
	}
}

static bool wait_for(bool (*cond)(void))
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (cond())
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
		    WAIT_MS)
			return false;
		sched_yield();
	}
}

static bool rx_stalled(void)
{
	return virtio_net_rx_stalled(net);
}

static bool needs_reset(void)
{
	return reg_read(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* The device's counter name, live. */
#define STAT(name) counter_get(&virtio_net_counters(net)->name)

/* The transport's interrupt count. */
static unsigned long interrupts(void)
{
	return counter_get(&dev->stat_interrupts);
}

/* io_uring round trips of the device's I/O thread. */
static unsigned long io_loops(void)
{
	struct iothread_stats io;

	iothread_get_stats(dev->io, &io);
	return io.loops;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A TX chain: the header then the frame, split into pieces of `piece` bytes. */
static void post_tx_frame_on(unsigned int qi, const struct virtio_net_hdr_v1 *h,
			     const uint8_t *frame, size_t len, size_t piece)
{
	uint8_t all[2048];
	struct buf b[64];
	unsigned int n = 0;
	size_t total = HDR + len;
	uint64_t a = alloc_buf(total);

	ck_assert_uint_le(total, sizeof(all));
	memcpy(all, h, HDR);
	memcpy(all + HDR, frame, len);
	memcpy(gpa(a, total), all, total);
	for (size_t off = 0; off < total; off += piece) {
		size_t l = total - off < piece ? total - off : piece;

		b[n++] = (struct buf){a + off, (uint32_t)l, 0};
	}
	post(qi, b, n);
}

static void post_tx_frame(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len,
			  size_t piece)
{
	post_tx_frame_on(VIRTIO_NET_TXQ, h, frame, len, piece);
}

/* A test frame (fill) in frame, posted for TX after header h in pieces of piece bytes. */
static void post_new_tx_frame(const struct virtio_net_hdr_v1 *h, uint8_t *frame, size_t len,
			      uint8_t seed, size_t piece)
{
	fill(frame, len, seed);
	post_tx_frame(h, frame, len, piece);
}

static ssize_t peer_recv(void *buf, size_t len)
{
	struct pollfd p = {.fd = peer, .events = POLLIN};

	ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
	return recv(peer, buf, len, MSG_DONTWAIT);
}

/* ---- multi-queue: a device with several pairs, each tap queue its own socketpair ---- */

/* Rings of queues 2.. lie above the first buffers; tests here use little buffer space. */
#define MQ_RING_BASE 0x40000ULL
static int mq_peer[VIRTIO_NET_MAX_PAIRS] = {-1, -1, -1, -1, -1, -1, -1, -1};
static int mq_tapfd[VIRTIO_NET_MAX_PAIRS];
static unsigned int mq_pairs;

/* What the fake TUNSETQUEUE saw, per tap queue. */
static struct {
	bool detached;	       /* the fake's view: out of the rotation */
	unsigned int calls;    /* set_queue_enabled calls */
	unsigned int repeated; /* calls asking for the state it was in (the kernel's EINVAL) */
} mq_tapq[VIRTIO_NET_MAX_PAIRS];

static int mq_tap_index(const struct tap *tap)
{
	for (unsigned int i = 0; i < mq_pairs; i++)
		if (tap->fd == mq_tapfd[i])
			return (int)i;
	ck_abort_msg("set_queue_enabled on an unknown tap fd %d", tap->fd);
	return -1;
}

static int fake_set_queue_enabled(struct tap *tap, bool enabled)
{
	int i = mq_tap_index(tap);

	mq_tapq[i].calls++;
	if (mq_tapq[i].detached == !enabled) {
		mq_tapq[i].repeated++;
		return -EINVAL;
	}
	mq_tapq[i].detached = !enabled;
	return 0;
}

static const struct virtio_net_tap_ops fake_mq_ops = {
    .set_vnet_hdr_size = fake_set_vnet_hdr_size,
    .set_offload = fake_set_offload,
    .set_queue_enabled = fake_set_queue_enabled,
};

static void mq_create(unsigned int pairs)
{
	struct net_config cfg = {.tap = "faketap0", .model = NET_MODEL_VIRTIO, .queues = pairs};
	struct tap taps[VIRTIO_NET_MAX_PAIRS];

	vm = fake_vm_create(RAM_SIZE);
	memset(&tapio, 0, sizeof(tapio));
	memset(mq_tapq, 0, sizeof(mq_tapq));
	tapio.hdr_size = -1;
	mq_pairs = pairs;
	for (unsigned int i = 0; i < pairs; i++) {
		int sv[2];

		ck_assert_int_eq(
		    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
		mq_peer[i] = sv[1];
		mq_tapfd[i] = sv[0];
		tap_init_fd(&taps[i], sv[0], "faketap0", true);
	}
	ck_assert_int_eq(virtio_net_create_on_taps(vm, &cfg, 0, taps, &fake_mq_ops, &net), 0);
	dev = virtio_net_device(net);
	peer = mq_peer[0];
	next_buf = BUF_BASE;
}

static void mq_setup(void)
{
	mq_create(2);
}

static void mq_teardown(void)
{
	virtio_net_destroy(net);
	for (unsigned int i = 0; i < mq_pairs; i++) {
		close(mq_peer[i]);
		mq_peer[i] = -1;
	}
	fake_vm_destroy(vm);
	net = NULL;
}

/* Negotiate features, set up queues 0..nq-1, DRIVER_OK; the Status read back. */
static uint32_t mq_bring_up(uint64_t features, unsigned int nq)
{
	uint32_t st;

	reg_write(VIRTIO_MMIO_STATUS, 0);
	st = tmmio_negotiate(dev, features | BIT(VIRTIO_F_VERSION_1));
	if (!(st & VIRTIO_STATUS_FEATURES_OK))
		return st;
	for (unsigned int i = 0; i < nq; i++) {
		uint64_t base = MQ_RING_BASE + i * 0x3000ULL;

		q[i] = (struct drvq){.desc = base, .avail = base + 0x1000, .used = base + 0x2000};
		memset(gpa(base, 0x3000), 0, 0x3000);
		tmmio_setup_queue(dev, i, QSIZE, q[i].desc, q[i].avail, q[i].used);
	}
	reg_write(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return reg_read(VIRTIO_MMIO_STATUS);
}

#define MQ_FEATURES (BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ))

static void mq_up(void)
{
	ck_assert_uint_eq(mq_bring_up(MQ_FEATURES, 2 * mq_pairs + 1), 0x0f);
}

/*
 * One control command on queue cq: the readable bytes cmd[0..len) in
 * descriptors of at most `piece` bytes, then (if with_ack) a 1-byte ack
 * buffer.  Returns the ack, or 0xee if nothing was written (used len 0).
 */
static uint8_t ctrl_cmd(unsigned int cq, const uint8_t *cmd, size_t len, size_t piece,
			bool with_ack)
{
	struct buf b[80];
	unsigned int n = 0;
	uint64_t a = alloc_buf(len ? len : 1), ack = alloc_buf(1);
	uint16_t used_before = used_idx(cq);
	struct virtq_used_elem u;

	ck_assert_uint_le(next_buf, MQ_RING_BASE);
	memcpy(gpa(a, len ? len : 1), cmd, len);
	*(uint8_t *)gpa(ack, 1) = 0xee;
	for (size_t off = 0; off < len; off += piece)
		b[n++] =
		    (struct buf){a + off, (uint32_t)(len - off < piece ? len - off : piece), 0};
	if (with_ack)
		b[n++] = (struct buf){ack, 1, VIRTQ_DESC_F_WRITE};
	ck_assert_uint_le(n, QSIZE);
	q[cq].next_desc = 0; /* one command at a time: reuse the table from the start */
	post(cq, b, n);
	kick(cq);
	wait_used(cq, (uint16_t)(used_before + 1));
	u = used_elem(cq, used_before);
	ck_assert_uint_eq(u.len, with_ack ? 1 : 0);
	return *(uint8_t *)gpa(ack, 1);
}

static uint8_t pairs_set(unsigned int cq, uint16_t n)
{
	const uint8_t cmd[4] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t)n,
				(uint8_t)(n >> 8)};

	/* Header and data in separate descriptors, as Linux posts them. */
	return ctrl_cmd(cq, cmd, sizeof(cmd), 2, true);
}

START_TEST(test_mq_features_and_config_only_with_several_pairs)
{
	uint16_t pairs;
	uint64_t f = tmmio_device_features(dev);

	ck_assert_uint_eq((f >> VIRTIO_NET_F_MQ) & 1, 1);
	ck_assert_uint_eq((f >> VIRTIO_NET_F_CTRL_VQ) & 1, 1);
	virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG + 8, (uint8_t *)&pairs, 2, false);
	ck_assert_uint_eq(pairs, 2);
	/* One pair: neither (test_identity_and_config checks the whole set). */
	mq_teardown();
	mq_create(1);
	f = tmmio_device_features(dev);
	ck_assert_uint_eq((f >> VIRTIO_NET_F_MQ) & 1, 0);
	ck_assert_uint_eq((f >> VIRTIO_NET_F_CTRL_VQ) & 1, 0);
	ck_assert_uint_eq(dev->nr_queues, 2);
	ck_assert_uint_eq(dev->nr_io_threads, 1);
	ck_assert_uint_eq(mq_tapq[0].calls, 0);
}
END_TEST

START_TEST(test_mq_queue_layout_threads_and_tap_queues)
{
	mq_teardown();
	mq_create(3);
	/* rx 2i, tx 2i+1 for i < 3, the control queue at 6, nothing at 7. */
	ck_assert_uint_eq(dev->nr_queues, 7);
	for (unsigned int i = 0; i < 7; i++) {
		reg_write(VIRTIO_MMIO_QUEUE_SEL, i);
		ck_assert_uint_eq(reg_read(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	}
	reg_write(VIRTIO_MMIO_QUEUE_SEL, 7);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* One I/O thread per pair; the control queue on the first. */
	ck_assert_uint_eq(dev->nr_io_threads, 3);
	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_uint_eq(dev->queue_thread[2 * i], i);
		ck_assert_uint_eq(dev->queue_thread[2 * i + 1], i);
	}
	ck_assert_uint_eq(dev->queue_thread[6], 0);
	/* Until VQ_PAIRS_SET only the first pair: the other tap queues detached. */
	ck_assert(!mq_tapq[0].detached);
	ck_assert_uint_eq(mq_tapq[0].calls, 0);
	ck_assert(mq_tapq[1].detached && mq_tapq[2].detached);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
}
END_TEST

START_TEST(test_mq_needs_ctrl_vq)
{
	/* MQ depends on CTRL_VQ (virtio 1.2, 5.1.3.1). */
	ck_assert_uint_eq(mq_bring_up(BIT(VIRTIO_NET_F_MQ), 5) & VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

START_TEST(test_mq_pairs_set_accepts_1_to_n_only)
{
	mq_up();
	ck_assert_uint_eq(pairs_set(4, 0), VIRTIO_NET_ERR);
	ck_assert_uint_eq(pairs_set(4, 3), VIRTIO_NET_ERR);
	ck_assert_uint_eq(pairs_set(4, 0xffff), VIRTIO_NET_ERR);
	/* Refusals change nothing. */
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert(mq_tapq[1].detached);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 2);
	ck_assert(!mq_tapq[1].detached);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK); /* again: no TUNSETQUEUE repeated */
	ck_assert_uint_eq(pairs_set(4, 1), VIRTIO_NET_OK);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert(mq_tapq[1].detached);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	ck_assert(!mq_tapq[1].detached);
	ck_assert_uint_eq(mq_tapq[1].repeated, 0);
	ck_assert_uint_eq(mq_tapq[0].calls, 0); /* the first pair's queue is never touched */
	ck_assert_uint_eq(STAT(ctrl_commands), 7);
	ck_assert_uint_eq(STAT(ctrl_refused), 3);
	ck_assert_uint_eq(STAT(ctrl_malformed), 0);
}
END_TEST

START_TEST(test_mq_pairs_set_refused_with_a_pair_not_ready)
{
	/* Pair 0 and the control queue (4) ready, pair 1 (queues 2, 3) not. */
	ck_assert_uint_eq(tmmio_negotiate(dev, MQ_FEATURES | BIT(VIRTIO_F_VERSION_1)) &
			      VIRTIO_STATUS_FEATURES_OK,
			  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < 5; i++) {
		uint64_t base = MQ_RING_BASE + i * 0x3000ULL;

		if (i == 2 || i == 3)
			continue;
		q[i] = (struct drvq){.desc = base, .avail = base + 0x1000, .used = base + 0x2000};
		memset(gpa(base, 0x3000), 0, 0x3000);
		tmmio_setup_queue(dev, i, QSIZE, q[i].desc, q[i].avail, q[i].used);
	}
	reg_write(VIRTIO_MMIO_STATUS, 0x0f);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS), 0x0f);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_ERR);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert(mq_tapq[1].detached);
	ck_assert_uint_eq(mq_tapq[1].calls, 1); /* the detach at creation only */
	ck_assert_uint_eq(pairs_set(4, 1), VIRTIO_NET_OK);
}
END_TEST

START_TEST(test_mq_malformed_commands_get_err)
{
	uint8_t big[70];
	const uint8_t truncated[3] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2};
	const uint8_t longer[5] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0, 0};
	const uint8_t short_hdr[1] = {VIRTIO_NET_CTRL_MQ};
	const uint8_t rx_mode[3] = {0 /* VIRTIO_NET_CTRL_RX */, 0 /* PROMISC */, 1};
	const uint8_t other_mq[4] = {VIRTIO_NET_CTRL_MQ, 1 /* RSS_CONFIG */, 2, 0};

	memset(big, 0, sizeof(big));
	big[0] = VIRTIO_NET_CTRL_MQ;
	big[2] = 2;
	mq_up();
	ck_assert_uint_eq(ctrl_cmd(4, truncated, sizeof(truncated), 2, true), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl_cmd(4, longer, sizeof(longer), 2, true), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl_cmd(4, short_hdr, sizeof(short_hdr), 2, true), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl_cmd(4, big, sizeof(big), 8, true), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl_cmd(4, rx_mode, sizeof(rx_mode), 2, true), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl_cmd(4, other_mq, sizeof(other_mq), 2, true), VIRTIO_NET_ERR);
	/* No ack byte: not run, handed back with nothing written; the queue goes on. */
	ck_assert_uint_eq(ctrl_cmd(4, longer, 4, 2, false), 0xee);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert_uint_eq(STAT(ctrl_malformed), 5);
	ck_assert_uint_eq(STAT(ctrl_refused), 7);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(test_mq_without_mq_the_control_queue_is_2)
{
	/* CTRL_VQ alone: one pair, the control queue at 2 (virtio 1.2, 5.1.2),
	 * served although queue 2 belongs to pair 1's thread. */
	ck_assert_uint_eq(mq_bring_up(BIT(VIRTIO_NET_F_CTRL_VQ), 3), 0x0f);
	ck_assert_uint_eq(pairs_set(2, 1), VIRTIO_NET_ERR); /* no MQ: nothing to set */
	ck_assert_uint_eq(pairs_set(2, 2), VIRTIO_NET_ERR);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert(mq_tapq[1].detached);
}
END_TEST

/* A frame for pair i's tap queue: into its peer socket. */
static void mq_send_frame(unsigned int i, uint8_t *frame, size_t len, uint8_t seed)
{
	uint8_t all[2048];
	struct virtio_net_hdr_v1 h = {0};

	fill(frame, len, seed);
	memcpy(all, &h, HDR);
	memcpy(all + HDR, frame, len);
	ck_assert_int_eq(send(mq_peer[i], all, HDR + len, 0), (ssize_t)(HDR + len));
}

static uint64_t mq_post_rx(unsigned int qi)
{
	uint64_t a = alloc_buf(2048);

	post(qi, &(struct buf){a, 2048, VIRTQ_DESC_F_WRITE}, 1);
	kick(qi);
	return a;
}

START_TEST(test_mq_rx_only_on_active_pairs)
{
	uint8_t frame[100], frame0[80];
	uint64_t a0, a1;

	mq_up();
	a0 = mq_post_rx(0);
	a1 = mq_post_rx(2);
	/* Pair 1 is not in use: a frame on its tap queue stays there (the
	 * kernel would not even steer it there: the queue is detached). */
	mq_send_frame(1, frame, sizeof(frame), 7);
	mq_send_frame(0, frame0, sizeof(frame0), 3);
	wait_used(0, 1);
	ck_assert_mem_eq(gpa(a0 + HDR, sizeof(frame0)), frame0, sizeof(frame0));
	usleep(50 * 1000);
	ck_assert_uint_eq(used_idx(2), 0);
	ck_assert_uint_eq(STAT(rx_packets), 1);
	/* Turned on, pair 1 reads its queue at once. */
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	wait_used(2, 1);
	ck_assert_uint_eq(used_elem(2, 0).len, HDR + sizeof(frame));
	ck_assert_mem_eq(gpa(a1 + HDR, sizeof(frame)), frame, sizeof(frame));
	/* Turned off again, it stops. */
	ck_assert_uint_eq(pairs_set(4, 1), VIRTIO_NET_OK);
	mq_post_rx(2);
	mq_send_frame(1, frame, sizeof(frame), 9);
	usleep(50 * 1000);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_uint_eq(STAT(rx_packets), 2);
}
END_TEST

START_TEST(test_mq_tx_per_pair_and_dropped_on_inactive_pair)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[90], frame1[120], got[256];
	struct pollfd pfd;

	mq_up();
	/* Pair 1 not in use: its frame is dropped (its tap queue takes none). */
	fill(frame1, sizeof(frame1), 5);
	post_tx_frame_on(3, &h, frame1, sizeof(frame1), 2048);
	kick(3);
	wait_used(3, 1);
	ck_assert_uint_eq(STAT(tx_inactive_pair), 1);
	ck_assert_uint_eq(STAT(tx_dropped), 1);
	pfd = (struct pollfd){.fd = mq_peer[1], .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	/* In use: each pair's frames leave through its own tap queue. */
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	fill(frame, sizeof(frame), 9);
	post_tx_frame_on(1, &h, frame, sizeof(frame), 30);
	kick(1);
	post_tx_frame_on(3, &h, frame1, sizeof(frame1), 50);
	kick(3);
	wait_used(1, 1);
	wait_used(3, 2);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
	ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	peer = mq_peer[1];
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame1));
	ck_assert_mem_eq(got + HDR, frame1, sizeof(frame1));
	peer = mq_peer[0];
	ck_assert_uint_eq(STAT(tx_packets), 2);
	ck_assert_uint_eq(STAT(tx_dropped), 1);
}
END_TEST

START_TEST(test_mq_reset_returns_to_one_pair)
{
	uint8_t frame[64];

	mq_up();
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	ck_assert(!mq_tapq[1].detached);
	reg_write(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(virtio_net_active_pairs(net), 1);
	ck_assert(mq_tapq[1].detached);
	/* After the reset pair 1 is off until the driver asks again. */
	next_buf = BUF_BASE;
	mq_up();
	mq_post_rx(2);
	mq_send_frame(1, frame, sizeof(frame), 1);
	usleep(50 * 1000);
	ck_assert_uint_eq(used_idx(2), 0);
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	wait_used(2, 1);
	ck_assert_uint_eq(mq_tapq[1].repeated, 0);
}
END_TEST

START_TEST(test_mq_stats_report)
{
	struct json_object *d, *threads;

	mq_up();
	ck_assert_uint_eq(pairs_set(4, 2), VIRTIO_NET_OK);
	d = unit_device_stats(vm, "virtio-net.0");
	ck_assert_uint_eq(unit_json_u64(d, "queue_pairs"), 2);
	ck_assert_uint_eq(unit_json_u64(d, "active_queue_pairs"), 2);
	ck_assert_uint_eq(unit_json_u64(d, "counters.ctrl_commands"), 1);
	ck_assert_uint_ge(unit_json_u64(d, "io_thread.loops"), 1);
	/* One object per I/O thread, with the queues it serves. */
	ck_assert(json_object_object_get_ex(d, "io_threads", &threads));
	ck_assert_uint_eq(json_object_array_length(threads), 2);
	ck_assert_uint_eq(
	    json_object_array_length(unit_json_at(json_object_array_get_idx(threads, 0), "queues")),
	    3);
	ck_assert_uint_eq(
	    json_object_array_length(unit_json_at(json_object_array_get_idx(threads, 1), "queues")),
	    2);
	json_object_put(d);
}
END_TEST

/* ---- identity, config, features ---- */

START_TEST(test_identity_and_config)
{
	uint8_t mac[6];
	uint16_t status;
	uint64_t f;

	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	ck_assert_int_eq(tapio.hdr_size, HDR);
	ck_assert_uint_eq(tapio.offload, 0);
	f = tmmio_device_features(dev);
	for (unsigned int bit = 0; bit < 64; bit++) {
		bool want = bit == VIRTIO_F_VERSION_1 || bit == VIRTIO_F_EVENT_IDX ||
			    bit == VIRTIO_F_INDIRECT_DESC || bit == VIRTIO_NET_F_MAC ||
			    bit == VIRTIO_NET_F_STATUS || bit == VIRTIO_NET_F_MRG_RXBUF ||
			    bit == VIRTIO_NET_F_CSUM || bit == VIRTIO_NET_F_GUEST_CSUM ||
			    bit == VIRTIO_NET_F_HOST_TSO4 || bit == VIRTIO_NET_F_HOST_TSO6 ||
			    bit == VIRTIO_NET_F_GUEST_TSO4 || bit == VIRTIO_NET_F_GUEST_TSO6;

		ck_assert_msg(((f >> bit) & 1) == want, "feature bit %u", bit);
	}
	for (unsigned int i = 0; i < 6; i++)
		virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG + i, &mac[i], 1, false);
	ck_assert_mem_eq(mac, ((uint8_t[]){0x02, 0x6d, 0x76, 0x00, 0x00, 0x00}), 6);
	ck_assert_int_eq(mac[0] & 1, 0); /* unicast */
	ck_assert_int_eq(mac[0] & 2, 2); /* locally administered */
	virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&status, 2, false);
	ck_assert_uint_eq(status, VIRTIO_NET_S_LINK_UP);
	ck_assert(strstr(vm->cmdline, "virtio_mmio.device=4K@0xd0000000:16"));
}
END_TEST

START_TEST(test_mac_from_config)
{
	static struct net_config cfg = {.tap = "faketap1",
					.model = NET_MODEL_VIRTIO,
					.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef},
					.mac_set = true};
	uint8_t mac[8];

	teardown();
	create(&cfg);
	virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG, mac, 4, false);
	virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG + 4, mac + 4, 4, false);
	ck_assert_mem_eq(mac, cfg.mac, 6);
	/* Past the end of config space reads as zero. */
	virtio_mmio_access(dev, VIRTIO_MMIO_CONFIG + 12, mac, 4, false);
	ck_assert_mem_eq(mac, ((uint8_t[]){0, 0, 0, 0}), 4);
}
END_TEST

START_TEST(test_offload_mapping)
{
	ck_assert_uint_eq(virtio_net_tun_offloads(0), 0);
	ck_assert_uint_eq(virtio_net_tun_offloads(BIT(VIRTIO_NET_F_CSUM) |
						  BIT(VIRTIO_NET_F_HOST_TSO4) |
						  BIT(VIRTIO_NET_F_HOST_TSO6)),
			  0);
	ck_assert_uint_eq(virtio_net_tun_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM)), TUN_F_CSUM);
	ck_assert_uint_eq(
	    virtio_net_tun_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4)),
	    TUN_F_CSUM | TUN_F_TSO4);
	ck_assert_uint_eq(virtio_net_tun_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM) |
						  BIT(VIRTIO_NET_F_GUEST_TSO4) |
						  BIT(VIRTIO_NET_F_GUEST_TSO6)),
			  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	/* TSO without checksum offload is meaningless to the tap. */
	ck_assert_uint_eq(virtio_net_tun_offloads(BIT(VIRTIO_NET_F_GUEST_TSO4)), 0);
}
END_TEST

START_TEST(test_offload_set_on_activate_and_cleared_on_reset)
{
	up(BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
	   BIT(VIRTIO_NET_F_GUEST_TSO6));
	ck_assert_uint_eq(tapio.offload, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	reg_write(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(tapio.offload, 0);
	up(BIT(VIRTIO_NET_F_GUEST_CSUM));
	ck_assert_uint_eq(tapio.offload, TUN_F_CSUM);
	reg_write(VIRTIO_MMIO_STATUS, 0);
	up(0);
	ck_assert_uint_eq(tapio.offload, 0);
}
END_TEST

START_TEST(test_offload_failure_is_not_fatal)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60], got[128];

	tapio.offload_result = -EINVAL;
	up(BIT(VIRTIO_NET_F_GUEST_CSUM));
	post_new_tx_frame(&h, frame, sizeof(frame), 3, 2048);
	kick(VIRTIO_NET_TXQ);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
}
END_TEST

START_TEST(test_feature_dependencies)
{
	/* GUEST_TSO4 needs GUEST_CSUM; HOST_TSO6 needs CSUM (virtio 1.2, 5.1.3.1). */
	ck_assert_uint_eq(bring_up(BIT(VIRTIO_NET_F_GUEST_TSO4), false) & VIRTIO_STATUS_FEATURES_OK,
			  0);
	ck_assert_uint_eq(bring_up(BIT(VIRTIO_NET_F_HOST_TSO6), false) & VIRTIO_STATUS_FEATURES_OK,
			  0);
	ck_assert_uint_ne(bring_up(BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_CSUM), false) &
			      VIRTIO_STATUS_FEATURES_OK,
			  0);
}
END_TEST

/* ---- TX ---- */

START_TEST(test_tx_one_frame)
{
	struct virtio_net_hdr_v1 h = {.num_buffers = 0x7777};
	uint8_t frame[1514], got[2048];

	up(0);
	post_new_tx_frame(&h, frame, sizeof(frame), 1, 4096);
	kick(VIRTIO_NET_TXQ);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
	/* num_buffers is meaningless on TX and not passed on. */
	ck_assert_mem_eq(got, ((uint8_t[HDR]){0}), HDR);
	ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	wait_used(VIRTIO_NET_TXQ, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_TXQ, 0).id, 0);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_TXQ, 0).len, 0);
	ck_assert_uint_eq(STAT(tx_packets), 1);
	ck_assert_uint_eq(STAT(tx_bytes), sizeof(frame));
	ck_assert_uint_eq(STAT(tx_dropped), 0);
	ck_assert_uint_ge(interrupts(), 1);
}
END_TEST

START_TEST(test_tx_header_and_frame_split_across_descriptors)
{
	/* 5-byte pieces: the header straddles descriptors. */
	struct virtio_net_hdr_v1 h = {
	    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
	uint8_t frame[64], got[256];

	up(BIT(VIRTIO_NET_F_CSUM));
	post_new_tx_frame(&h, frame, sizeof(frame), 9, 5);
	kick(VIRTIO_NET_TXQ);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
	ck_assert_mem_eq(got, &h, HDR);
	ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	wait_used(VIRTIO_NET_TXQ, 1);
}
END_TEST

START_TEST(test_tx_many_frames_in_one_kick)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[100], got[256];

	up(BIT(VIRTIO_F_EVENT_IDX));
	for (unsigned int i = 0; i < 8; i++) {
		post_new_tx_frame(&h, frame, sizeof(frame), (uint8_t)i, 2048);
	}
	kick(VIRTIO_NET_TXQ);
	for (unsigned int i = 0; i < 8; i++) {
		fill(frame, sizeof(frame), (uint8_t)i);
		ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
		ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	}
	wait_used(VIRTIO_NET_TXQ, 8);
	ck_assert_uint_eq(STAT(tx_packets), 8);
}
END_TEST

/*
 * Each bad chain (posted on a fresh ring) is dropped and counted; the frame
 * after it still goes out.
 */
static void check_tx_dropped_then_ok(unsigned int malformed, unsigned int oversized)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60], got[128];

	post_new_tx_frame(&h, frame, sizeof(frame), 5, 2048);
	kick(VIRTIO_NET_TXQ);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
	ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	/* Every chain comes back, the bad ones and the good one. */
	wait_used(VIRTIO_NET_TXQ, (uint16_t)(malformed + oversized + 1));
	/* Nothing else reached the tap. */
	ck_assert_int_eq(recv(peer, got, sizeof(got), MSG_DONTWAIT), -1);
	ck_assert_uint_eq(STAT(tx_packets), 1);
	ck_assert_uint_eq(STAT(tx_malformed), malformed);
	ck_assert_uint_eq(STAT(tx_oversized), oversized);
	ck_assert_uint_eq(STAT(tx_dropped), malformed + oversized);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

START_TEST(test_tx_writable_buffer_dropped)
{
	uint64_t a = alloc_buf(128);

	up(0);
	post(VIRTIO_NET_TXQ, (struct buf[]){{a, 64, 0}, {a + 64, 64, VIRTQ_DESC_F_WRITE}}, 2);
	check_tx_dropped_then_ok(1, 0);
	/* The bad chain was handed back too. */
	ck_assert_uint_eq(used_elem(VIRTIO_NET_TXQ, 0).id, 0);
}
END_TEST

START_TEST(test_tx_shorter_than_header_dropped)
{
	uint64_t a = alloc_buf(16);

	up(0);
	post(VIRTIO_NET_TXQ, (struct buf[]){{a, HDR - 1, 0}}, 1);
	check_tx_dropped_then_ok(1, 0);
}
END_TEST

START_TEST(test_tx_unnegotiated_offload_dropped)
{
	struct virtio_net_hdr_v1 csum = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM};
	struct virtio_net_hdr_v1 tso = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};
	struct virtio_net_hdr_v1 ufo = {.gso_type = VIRTIO_NET_HDR_GSO_UDP};
	struct virtio_net_hdr_v1 flags = {.flags = 0x80};
	uint8_t frame[60] = {0};

	up(0);
	post_tx_frame(&csum, frame, sizeof(frame), 2048);
	post_tx_frame(&tso, frame, sizeof(frame), 2048);
	post_tx_frame(&ufo, frame, sizeof(frame), 2048);
	post_tx_frame(&flags, frame, sizeof(frame), 2048);
	check_tx_dropped_then_ok(4, 0);
}
END_TEST

START_TEST(test_tx_oversized_dropped)
{
	uint64_t a = alloc_buf(HDR + VIRTIO_NET_MAX_FRAME + 1);

	up(0);
	memset(gpa(a, HDR), 0, HDR);
	post(VIRTIO_NET_TXQ, (struct buf[]){{a, HDR + VIRTIO_NET_MAX_FRAME + 1, 0}}, 1);
	check_tx_dropped_then_ok(0, 1);
}
END_TEST

START_TEST(test_tx_tap_error_counted)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60] = {0};

	up(0);
	/* The tap side has gone: the write fails, the device carries on. */
	close(peer);
	peer = -1;
	post_tx_frame(&h, frame, sizeof(frame), 2048);
	kick(VIRTIO_NET_TXQ);
	wait_used(VIRTIO_NET_TXQ, 1);
	ck_assert_uint_eq(STAT(tx_dropped), 1);
	ck_assert_uint_eq(STAT(tx_packets), 0);
	peer = socket(AF_UNIX, SOCK_DGRAM, 0); /* for teardown */
}
END_TEST

START_TEST(test_tx_broken_ring_needs_reset)
{
	struct virtq_desc *desc;
	uint64_t a = alloc_buf(64);
	uint16_t head;

	up(0);
	/* Corrupted before it is published: the device polls the avail ring. */
	head = write_chain(VIRTIO_NET_TXQ, (struct buf[]){{a, 32, 0}, {a + 32, 32, 0}}, 2);
	desc = gpa(q[VIRTIO_NET_TXQ].desc, 16 * QSIZE);
	desc[head].next = QSIZE + 3; /* out of range */
	publish(VIRTIO_NET_TXQ, head);
	kick(VIRTIO_NET_TXQ);
	ck_assert(wait_for(needs_reset));
	/* A reset brings the device back. */
	up(0);
	check_tx_dropped_then_ok(0, 0);
}
END_TEST

/* ---- RX ---- */

static void send_frame(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len)
{
	uint8_t all[70000];

	memcpy(all, h, HDR);
	memcpy(all + HDR, frame, len);
	ck_assert_int_eq(send(peer, all, HDR + len, 0), (ssize_t)(HDR + len));
}

/* A test frame (fill) in frame, sent from the tap's side after header h. */
static void send_new_frame(const struct virtio_net_hdr_v1 *h, uint8_t *frame, size_t len,
			   uint8_t seed)
{
	fill(frame, len, seed);
	send_frame(h, frame, len);
}

static uint64_t post_rx(uint32_t len)
{
	uint64_t a = alloc_buf(len);

	memset(gpa(a, len), 0xee, len);
	post(VIRTIO_NET_RXQ, (struct buf[]){{a, len, VIRTQ_DESC_F_WRITE}}, 1);
	return a;
}

START_TEST(test_rx_one_frame)
{
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_DATA_VALID, .num_buffers = 9};
	struct virtio_net_hdr_v1 got;
	uint8_t frame[1514];
	uint64_t a;

	up(0);
	a = post_rx(HDR + 1514);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, frame, sizeof(frame), 4);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).id, 0);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).len, HDR + sizeof(frame));
	memcpy(&got, gpa(a, HDR), HDR);
	ck_assert_uint_eq(got.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	ck_assert_uint_eq(got.num_buffers, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_packets), 1);
	ck_assert_uint_eq(STAT(rx_bytes), sizeof(frame));
}
END_TEST

START_TEST(test_rx_buffers_posted_before_driver_ok)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t a;

	ck_assert_uint_eq(bring_up(0, false) & VIRTIO_STATUS_FEATURES_OK,
			  VIRTIO_STATUS_FEATURES_OK);
	a = post_rx(2048);
	/* No kick: Linux fills the ring and kicks later, but a driver that
	 * does not kick must still be served. */
	reg_write(VIRTIO_MMIO_STATUS, 0x0f);
	send_new_frame(&h, frame, sizeof(frame), 8);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
}
END_TEST

START_TEST(test_rx_mergeable_spans_buffers)
{
	struct virtio_net_hdr_v1 h = {.gso_type = 0};
	struct virtio_net_hdr_v1 got;
	uint8_t frame[200], back[200];
	uint64_t a[6];

	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned int i = 0; i < 6; i++)
		a[i] = post_rx(64);
	kick(VIRTIO_NET_RXQ);
	/* 212 bytes: 64 + 64 + 64 + 20. */
	send_new_frame(&h, frame, sizeof(frame), 6);
	wait_used(VIRTIO_NET_RXQ, 4);
	memcpy(&got, gpa(a[0], HDR), HDR);
	ck_assert_uint_eq(got.num_buffers, 4);
	for (uint16_t i = 0; i < 4; i++) {
		ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, i).id, i);
		ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, i).len, i < 3 ? 64 : 20);
	}
	memcpy(back, gpa(a[0] + HDR, 64 - HDR), 64 - HDR);
	memcpy(back + 52, gpa(a[1], 64), 64);
	memcpy(back + 116, gpa(a[2], 64), 64);
	memcpy(back + 180, gpa(a[3], 20), 20);
	ck_assert_mem_eq(back, frame, sizeof(frame));

	/* The two buffers left over take the next frame: 12 + 50 = 62 bytes. */
	send_new_frame(&h, frame, 50, 77);
	wait_used(VIRTIO_NET_RXQ, 5);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 4).id, 4);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 4).len, 62);
	memcpy(&got, gpa(a[4], HDR), HDR);
	ck_assert_uint_eq(got.num_buffers, 1);
	ck_assert_mem_eq(gpa(a[4] + HDR, 50), frame, 50);
	ck_assert_uint_eq(STAT(rx_packets), 2);
}
END_TEST

START_TEST(test_rx_no_buffers_stops_reading_the_tap)
{
	struct virtio_net_hdr_v1 h = {0};
	struct pollfd p;
	uint8_t frame[60], peek[128];
	uint64_t a;
	unsigned long stalls, loops;

	up(0);
	ck_assert(wait_for(rx_stalled));
	stalls = STAT(rx_no_buffers);
	ck_assert_uint_ge(stalls, 1);
	send_new_frame(&h, frame, sizeof(frame), 2);
	send_frame(&h, frame, sizeof(frame));
	/* Nothing happens: no interrupt, the frames stay queued in the tap. */
	p = (struct pollfd){.fd = dev->call_fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 100), 0);
	ck_assert_int_eq(recv(tapfd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT),
			 HDR + sizeof(frame));
	ck_assert(rx_stalled());
	ck_assert_uint_eq(STAT(rx_packets), 0);
	ck_assert_uint_eq(STAT(rx_no_buffers), stalls);
	/* The I/O thread slept: no io_uring round trips while stalled. */
	loops = io_loops();
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	ck_assert_uint_eq(io_loops(), loops);

	/* A buffer and a kick resume reading. */
	a = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	/* The second frame waits for the next buffer, again without spinning. */
	ck_assert(wait_for(rx_stalled));
	ck_assert_uint_eq(STAT(rx_packets), 1);
	post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 2);
	ck_assert_uint_eq(STAT(rx_packets), 2);
}
END_TEST

START_TEST(test_rx_malformed_buffer_returned_and_counted)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t bad = alloc_buf(64), good;

	up(0);
	/* Device-readable: not an RX buffer.  Then one too small for a header. */
	post(VIRTIO_NET_RXQ, (struct buf[]){{bad, 64, 0}}, 1);
	post(VIRTIO_NET_RXQ, (struct buf[]){{bad, HDR - 2, VIRTQ_DESC_F_WRITE}}, 1);
	good = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, frame, sizeof(frame), 1);
	wait_used(VIRTIO_NET_RXQ, 3);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).len, 0);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 1).len, 0);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 2).len, HDR + sizeof(frame));
	ck_assert_mem_eq(gpa(good + HDR, sizeof(frame)), frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_malformed), 2);
	ck_assert_uint_eq(STAT(rx_packets), 1);
}
END_TEST

START_TEST(test_rx_frame_larger_than_buffers_dropped)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t big[200], frame[50];
	uint64_t a;

	up(0);
	a = post_rx(HDR + 100);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, big, sizeof(big), 1);
	send_new_frame(&h, frame, sizeof(frame), 2);
	/* Only the second frame arrives, in the buffer the first did not fit. */
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).len, HDR + sizeof(frame));
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_oversized), 1);
	ck_assert_uint_eq(STAT(rx_dropped), 1);
	ck_assert_uint_eq(STAT(rx_packets), 1);
}
END_TEST

START_TEST(test_rx_mergeable_frame_larger_than_all_buffers_dropped)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t big[1100], frame[100];
	uint64_t a[QSIZE];

	/* The whole ring (16 x 64 bytes) is posted: the driver can offer no
	 * more, so the 1112-byte frame can never fit. */
	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned int i = 0; i < QSIZE; i++)
		a[i] = post_rx(64);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, big, sizeof(big), 1);
	send_new_frame(&h, frame, sizeof(frame), 5);
	wait_used(VIRTIO_NET_RXQ, 2);
	ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[0], HDR))->num_buffers, 2);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 1).len, HDR + sizeof(frame) - 64);
	ck_assert_mem_eq(gpa(a[0] + HDR, 64 - HDR), frame, 64 - HDR);
	ck_assert_mem_eq(gpa(a[1], sizeof(frame) - 52), frame + 52, sizeof(frame) - 52);
	ck_assert_uint_eq(STAT(rx_oversized), 1);
}
END_TEST

/* rx_no_buffers when RX last went idle; rx_stalled_again() waits past it. */
static unsigned long stalls_before;

static bool rx_stalled_again(void)
{
	return STAT(rx_no_buffers) > stalls_before && rx_stalled();
}

/* Bring the device up with MRG_RXBUF (and more), idle, then send it a frame. */
static void up_with_frame_arriving(uint64_t features, const struct virtio_net_hdr_v1 *h,
				   uint8_t *frame, size_t len, unsigned int seed)
{
	up(BIT(VIRTIO_NET_F_MRG_RXBUF) | features);
	ck_assert(wait_for(rx_stalled));
	stalls_before = STAT(rx_no_buffers);
	send_new_frame(h, frame, len, seed);
}

/*
 * Post a[from..to) buffers of size bytes, too few for the waiting frame: the
 * device must wait for more, using and dropping nothing.
 */
static void post_rx_too_few(uint64_t *a, unsigned int from, unsigned int to, uint32_t size)
{
	for (unsigned int i = from; i < to; i++)
		a[i] = post_rx(size);
	kick(VIRTIO_NET_RXQ);
	ck_assert_msg(wait_for(rx_stalled_again), "RX did not wait for more buffers");
	ck_assert_uint_eq(used_idx(VIRTIO_NET_RXQ), 0);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}

/* Reassemble a mergeable frame of n buffers a[0..n) from the used ring (entries from u0). */
static size_t rx_gather(const uint64_t *a, uint16_t u0, unsigned int n, uint8_t *out)
{
	size_t off = 0;

	for (unsigned int b = 0; b < n; b++) {
		struct virtq_used_elem e = used_elem(VIRTIO_NET_RXQ, (uint16_t)(u0 + b));
		size_t skip = b == 0 ? HDR : 0;

		ck_assert_uint_eq(e.id, (uint16_t)(u0 + b) % QSIZE);
		ck_assert_uint_ge(e.len, skip);
		memcpy(out + off, gpa(a[b] + skip, e.len - skip), e.len - skip);
		off += e.len - skip;
	}
	return off;
}

/*
 * MRG_RXBUF under buffer pressure: a 9000-byte frame arrives while the
 * guest has posted only 4 KiB.  The device keeps it and waits for more
 * buffers (no drop, no truncation, no spinning); when they come the frame
 * arrives whole, with num_buffers saying how many it took.
 */
START_TEST(test_rx_mergeable_large_frame_waits_for_buffers)
{
	static uint8_t frame[9000], back[9000];
	struct virtio_net_hdr_v1 h = {0}, got;
	struct pollfd p = {.fd = -1, .events = POLLIN};
	uint64_t a[6];
	unsigned long loops;

	up_with_frame_arriving(0, &h, frame, sizeof(frame), 13);
	post_rx_too_few(a, 0, 2, 2048);
	ck_assert_uint_eq(STAT(rx_oversized), 0);
	/* Waiting costs nothing: the I/O thread sleeps until the next kick. */
	p.fd = dev->call_fd;
	loops = io_loops();
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	ck_assert_uint_eq(io_loops(), loops);

	/* 9012 bytes: 4 x 2048 + 820. */
	for (unsigned int i = 2; i < 5; i++)
		a[i] = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 5);
	memcpy(&got, gpa(a[0], HDR), HDR);
	ck_assert_uint_eq(got.num_buffers, 5);
	for (uint16_t i = 0; i < 5; i++)
		ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, i).len, i < 4 ? 2048 : 820);
	ck_assert_uint_eq(rx_gather(a, 0, 5, back), sizeof(frame));
	ck_assert_mem_eq(back, frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_packets), 1);
	ck_assert_uint_eq(STAT(rx_bytes), sizeof(frame));
	ck_assert_uint_eq(STAT(rx_dropped), 0);

	/* The next frame follows in the next buffer. */
	send_new_frame(&h, frame, 60, 21);
	a[5] = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 6);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 5).len, HDR + 60);
	ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[5], HDR))->num_buffers, 1);
	ck_assert_mem_eq(gpa(a[5] + HDR, 60), frame, 60);
	ck_assert_uint_eq(STAT(rx_packets), 2);
}
END_TEST

/* The same with the largest frame there is: a 64 KiB GSO frame in 8 KiB buffers. */
START_TEST(test_rx_mergeable_gso_frame_waits_for_buffers)
{
	static uint8_t frame[VIRTIO_NET_MAX_FRAME], back[VIRTIO_NET_MAX_FRAME];
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = 54,
				      .gso_size = 1448,
				      .csum_start = 34,
				      .csum_offset = 16};
	struct virtio_net_hdr_v1 got;
	uint64_t a[9];

	up_with_frame_arriving(BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
				   BIT(VIRTIO_F_EVENT_IDX),
			       &h, frame, sizeof(frame), 99);
	post_rx_too_few(a, 0, 4, 8192);

	/* 65562 bytes: 8 x 8192 + 26. */
	for (unsigned int i = 4; i < 9; i++)
		a[i] = post_rx(8192);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 9);
	memcpy(&got, gpa(a[0], HDR), HDR);
	ck_assert_uint_eq(got.num_buffers, 9);
	ck_assert_uint_eq(got.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	ck_assert_uint_eq(got.gso_size, 1448);
	ck_assert_uint_eq(got.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 8).len, HDR + sizeof(frame) - 8 * 8192);
	ck_assert_uint_eq(rx_gather(a, 0, 9, back), sizeof(frame));
	ck_assert_mem_eq(back, frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_packets), 1);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

/*
 * A frame larger than every buffer the ring can hold at once must not stall
 * RX: when the driver has no descriptor left to post (here 8 chains of two
 * descriptors fill the 16-entry table), it is dropped and counted, and the
 * next frame takes the buffers.
 */
START_TEST(test_rx_mergeable_frame_that_can_never_fit_dropped)
{
	static uint8_t big[9000];
	struct virtio_net_hdr_v1 h = {0}, got;
	uint8_t frame[100];
	uint64_t hdr[QSIZE / 2], data[QSIZE / 2];

	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned int i = 0; i < QSIZE / 2; i++) {
		hdr[i] = alloc_buf(HDR);
		data[i] = alloc_buf(500);
		post(VIRTIO_NET_RXQ,
		     (struct buf[]){{hdr[i], HDR, VIRTQ_DESC_F_WRITE},
				    {data[i], 500, VIRTQ_DESC_F_WRITE}},
		     2);
	}
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, big, sizeof(big), 3);
	send_new_frame(&h, frame, sizeof(frame), 4);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).id, 0);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).len, HDR + sizeof(frame));
	memcpy(&got, gpa(hdr[0], HDR), HDR);
	ck_assert_uint_eq(got.num_buffers, 1);
	ck_assert_mem_eq(gpa(data[0], sizeof(frame)), frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_oversized), 1);
	ck_assert_uint_eq(STAT(rx_dropped), 1);
	ck_assert_uint_eq(STAT(rx_packets), 1);
}
END_TEST

/* A device reset while a frame waits for buffers forgets it; RX works after. */
START_TEST(test_rx_reset_while_frame_waits_for_buffers)
{
	static uint8_t big[9000];
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t a;

	up_with_frame_arriving(0, &h, big, sizeof(big), 5);
	post_rx_too_few(&a, 0, 1, 1024);
	reg_write(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS), 0);
	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	a = post_rx(1024);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, frame, sizeof(frame), 6);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 0).len, HDR + sizeof(frame));
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	ck_assert_uint_eq(STAT(rx_packets), 1);
}
END_TEST

/* The frame of test_rx_backlog_*: length and contents depend on i. */
static size_t backlog_frame(unsigned int i, uint8_t *frame, const size_t *lens)
{
	fill(frame, lens[i], (uint8_t)(i * 11 + 1));
	return lens[i];
}

START_TEST(test_rx_backlog_arrives_in_tap_order_across_stalls)
{
	static const size_t lens[10] = {60, 61, 62, 63, 64, 65, 66, 67, 68, 69};
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[128];
	uint64_t a[10];

	up(0);
	ck_assert(wait_for(rx_stalled));
	/* Ten frames wait in the tap; the guest has buffers for four at a time. */
	for (unsigned int i = 0; i < 10; i++)
		send_frame(&h, frame, backlog_frame(i, frame, lens));
	for (unsigned int done = 0; done < 10; done += 4) {
		unsigned int n = 10 - done < 4 ? 10 - done : 4;

		for (unsigned int i = done; i < done + n; i++)
			a[i] = post_rx(128);
		kick(VIRTIO_NET_RXQ);
		wait_used(VIRTIO_NET_RXQ, (uint16_t)(done + n));
		for (unsigned int i = done; i < done + n; i++) {
			size_t len = backlog_frame(i, frame, lens);

			ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, (uint16_t)i).id, i);
			ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, (uint16_t)i).len, HDR + len);
			ck_assert_mem_eq(gpa(a[i] + HDR, len), frame, len);
		}
		if (done + n < 10) {
			/* Out of buffers with frames left in the tap: stalled. */
			ck_assert(wait_for(rx_stalled));
			ck_assert_uint_eq(used_idx(VIRTIO_NET_RXQ), done + n);
		}
	}
	ck_assert_uint_eq(STAT(rx_packets), 10);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

START_TEST(test_rx_mergeable_backlog_in_one_burst)
{
	/* 12-byte header + frame in 64-byte buffers: 2, 1, 3, 1, 2 buffers. */
	static const size_t lens[5] = {100, 20, 150, 52, 60};
	static const uint16_t nbufs[5] = {2, 1, 3, 1, 2};
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[160], back[160];
	uint64_t a[12];
	uint16_t u = 0;

	up(BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_F_EVENT_IDX));
	for (unsigned int i = 0; i < 12; i++)
		a[i] = post_rx(64);
	for (unsigned int i = 0; i < 5; i++)
		send_frame(&h, frame, backlog_frame(i, frame, lens));
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 9);
	for (unsigned int i = 0; i < 5; i++) {
		size_t len = backlog_frame(i, frame, lens), off = 0;

		ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[u], HDR))->num_buffers,
				  nbufs[i]);
		for (unsigned int b = 0; b < nbufs[i]; b++, u++) {
			size_t skip = b == 0 ? HDR : 0, n = used_elem(VIRTIO_NET_RXQ, u).len - skip;

			ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, u).id, u);
			memcpy(back + off, gpa(a[u] + skip, n), n);
			off += n;
		}
		ck_assert_uint_eq(off, len);
		ck_assert_mem_eq(back, frame, len);
	}
	ck_assert_uint_eq(STAT(rx_packets), 5);
}
END_TEST

/* The device's avail_event (EVENT_IDX): the driver kicks when its index passes it. */
static uint16_t avail_event(unsigned int qi)
{
	return __atomic_load_n((uint16_t *)gpa(q[qi].used + 4 + 8 * QSIZE, 2), __ATOMIC_ACQUIRE);
}

/* What test_rx_dry_device_sleeps_asking_for_the_next_buffer waits for. */
static uint16_t expected_avail_event;

static bool avail_event_is_expected(void)
{
	return avail_event(VIRTIO_NET_RXQ) == expected_avail_event;
}

/*
 * MRG_RXBUF without GUEST_TSO4/TSO6/UFO: no frame from the tap is larger
 * than 12 + 1514 + 4 bytes, so a read carries buffers for that much (here 6
 * of 256 bytes) plus the spill buffer, not ~64 KiB worth (all 16 posted).
 * Before issue 13 every read carried 17 iovecs here.
 */
START_TEST(test_rx_mergeable_reads_cover_one_plain_frame)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[1514], back[1514];
	uint64_t a[QSIZE];
	unsigned long reads, iovecs;

	up(BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_F_EVENT_IDX));
	for (unsigned int i = 0; i < QSIZE; i++)
		a[i] = post_rx(256);
	kick(VIRTIO_NET_RXQ);
	/* 1526 bytes: 5 x 256 + 246. */
	send_new_frame(&h, frame, sizeof(frame), 40);
	wait_used(VIRTIO_NET_RXQ, 6);
	ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[0], HDR))->num_buffers, 6);
	ck_assert_uint_eq(rx_gather(a, 0, 6, back), sizeof(frame));
	ck_assert_mem_eq(back, frame, sizeof(frame));
	reads = STAT(rx_reads);
	iovecs = STAT(rx_read_iovecs);
	ck_assert_uint_ge(reads, 1);
	ck_assert_msg(iovecs <= 7 * reads, "%lu iovecs in %lu reads", iovecs, reads);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

/* With GUEST_TSO4 a 64 KiB frame may come: reads carry every buffer posted. */
START_TEST(test_rx_mergeable_reads_cover_all_buffers_with_gso)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];

	/* All posted before DRIVER_OK, so that no read sees only some of them. */
	ck_assert_uint_eq(bring_up(BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
				       BIT(VIRTIO_NET_F_GUEST_TSO4),
				   false) &
			      VIRTIO_STATUS_FEATURES_OK,
			  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < QSIZE; i++)
		post_rx(256);
	reg_write(VIRTIO_MMIO_STATUS, 0x0f);
	send_new_frame(&h, frame, sizeof(frame), 41);
	wait_used(VIRTIO_NET_RXQ, 1);
	/* 16 buffers + spill before the frame, 15 + spill after it. */
	ck_assert_uint_ge(STAT(rx_read_iovecs), 16 * STAT(rx_reads));
}
END_TEST

/*
 * A frame larger than the plain bound (a tap with a 9000-byte MTU) with
 * MRG_RXBUF and no GSO: the read holds buffers for 1530 bytes only, the
 * rest lands in the spill buffer, and the device takes more of the buffers
 * the guest has already posted and delivers the frame whole.
 */
START_TEST(test_rx_mergeable_jumbo_frame_without_gso_arrives_whole)
{
	static uint8_t frame[9000], back[9000];
	struct virtio_net_hdr_v1 h = {0};
	uint8_t small[60];
	uint64_t a[QSIZE];

	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned int i = 0; i < 10; i++)
		a[i] = post_rx(1024);
	kick(VIRTIO_NET_RXQ);
	/* 9012 bytes: 8 x 1024 + 820; then a small frame in the tenth buffer. */
	send_new_frame(&h, frame, sizeof(frame), 42);
	send_new_frame(&h, small, sizeof(small), 43);
	wait_used(VIRTIO_NET_RXQ, 10);
	ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[0], HDR))->num_buffers, 9);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 8).len, 820);
	ck_assert_uint_eq(rx_gather(a, 0, 9, back), sizeof(frame));
	ck_assert_mem_eq(back, frame, sizeof(frame));
	ck_assert_uint_eq(((struct virtio_net_hdr_v1 *)gpa(a[9], HDR))->num_buffers, 1);
	ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, 9).len, HDR + sizeof(small));
	ck_assert_mem_eq(gpa(a[9] + HDR, sizeof(small)), small, sizeof(small));
	ck_assert_uint_eq(STAT(rx_packets), 2);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

/*
 * EVENT_IDX, RX dry with frames waiting in the tap, and a driver that adds
 * one buffer at a time and kicks only when the device's avail_event says so
 * (vring_need_event), waiting for each frame before it adds the next
 * buffer.  The device asks for kicks a batch at a time while it busy-polls;
 * the driver never posts a batch, so only the device's re-arming before it
 * sleeps (a kick at the next buffer) keeps RX going: every frame must
 * arrive, in order.
 */
START_TEST(test_rx_driver_adding_buffers_one_by_one_never_stalls)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[100];
	uint64_t a;
	unsigned int kicks = 0;

	up(BIT(VIRTIO_F_EVENT_IDX));
	ck_assert(wait_for(rx_stalled));
	for (unsigned int i = 0; i < 6; i++)
		send_new_frame(&h, frame, 60 + i, (uint8_t)(50 + i));
	for (uint16_t i = 0; i < 6; i++) {
		uint16_t old = q[VIRTIO_NET_RXQ].avail_idx, event;

		a = post_rx(256);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		event = avail_event(VIRTIO_NET_RXQ);
		if ((uint16_t)(q[VIRTIO_NET_RXQ].avail_idx - event - 1) <
		    (uint16_t)(q[VIRTIO_NET_RXQ].avail_idx - old)) {
			kick(VIRTIO_NET_RXQ);
			kicks++;
		}
		wait_used(VIRTIO_NET_RXQ, (uint16_t)(i + 1));
		fill(frame, 60 + i, (uint8_t)(50 + i));
		ck_assert_uint_eq(used_elem(VIRTIO_NET_RXQ, i).len, HDR + 60 + i);
		ck_assert_mem_eq(gpa(a + HDR, 60 + i), frame, 60 + i);
	}
	ck_assert_uint_eq(STAT(rx_packets), 6);
	ck_assert_uint_le(kicks, 6);
}
END_TEST

/*
 * The same driver posting a few buffers (fewer than the device's batch)
 * without ever kicking: a device that busy-polls must still serve them, and
 * one that has gone to sleep must have asked for a kick at the very next
 * buffer, never for one that may not come.
 */
START_TEST(test_rx_dry_device_sleeps_asking_for_the_next_buffer)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t a;

	up(BIT(VIRTIO_F_EVENT_IDX));
	ck_assert(wait_for(rx_stalled));
	/* Once the thread is past its poll window (2-20 us): kick at the next buffer. */
	expected_avail_event = 0;
	ck_assert_msg(wait_for(avail_event_is_expected), "avail_event stays %u",
		      avail_event(VIRTIO_NET_RXQ));
	/* One buffer and a frame, the kick the device asked for. */
	send_new_frame(&h, frame, sizeof(frame), 60);
	a = post_rx(256);
	kick(VIRTIO_NET_RXQ);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	expected_avail_event = 1;
	ck_assert_msg(wait_for(avail_event_is_expected), "avail_event stays %u",
		      avail_event(VIRTIO_NET_RXQ));
	ck_assert(rx_stalled());
}
END_TEST

START_TEST(test_rx_blocking_tap_is_made_nonblocking)
{
	static struct net_config cfg = {.tap = "faketap0", .model = NET_MODEL_VIRTIO};
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t a;

	/* RX reads the tap with readv() in the I/O thread: a blocking fd
	 * would hang it (and reset) as soon as the tap ran empty. */
	teardown();
	blocking_tap = true;
	create(&cfg);
	blocking_tap = false;
	ck_assert(fcntl(tapfd, F_GETFL) & O_NONBLOCK);
	up(0);
	a = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, frame, sizeof(frame), 9);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
	/* The device now holds a buffer and waits on the empty tap. */
	post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	reg_write(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS), 0);
}
END_TEST

START_TEST(test_rx_broken_ring_needs_reset)
{
	up(0);
	/* Published directly: the device polls the avail ring, so a good entry
	 * corrupted after publishing could already have been taken. */
	publish(VIRTIO_NET_RXQ, QSIZE + 1); /* head out of range */
	kick(VIRTIO_NET_RXQ);
	ck_assert(wait_for(needs_reset));
}
END_TEST

START_TEST(test_reset_with_read_in_flight)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60];
	uint64_t a;

	up(BIT(VIRTIO_NET_F_MRG_RXBUF));
	post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	/* The device now waits on the empty tap; reset must not hang. */
	reg_write(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(reg_read(VIRTIO_MMIO_STATUS), 0);
	up(0);
	a = post_rx(2048);
	kick(VIRTIO_NET_RXQ);
	send_new_frame(&h, frame, sizeof(frame), 3);
	wait_used(VIRTIO_NET_RXQ, 1);
	ck_assert_mem_eq(gpa(a + HDR, sizeof(frame)), frame, sizeof(frame));
}
END_TEST

START_TEST(test_rx_and_tx_together)
{
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[300], got[512];
	uint64_t rx[4];

	up(BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC));
	for (unsigned int i = 0; i < 4; i++)
		rx[i] = post_rx(1024);
	kick(VIRTIO_NET_RXQ);
	for (unsigned int i = 0; i < 4; i++) {
		send_new_frame(&h, frame, sizeof(frame), (uint8_t)(i * 3));
		post_tx_frame(&h, frame, sizeof(frame), 100);
		kick(VIRTIO_NET_TXQ);
	}
	for (unsigned int i = 0; i < 4; i++) {
		fill(frame, sizeof(frame), (uint8_t)(i * 3));
		ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
		ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
	}
	wait_used(VIRTIO_NET_RXQ, 4);
	wait_used(VIRTIO_NET_TXQ, 4);
	for (unsigned int i = 0; i < 4; i++) {
		fill(frame, sizeof(frame), (uint8_t)(i * 3));
		ck_assert_mem_eq(gpa(rx[i] + HDR, sizeof(frame)), frame, sizeof(frame));
	}
}
END_TEST

START_TEST(test_stats_report)
{
	static const char *const zero[] = {"tx_dropped",   "tx_malformed", "tx_oversized",
					   "rx_packets",   "rx_bytes",	   "rx_dropped",
					   "rx_malformed", "rx_oversized"};
	struct virtio_net_hdr_v1 h = {0};
	uint8_t frame[60], got[128];
	struct json_object *dev;

	up(0);
	post_new_tx_frame(&h, frame, sizeof(frame), 1, 2048);
	kick(VIRTIO_NET_TXQ);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), HDR + sizeof(frame));
	wait_used(VIRTIO_NET_TXQ, 1);
	dev = unit_device_stats(vm, "virtio-net.0");
	ck_assert_str_eq(unit_json_str(dev, "model"), "virtio-net");
	ck_assert_str_eq(unit_json_str(dev, "tap"), "faketap0");
	ck_assert_uint_eq(unit_json_u64(dev, "counters.tx_packets"), 1);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.tx_bytes"), 60);
	for (unsigned int i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		char path[64];

		snprintf(path, sizeof(path), "counters.%s", zero[i]);
		ck_assert_uint_eq(unit_json_u64(dev, path), 0);
	}
	ck_assert_uint_ge(unit_json_u64(dev, "counters.tx_kicks"), 1);
	ck_assert_uint_ge(unit_json_u64(dev, "transport.interrupts"), 1);
	ck_assert_uint_ge(unit_json_u64(dev, "io_thread.loops"), 1);
	/* The transport's and the device's reporters share one object. */
	ck_assert_str_eq(unit_json_str(dev, "transport.kind"), "virtio-mmio");
	json_object_put(dev);
}
END_TEST

Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = unit_tcase(
	    s, "device", setup, teardown,
	    UNIT_TESTS(test_identity_and_config, test_mac_from_config, test_offload_mapping,
		       test_offload_set_on_activate_and_cleared_on_reset,
		       test_offload_failure_is_not_fatal, test_feature_dependencies,
		       test_tx_one_frame, test_tx_header_and_frame_split_across_descriptors,
		       test_tx_many_frames_in_one_kick, test_tx_writable_buffer_dropped,
		       test_tx_shorter_than_header_dropped, test_tx_unnegotiated_offload_dropped,
		       test_tx_oversized_dropped, test_tx_tap_error_counted,
		       test_tx_broken_ring_needs_reset, test_rx_one_frame,
		       test_rx_buffers_posted_before_driver_ok, test_rx_mergeable_spans_buffers,
		       test_rx_no_buffers_stops_reading_the_tap,
		       test_rx_malformed_buffer_returned_and_counted,
		       test_rx_frame_larger_than_buffers_dropped,
		       test_rx_mergeable_frame_larger_than_all_buffers_dropped,
		       test_rx_mergeable_large_frame_waits_for_buffers,
		       test_rx_mergeable_gso_frame_waits_for_buffers,
		       test_rx_mergeable_frame_that_can_never_fit_dropped,
		       test_rx_reset_while_frame_waits_for_buffers,
		       test_rx_backlog_arrives_in_tap_order_across_stalls,
		       test_rx_mergeable_backlog_in_one_burst,
		       test_rx_mergeable_reads_cover_one_plain_frame,
		       test_rx_mergeable_reads_cover_all_buffers_with_gso,
		       test_rx_mergeable_jumbo_frame_without_gso_arrives_whole,
		       test_rx_driver_adding_buffers_one_by_one_never_stalls,
		       test_rx_dry_device_sleeps_asking_for_the_next_buffer,
		       test_rx_blocking_tap_is_made_nonblocking, test_rx_broken_ring_needs_reset,
		       test_reset_with_read_in_flight, test_rx_and_tx_together, test_stats_report));

	tcase_set_timeout(tc, 20);
	tc = unit_tcase(s, "multi-queue", mq_setup, mq_teardown,
			UNIT_TESTS(test_mq_features_and_config_only_with_several_pairs,
				   test_mq_queue_layout_threads_and_tap_queues,
				   test_mq_needs_ctrl_vq, test_mq_pairs_set_accepts_1_to_n_only,
				   test_mq_pairs_set_refused_with_a_pair_not_ready,
				   test_mq_malformed_commands_get_err,
				   test_mq_without_mq_the_control_queue_is_2,
				   test_mq_rx_only_on_active_pairs,
				   test_mq_tx_per_pair_and_dropped_on_inactive_pair,
				   test_mq_reset_returns_to_one_pair, test_mq_stats_report));
	tcase_set_timeout(tc, 20);
	return s;
}
