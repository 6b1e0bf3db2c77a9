/*
 * virtio-blk multi-queue (VIRTIO_BLK_F_MQ): the device offers `test.queues=`
 * request queues and serves each on its own.  Checks that num_queues in the
 * config matches, that every queue up to it can be set up and none beyond
 * it, that a request kicked on queue q completes in queue q's used ring and
 * in no other, that all queues work at once, and that a write through one
 * queue is what another reads.  The image holds DISK_PATTERN (the same as
 * virtio_blk.c: tests/integration/lib/blk_image.sh).  Runs at CPL3 and
 * polls; no interrupts.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define DISK_PATTERN(i)	 ((uint8_t)((i)*7 + ((i) >> 9)))
#define WRITE_PATTERN(i) ((uint8_t)((i)*29 + 0x11))
#define MAX_QUEUES	 8
#define QSIZE		 16

static struct vdesc ring_desc[MAX_QUEUES][QSIZE] __attribute__((aligned(4096)));
static uint16_t ring_avail[MAX_QUEUES][3 + QSIZE] __attribute__((aligned(4096)));
static uint32_t ring_used[MAX_QUEUES][2 + 2 * QSIZE] __attribute__((aligned(4096)));
static struct virtio_blk_req_hdr hdr[MAX_QUEUES] __attribute__((aligned(64)));
static volatile uint8_t status[MAX_QUEUES];
static uint8_t buf[MAX_QUEUES][4096] __attribute__((aligned(4096)));
static struct vring vq[MAX_QUEUES];
static struct virtio_mmio_dev dev;
static uint64_t base;
static unsigned int nq;

/* One request on queue q (descriptors 0..2 of that queue), not yet kicked. */
static void post(unsigned int q, uint32_t type, uint64_t sector, bool device_writes)
{
	hdr[q] = (struct virtio_blk_req_hdr){type, 0, sector};
	status[q] = 0xff;
	vq[q].desc[0] = (struct vdesc){(uintptr_t)&hdr[q], 16, VD_NEXT, 1};
	vq[q].desc[1] = (struct vdesc){(uintptr_t)buf[q], 4096,
				       (uint16_t)(VD_NEXT | (device_writes ? VD_WRITE : 0)), 2};
	vq[q].desc[2] = (struct vdesc){(uintptr_t)&status[q], 1, VD_WRITE, 0};
	vring_post(&vq[q], 0);
	vring_publish(&vq[q]);
}

static void kick(unsigned int q)
{
	vmmio_write32(base, VMMIO_QUEUE_NOTIFY, q);
}

struct used_wait {
	unsigned int q;
	uint16_t target;
};

static bool used_reached(void *arg)
{
	const struct used_wait *w = arg;

	return vring_used_idx(&vq[w->q]) == w->target;
}

static void wait_used(unsigned int q)
{
	struct used_wait w = {q, vq[q].avail_idx};

	TEST_ASSERT(spin_until(used_reached, &w, 10000));
	TEST_ASSERT_EQ(vring_used_id(&vq[q], (uint16_t)(w.target - 1)), 0);
	TEST_ASSERT_EQ(status[q], VIRTIO_BLK_S_OK);
}

static void check_pattern(unsigned int q, uint64_t sector)
{
	for (uint32_t i = 0; i < 4096; i++)
		TEST_ASSERT_EQ(buf[q][i], DISK_PATTERN(sector * 512 + i));
}

static uint64_t run(void *arg)
{
	const uint64_t want = BIT(VF_VERSION_1) | BIT(VIRTIO_BLK_F_MQ);
	uint64_t expect = 1, features;
	uint16_t num_queues;

	(void)arg;
	cmdline_get_u64("test.queues", &expect);
	TEST_ASSERT(expect >= 1 && expect <= MAX_QUEUES);
	base = dev.base;
	TEST_ASSERT_EQ(vmmio_read32(base, VMMIO_DEVICE_ID), VMMIO_ID_BLOCK);
	TEST_ASSERT(vmmio_negotiate(base, want, &features));
	num_queues = (uint16_t)(vmmio_read32(base, VMMIO_CONFIG + 32) >> 16);
	printf("virtio-blk: MQ %s, num_queues %u, want %lu\n",
	       features & BIT(VIRTIO_BLK_F_MQ) ? "offered" : "not offered", num_queues,
	       (unsigned long)expect);
	if (expect > 1) {
		TEST_ASSERT(features & BIT(VIRTIO_BLK_F_MQ));
		TEST_ASSERT_EQ(num_queues, expect);
	} else {
		TEST_ASSERT(!(features & BIT(VIRTIO_BLK_F_MQ)) || num_queues == 1);
	}
	nq = (unsigned int)expect;

	for (unsigned int q = 0; q < nq; q++) {
		TEST_ASSERT(vmmio_queue_select(base, q) >= QSIZE);
		vq[q] = (struct vring){QSIZE, ring_desc[q], ring_avail[q], ring_used[q], 0};
		TEST_ASSERT(vmmio_queue_enable(base, &vq[q]));
	}
	/* No queue past num_queues: QueueNumMax 0 means "not available". */
	TEST_ASSERT_EQ(vmmio_queue_select(base, nq), 0);
	TEST_ASSERT(vmmio_driver_ok(base));

	/* One queue at a time: the completion lands in that queue only. */
	for (unsigned int q = 0; q < nq; q++) {
		uint16_t before[MAX_QUEUES];

		for (unsigned int o = 0; o < nq; o++)
			before[o] = vring_used_idx(&vq[o]);
		post(q, VIRTIO_BLK_T_IN, 64 + 8 * q, true);
		kick(q);
		wait_used(q);
		check_pattern(q, 64 + 8 * q);
		for (unsigned int o = 0; o < nq; o++)
			if (o != q)
				TEST_ASSERT_EQ(vring_used_idx(&vq[o]), before[o]);
	}
	printf("one request per queue, each completed on its own queue\n");

	/* All at once: every queue has a request in flight before any kick. */
	for (unsigned int q = 0; q < nq; q++)
		post(q, VIRTIO_BLK_T_IN, 256 + 8 * q, true);
	for (unsigned int q = nq; q-- > 0;)
		kick(q);
	for (unsigned int q = 0; q < nq; q++) {
		wait_used(q);
		check_pattern(q, 256 + 8 * q);
	}
	printf("%u queues at once\n", nq);

	/* Written through the last queue, read through the first. */
	for (uint32_t i = 0; i < 4096; i++)
		buf[nq - 1][i] = WRITE_PATTERN(i);
	post(nq - 1, VIRTIO_BLK_T_OUT, 512, false);
	kick(nq - 1);
	wait_used(nq - 1);
	memset(buf[0], 0, 4096);
	post(0, VIRTIO_BLK_T_IN, 512, true);
	kick(0);
	wait_used(0);
	for (uint32_t i = 0; i < 4096; i++)
		TEST_ASSERT_EQ(buf[0][i], WRITE_PATTERN(i));
	printf("write on queue %u, read back on queue 0\n", nq - 1);
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_blk_mq: PASS\n");
	return 0;
}
