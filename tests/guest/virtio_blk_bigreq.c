/*
 * A virtio-blk driver that asks for as much host memory as it can with
 * little of its own (issue 11): requests of seg_max misaligned buffers of
 * size_max bytes each, all the same 1 MiB of guest RAM, several in flight
 * at once, reads and writes; then requests over each advertised limit,
 * which must be refused with IOERR while the disk keeps working.
 * tests/integration/virtio_blk_memory.sh compares minivmm's peak RSS with
 * that of a run with test.big=0 (the same requests, one sector each), and
 * with test.flood=1 (big reads without end) times SIGTERM.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define INFLIGHT   8   /* requests in flight at once */
#define TABLE_LEN  256 /* descriptors per indirect table */
#define WRITE_SEGS 4   /* a write's segments: 4 MiB to the image */

static uint8_t data[(2u << 20) + 4096] __attribute__((aligned(4096)));
static struct vdesc tables[INFLIGHT][TABLE_LEN] __attribute__((aligned(16)));
static struct vblk blk;
static struct virtio_mmio_dev dev;

/*
 * Slot s: an IN or OUT of nseg buffers of seg_len bytes, every one at
 * data + 1 (misaligned, overlapping), through indirect table s.  A chain
 * one descriptor too long for the table (an IN only) has its status byte
 * as one more byte of the last buffer.  Returns where the status goes.
 */
static volatile uint8_t *queue_big(unsigned int s, uint32_t type, uint64_t sector,
				   unsigned int nseg, uint32_t seg_len)
{
	uint16_t w = type == VIRTIO_BLK_T_IN ? VD_WRITE : 0;
	bool shared = nseg + 2 > TABLE_LEN;
	volatile uint8_t *status = shared ? data + 1 + seg_len : &blk.status[s];
	struct vdesc *t = tables[s];
	uint16_t n = 0;

	TEST_ASSERT(nseg + 1 <= TABLE_LEN && (!shared || w));
	blk.hdr[s] = (struct virtio_blk_req_hdr){type, 0, sector};
	*status = 0xff;
	t[n] = (struct vdesc){(uintptr_t)&blk.hdr[s], 16, VD_NEXT, (uint16_t)(n + 1)};
	n++;
	for (unsigned int k = 0; k < nseg; k++, n++) {
		bool last = k == nseg - 1;

		t[n] = (struct vdesc){(uintptr_t)(data + 1), seg_len + (last && shared ? 1 : 0),
				      (uint16_t)(last && shared ? w : (VD_NEXT | w)),
				      (uint16_t)(n + 1)};
	}
	if (!shared) {
		t[n] = (struct vdesc){(uintptr_t)&blk.status[s], 1, VD_WRITE, 0};
		n++;
	}
	blk.vq.desc[3 * s] = (struct vdesc){(uintptr_t)t, n * (uint32_t)sizeof(*t), VD_INDIRECT, 0};
	vring_post(&blk.vq, (uint16_t)(3 * s));
	return status;
}

/* Kick the count requests queued and wait for them. */
static void run_batch(unsigned int count)
{
	uint16_t target = (uint16_t)(vring_used_idx(&blk.vq) + count);

	vblk_kick(&blk);
	TEST_ASSERT(vblk_wait_used(&blk, target, 60000));
}

static uint8_t one_big(uint32_t type, unsigned int nseg, uint32_t seg_len)
{
	volatile uint8_t *status = queue_big(0, type, 0, nseg, seg_len);

	run_batch(1);
	return *status;
}

