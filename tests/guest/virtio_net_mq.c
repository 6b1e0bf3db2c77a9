/*
 * virtio-net multi-queue (VIRTIO_NET_F_MQ with the control queue, virtio 1.2
 * 5.1.6.5.5), driven against a multi-queue tap (tests/integration/
 * virtio_net_mq.sh).  With `test.pairs=N`:
 *  - the device offers CTRL_VQ and MQ, max_virtqueue_pairs is N, queues
 *    0..2N exist (receiveq_i = 2i, transmitq_i = 2i+1, controlq = 2N) and
 *    queue 2N+1 does not;
 *  - before VQ_PAIRS_SET only the first pair is used: the host's first
 *    frames all arrive on receiveq0;
 *  - VQ_PAIRS_SET refuses 0 and N+1 and accepts N;
 *  - each transmit queue sends its own frames (the host captures them all);
 *  - the host's UDP frames of many flows then arrive, each once, spread by
 *    the tap over more than one receive queue (N > 1).
 * The host waits for "vnet-mq: phase K" before injecting phase K's frames.
 * Frames: TX frame k as net_frames.c (queue pair i sends k = i*TXN .. );
 * RX: IPv4/UDP to port 9, payload k (16-bit BE) then (k*17 + i) bytes,
 * as tests/integration/lib/frames.py inject-udp makes them.  Polls; CPL3.
 */
#include "net_frames.h"
#include "rt.h"

#define MINIVMM_FREESTANDING
#include "../../virtio/net.h"
#include "virtio_mmio.h"

#define MAX_PAIRS 8
#define QSIZE	  32
#define RX_BUF	  2048
#define HDR	  12 /* virtio_net_hdr_v1 */
#define TXN	  8  /* frames per transmit queue */
#define RX_PHASE1 16 /* frames before VQ_PAIRS_SET */
#define RX_PHASE2 64 /* frames (flows) after it */
#define NOCLEAR	  __attribute__((section(".bss.noclear"), aligned(4096)))
#define NQ	  (2 * MAX_PAIRS + 1)

static struct vdesc ring_desc[NQ][QSIZE] NOCLEAR;
static uint16_t ring_avail[NQ][3 + QSIZE] NOCLEAR;
static uint32_t ring_used[NQ][2 + 2 * QSIZE] NOCLEAR;
static uint8_t rx_buf[MAX_PAIRS][QSIZE][RX_BUF] NOCLEAR;
static uint8_t tx_buf[MAX_PAIRS][TXN][HDR + NET_FRAME_MAX] NOCLEAR;
static struct vring vq[NQ];
static uint16_t used_seen[NQ];
static uint8_t seen[RX_PHASE2];
static unsigned int per_queue[MAX_PAIRS];
static uint8_t ctrl_cmd[8] __attribute__((aligned(64)));
static volatile uint8_t ctrl_ack;

static struct virtio_mmio_dev dev;
static uint64_t base;
static unsigned int pairs;
static uint8_t mac[6];

static bool setup_queue(unsigned int q)
{
	if (vmmio_queue_select(base, q) < QSIZE)
		return false;
	memset(ring_desc[q], 0, sizeof(ring_desc[q]));
	memset(ring_avail[q], 0, sizeof(ring_avail[q]));
	memset(ring_used[q], 0, sizeof(ring_used[q]));
	vq[q] = (struct vring){QSIZE, ring_desc[q], ring_avail[q], ring_used[q], 0};
	used_seen[q] = 0;
	return vmmio_queue_enable(base, &vq[q]);
}

/* Every buffer of receiveq_i, posted. */
static void post_rx(unsigned int i)
{
	struct vring *r = &vq[2 * i];

	for (uint16_t d = 0; d < QSIZE; d++) {
		r->desc[d] = (struct vdesc){(uintptr_t)rx_buf[i][d], RX_BUF, VD_WRITE, 0};
		vring_post(r, d);
	}
	vring_publish(r);
	vmmio_write32(base, VMMIO_QUEUE_NOTIFY, 2 * i);
}

