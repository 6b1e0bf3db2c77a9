/*
 * A hostile virtio-blk driver: posts malformed chains (loops, out-of-range
 * heads and next indices, buffers outside RAM, huge lengths, avail index
 * jumps, indirect tables without the feature or looping, no status byte)
 * and malformed queue set-ups.  For each, minivmm must survive and set
 * NEEDS_RESET (or refuse QueueReady); after a reset the disk must work.
 * tests/integration/virtio_blk.sh checks minivmm's log for the reports.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

static uint8_t buf[4096] __attribute__((aligned(4096)));
static struct vdesc table[4] __attribute__((aligned(16)));
static struct vblk blk;
static struct virtio_mmio_dev dev;
static unsigned int case_no;

static void fresh(uint64_t features)
{
	TEST_ASSERT(vblk_negotiate(&blk, dev.base, BIT(VF_VERSION_1) | features));
	TEST_ASSERT(vblk_start(&blk, 0));
}

static void expect_needs_reset(const char *what)
{
	vblk_kick(&blk);
	if (!vblk_wait_status(&blk, VST_NEEDS_RESET, 5000)) {
		printf("case %u (%s): no NEEDS_RESET\n", case_no, what);
		TEST_ASSERT(0);
	}
	printf("case %u (%s): NEEDS_RESET\n", case_no, what);
	case_no++;
}

static void header_at(unsigned int d, uint16_t flags, uint16_t next)
{
	blk.hdr[0] = (struct virtio_blk_req_hdr){VIRTIO_BLK_T_IN, 0, 0};
	blk.vq.desc[d] = (struct vdesc){(uintptr_t)&blk.hdr[0], 16, flags, next};
}

static void works(void)
{
	fresh(0);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 0, buf, 4096, true), VIRTIO_BLK_S_OK);
}

static uint64_t run(void *arg)
{
	(void)arg;
	fresh(0);
	header_at(0, VD_NEXT, 1);
	blk.vq.desc[1] = (struct vdesc){(uintptr_t)buf, 512, VD_NEXT, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("descriptor loop");

	fresh(0);
	vring_post(&blk.vq, 500);
	expect_needs_reset("head out of range");

	fresh(0);
	header_at(0, VD_NEXT, 4000);
	vring_post(&blk.vq, 0);
	expect_needs_reset("next out of range");

	fresh(0);
	header_at(0, VD_NEXT, 1);
	blk.vq.desc[1] = (struct vdesc){0x7fff00000000ULL, 512, VD_NEXT | VD_WRITE, 2};
	blk.vq.desc[2] = (struct vdesc){(uintptr_t)blk.status, 1, VD_WRITE, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("buffer outside RAM");

	fresh(0);
	header_at(0, VD_NEXT, 1);
	blk.vq.desc[1] = (struct vdesc){(uintptr_t)buf, 0xffffffff, VD_NEXT | VD_WRITE, 2};
	blk.vq.desc[2] = (struct vdesc){(uintptr_t)blk.status, 1, VD_WRITE, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("huge length");

	fresh(0);
	header_at(0, 0, 0);
	blk.vq.avail_idx = 1000;
	expect_needs_reset("avail index jump");

	fresh(0);
	header_at(0, 0, 0);
	vring_post(&blk.vq, 0);
	expect_needs_reset("no writable status byte");

	fresh(0);
	blk.vq.desc[0] = (struct vdesc){(uintptr_t)table, sizeof(table), VD_INDIRECT, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("indirect without the feature");

	fresh(BIT(VF_INDIRECT));
	table[0] = (struct vdesc){(uintptr_t)&blk.hdr[0], 16, VD_NEXT, 1};
	table[1] = (struct vdesc){(uintptr_t)buf, 512, VD_NEXT | VD_WRITE, 0};
	blk.vq.desc[0] = (struct vdesc){(uintptr_t)table, 2 * sizeof(table[0]), VD_INDIRECT, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("indirect loop");

	fresh(BIT(VF_INDIRECT));
	blk.vq.desc[0] = (struct vdesc){0x7fff00000000ULL, 64, VD_INDIRECT, 0};
	vring_post(&blk.vq, 0);
	expect_needs_reset("indirect table outside RAM");

	/* Malformed queue set-up: rings outside RAM, bad size. */
	TEST_ASSERT(vblk_negotiate(&blk, dev.base, BIT(VF_VERSION_1)));
	vmmio_write32(blk.base, VMMIO_QUEUE_SEL, 0);
	vmmio_write32(blk.base, VMMIO_QUEUE_NUM, 128);
	vmmio_write32(blk.base, VMMIO_QUEUE_DESC, 0);
	vmmio_write32(blk.base, VMMIO_QUEUE_DESC + 4, 0x7fff);
	vmmio_write32(blk.base, VMMIO_QUEUE_READY, 1);
	TEST_ASSERT_EQ(vmmio_read32(blk.base, VMMIO_QUEUE_READY), 0);
	vmmio_write32(blk.base, VMMIO_QUEUE_NUM, 100);
	vmmio_write32(blk.base, VMMIO_QUEUE_DESC + 4, 0);
	vmmio_write32(blk.base, VMMIO_QUEUE_READY, 1);
	TEST_ASSERT_EQ(vmmio_read32(blk.base, VMMIO_QUEUE_READY), 0);
	/* Byte-wide register access is ignored. */
	mmio_write8(dev.base + VMMIO_STATUS, 0);
	TEST_ASSERT(vmmio_read32(blk.base, VMMIO_STATUS) & VST_FEATURES_OK);
	printf("bad queue set-ups refused\n");

	works();
	printf("device works after reset\n");
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_blk_hostile: PASS (%u malformed chains survived)\n", case_no);
	return 0;
}