static uint64_t run(void *arg)
{
	uint64_t big = 1, flood = 0;
	uint32_t size_max, seg_max, seg_len;
	unsigned int nseg;
	bool limits;

	(void)arg;
	cmdline_get_u64("test.big", &big);
	TEST_ASSERT(vblk_negotiate(&blk, dev.base,
				   BIT(VF_VERSION_1) | BIT(VF_INDIRECT) |
				       BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX)));
	TEST_ASSERT(vblk_start(&blk, 0));
	/* Without the features (a device that sets no limits), the sizes
	 * Linux would use; the over-limit requests are then not sent. */
	limits =
	    blk.features & BIT(VIRTIO_BLK_F_SIZE_MAX) && blk.features & BIT(VIRTIO_BLK_F_SEG_MAX);
	size_max = limits ? vmmio_read32(blk.base, VMMIO_CONFIG + 8) : 1u << 20;
	seg_max = limits ? vmmio_read32(blk.base, VMMIO_CONFIG + 12) : 254;
	printf("size_max %u seg_max %u capacity %lu\n", size_max, seg_max,
	       (unsigned long)blk.capacity);
	TEST_ASSERT(size_max >= 4096 && size_max <= (1u << 20));
	TEST_ASSERT(seg_max >= 1 && seg_max + 2 <= TABLE_LEN);
	nseg = big ? seg_max : 1;
	seg_len = big ? size_max : 512;
	TEST_ASSERT(blk.capacity * 512 >= (uint64_t)nseg * seg_len);
	memset(data, 0x5a, sizeof(data));

	/* test.flood=1: big reads without end, for SIGTERM during them. */
	cmdline_get_u64("test.flood", &flood);
	for (unsigned int batch = 0; flood; batch++) {
		for (unsigned int s = 0; s < INFLIGHT; s++)
			queue_big(s, VIRTIO_BLK_T_IN, 0, nseg, seg_len);
		/* Said once the second batch is on its way: from here on,
		 * requests are in flight nearly all the time. */
		if (batch == 1)
			printf("virtio_blk_bigreq: flooding\n");
		run_batch(INFLIGHT);
	}

	/* Within the limits: INFLIGHT reads at once, twice over. */
	for (unsigned int round = 0; round < 2; round++) {
		for (unsigned int s = 0; s < INFLIGHT; s++)
			queue_big(s, VIRTIO_BLK_T_IN, 0, nseg, seg_len);
		run_batch(INFLIGHT);
		for (unsigned int s = 0; s < INFLIGHT; s++)
			TEST_ASSERT_EQ(blk.status[s], VIRTIO_BLK_S_OK);
	}
	printf("%u reads of %u x %u bytes in flight: OK\n", INFLIGHT, nseg, seg_len);
	/* And writes (fewer segments: each writes the image for real). */
	for (unsigned int s = 0; s < INFLIGHT; s++)
		queue_big(s, VIRTIO_BLK_T_OUT, (uint64_t)s * WRITE_SEGS * seg_len / 512,
			  big ? WRITE_SEGS : 1, seg_len);
	run_batch(INFLIGHT);
	for (unsigned int s = 0; s < INFLIGHT; s++)
		TEST_ASSERT_EQ(blk.status[s], VIRTIO_BLK_S_OK);
	printf("%u writes in flight: OK\n", INFLIGHT);

	/* Over the limits: refused, and the disk still works. */
	if (!limits) {
		printf("no size_max/seg_max offered: over-limit requests not sent\n");
		return 0;
	}
	TEST_ASSERT_EQ(one_big(VIRTIO_BLK_T_IN, seg_max + 1, 512), VIRTIO_BLK_S_IOERR);
	TEST_ASSERT_EQ(one_big(VIRTIO_BLK_T_IN, 1, size_max + 512), VIRTIO_BLK_S_IOERR);
	TEST_ASSERT_EQ(one_big(VIRTIO_BLK_T_OUT, 1, size_max + 512), VIRTIO_BLK_S_IOERR);
	TEST_ASSERT_EQ(one_big(VIRTIO_BLK_T_IN, seg_max, 2 * size_max), VIRTIO_BLK_S_IOERR);
	printf("requests over size_max/seg_max: IOERR\n");
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 0, data, 4096, true), VIRTIO_BLK_S_OK);
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_blk_bigreq: PASS\n");
	return 0;
}