/* Gives buffer d of receiveq_i back. */
static void repost_rx(unsigned int i, uint16_t d)
{
	vring_post(&vq[2 * i], d);
	vring_publish(&vq[2 * i]);
	vmmio_write32(base, VMMIO_QUEUE_NOTIFY, 2 * i);
}

struct used_wait {
	unsigned int q;
	uint16_t target;
};

static bool used_reached(void *arg)
{
	const struct used_wait *w = arg;

	return (uint16_t)(vring_used_idx(&vq[w->q]) - w->target) < 0x8000;
}

static bool wait_used(unsigned int q, uint16_t target, uint64_t ms)
{
	struct used_wait w = {q, target};

	return spin_until(used_reached, &w, ms);
}

/* One control command: class, command, a 16-bit argument; the ack byte. */
static uint8_t ctrl(uint8_t class, uint8_t cmd, uint16_t arg)
{
	unsigned int q = 2 * pairs;
	struct vring *r = &vq[q];

	ctrl_cmd[0] = class;
	ctrl_cmd[1] = cmd;
	ctrl_cmd[2] = (uint8_t)arg; /* little-endian */
	ctrl_cmd[3] = (uint8_t)(arg >> 8);
	ctrl_ack = 0xff;
	r->desc[0] = (struct vdesc){(uintptr_t)ctrl_cmd, 2, VD_NEXT, 1};
	r->desc[1] = (struct vdesc){(uintptr_t)&ctrl_cmd[2], 2, VD_NEXT, 2};
	r->desc[2] = (struct vdesc){(uintptr_t)&ctrl_ack, 1, VD_WRITE, 0};
	vring_post(r, 0);
	vring_publish(r);
	vmmio_write32(base, VMMIO_QUEUE_NOTIFY, q);
	TEST_ASSERT(wait_used(q, r->avail_idx, 10000));
	return ctrl_ack;
}

/* TXN frames on transmitq_i: k = i * TXN + j. */
static void send_on(unsigned int i)
{
	struct vring *r = &vq[2 * i + 1];

	for (uint16_t j = 0; j < TXN; j++) {
		uint8_t *b = tx_buf[i][j];
		uint32_t len;

		memset(b, 0, HDR);
		len = net_tx_frame(b + HDR, i * TXN + j, mac);
		r->desc[j] = (struct vdesc){(uintptr_t)b, HDR + len, 0, 0};
		vring_post(r, j);
	}
	vring_publish(r);
	vmmio_write32(base, VMMIO_QUEUE_NOTIFY, 2 * i + 1);
	TEST_ASSERT(wait_used(2 * i + 1, r->avail_idx, 10000));
}

/* Checks a received UDP frame and returns its k, or -1. */
static int udp_frame_k(const uint8_t *f, uint32_t len)
{
	uint32_t k, n;

	if (len < 14 + 20 + 8 + 2 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17 ||
	    memcmp(f, mac, 6) != 0 || f[36] != 0 || f[37] != 9)
		return -1;
	k = (uint32_t)f[42] << 8 | f[43];
	n = len - 44;
	for (uint32_t b = 0; b < n; b++)
		if (f[44 + b] != (uint8_t)(k * 17 + b))
			return -1;
	return (int)k;
}

/* Takes what arrived on receiveq_i, marks each k seen; false on a bad frame. */
static bool drain_rx(unsigned int i, unsigned int *count)
{
	struct vring *r = &vq[2 * i];

	while (used_seen[2 * i] != vring_used_idx(r)) {
		uint16_t u = used_seen[2 * i]++;
		uint16_t d = (uint16_t)vring_used_id(r, u);
		uint32_t len = vring_used_len(r, u);
		int k;

		if (d >= QSIZE || len < HDR)
			return false;
		k = udp_frame_k(rx_buf[i][d] + HDR, len - HDR);
		if (k < 0 || k >= RX_PHASE2 || seen[k]) {
			printf("receiveq%u: bad or repeated frame (k %d, %u bytes)\n", i, k, len);
			return false;
		}
		seen[k] = 1;
		per_queue[i]++;
		(*count)++;
		repost_rx(i, d);
	}
	return true;
}

/* Until want frames have arrived over the first `active` receive queues. */
static void receive(unsigned int active, unsigned int want)
{
	uint64_t deadline = rdtsc() + 20000 * tsc_per_ms();
	unsigned int count = 0;

	memset(seen, 0, sizeof(seen));
	memset(per_queue, 0, sizeof(per_queue));
	while (count < want && rdtsc() < deadline)
		for (unsigned int i = 0; i < pairs; i++)
			TEST_ASSERT(drain_rx(i, &count));
	printf("received %u of %u:", count, want);
	for (unsigned int i = 0; i < pairs; i++)
		printf(" rx%u=%u", i, per_queue[i]);
	printf("\n");
	TEST_ASSERT_EQ(count, want);
	for (unsigned int i = active; i < pairs; i++)
		TEST_ASSERT_EQ(per_queue[i], 0);
}

static uint64_t run(void *arg)
{
	const uint64_t want = BIT(VF_VERSION_1) | BIT(VIRTIO_NET_F_MAC) |
			      BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ);
	uint64_t expect = 1, features;
	unsigned int spread = 0;

	(void)arg;
	cmdline_get_u64("test.pairs", &expect);
	TEST_ASSERT(expect >= 1 && expect <= MAX_PAIRS);
	base = dev.base;
	TEST_ASSERT_EQ(vmmio_read32(base, VMMIO_DEVICE_ID), VMMIO_ID_NET);
	TEST_ASSERT(vmmio_negotiate(base, want, &features));
	TEST_ASSERT(features & BIT(VIRTIO_NET_F_CTRL_VQ));
	TEST_ASSERT(features & BIT(VIRTIO_NET_F_MQ));
	for (unsigned int b = 0; b < 6; b++)
		mac[b] = (uint8_t)(vmmio_read32(base, VMMIO_CONFIG + (b & ~3u)) >> (8 * (b & 3)));
	pairs = (uint16_t)vmmio_read32(base, VMMIO_CONFIG + 8);
	printf("vnet-mq: max_virtqueue_pairs %u, want %lu\n", pairs, (unsigned long)expect);
	TEST_ASSERT_EQ(pairs, expect);
	for (unsigned int q = 0; q <= 2 * pairs; q++)
		TEST_ASSERT(setup_queue(q));
	TEST_ASSERT_EQ(vmmio_queue_select(base, 2 * pairs + 1), 0);
	TEST_ASSERT(vmmio_driver_ok(base));
	for (unsigned int i = 0; i < pairs; i++)
		post_rx(i);

	/* Until VQ_PAIRS_SET, one pair: every frame on receiveq0. */
	printf("vnet-mq: phase 1\n");
	receive(1, RX_PHASE1);

	TEST_ASSERT_EQ(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0),
		       VIRTIO_NET_ERR);
	TEST_ASSERT_EQ(
	    ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint16_t)(pairs + 1)),
	    VIRTIO_NET_ERR);
	TEST_ASSERT_EQ(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint16_t)pairs),
		       VIRTIO_NET_OK);
	printf("vnet-mq: VQ_PAIRS_SET: 0 and %u refused, %u accepted\n", pairs + 1, pairs);

	for (unsigned int i = 0; i < pairs; i++)
		send_on(i);
	printf("vnet-mq: sent %u frames on each of %u transmit queues\n", TXN, pairs);

	printf("vnet-mq: phase 2\n");
	receive(pairs, RX_PHASE2);
	for (unsigned int i = 0; i < pairs; i++)
		spread += per_queue[i] != 0;
	/* 64 flows all hashed to one of N > 1 queues: 2^-63 for N = 2. */
	if (pairs > 1)
		TEST_ASSERT(spread > 1);
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_net_mq: PASS\n");
	return 0;
}
