/*
 * virtio-blk functional test: finds the disk from `virtio_mmio.device=`,
 * checks identification and that a legacy (no VERSION_1) driver is refused,
 * negotiates, and exercises read, write, flush, discard, write-zeroes,
 * GET_ID, error statuses and a batch of indirect requests.
 * tests/integration/virtio_blk.sh prepares the image (byte i holds
 * DISK_PATTERN(i)) and checks afterwards that the host file holds what this
 * guest wrote.  `test.ro=1` on the command line: the disk is read-only.
 * GET_ID must start with `test.serial=` (default "blk-test", the image's
 * name as minivmm reports it; a vhost-user back-end reports its own).
 * Runs at CPL3 (CPL0 is emulated on kvm_pvm hosts) and polls; no interrupts.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define DISK_PATTERN(i)	 ((uint8_t)((i)*7 + ((i) >> 9)))
#define WRITE_PATTERN(i) ((uint8_t)((i)*13 + 0x5a))

static uint8_t buf[64 * 1024] __attribute__((aligned(4096)));
static uint8_t bufs[8][4096] __attribute__((aligned(4096)));
static struct vdesc ind[8][3] __attribute__((aligned(16)));
static struct vblk blk;
static struct virtio_mmio_dev dev;

static void check_disk_pattern(const uint8_t *p, uint64_t first_byte, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != DISK_PATTERN(first_byte + i)) {
			printf("byte %lu: 0x%x, want 0x%x\n", (unsigned long)(first_byte + i), p[i],
			       DISK_PATTERN(first_byte + i));
			TEST_ASSERT(0);
		}
}

static void check_zero(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		TEST_ASSERT_EQ(p[i], 0);
}

static void test_read_only(void)
{
	TEST_ASSERT(blk.features & BIT(VIRTIO_BLK_F_RO));
	memset(buf, 0, 512);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_OUT, 100, buf, 512, false), VIRTIO_BLK_S_IOERR);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 100, buf, 512, true), VIRTIO_BLK_S_OK);
	check_disk_pattern(buf, 100 * 512, 512);
	printf("read-only: write refused with IOERR, data intact\n");
}

/* Eight 4 KiB reads through indirect tables, submitted with one kick. */
static void test_indirect_batch(void)
{
	uint16_t target = (uint16_t)(vring_used_idx(&blk.vq) + 8);

	for (unsigned int i = 0; i < 8; i++) {
		blk.hdr[i] = (struct virtio_blk_req_hdr){VIRTIO_BLK_T_IN, 0, 1000 + 8 * i};
		blk.status[i] = 0xff;
		ind[i][0] = (struct vdesc){(uintptr_t)&blk.hdr[i], 16, VD_NEXT, 1};
		ind[i][1] = (struct vdesc){(uintptr_t)bufs[i], 4096, VD_NEXT | VD_WRITE, 2};
		ind[i][2] = (struct vdesc){(uintptr_t)&blk.status[i], 1, VD_WRITE, 0};
		blk.vq.desc[3 * i] =
		    (struct vdesc){(uintptr_t)ind[i], sizeof(ind[i]), VD_INDIRECT, 0};
		vring_post(&blk.vq, (uint16_t)(3 * i));
	}
	vblk_kick(&blk);
	TEST_ASSERT(vblk_wait_used(&blk, target, 10000));
	for (unsigned int i = 0; i < 8; i++) {
		TEST_ASSERT_EQ(blk.status[i], VIRTIO_BLK_S_OK);
		check_disk_pattern(bufs[i], (1000 + 8 * i) * 512ULL, 4096);
	}
	printf("indirect batch: 8 requests, one kick\n");
}

static uint64_t run(void *arg)
{
	uint64_t expect_sectors = 0, ro = 0;
	char want_serial[21] = "blk-test";
	const uint64_t want = BIT(VF_VERSION_1) | BIT(VF_INDIRECT) | BIT(VF_EVENT_IDX) |
			      BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_DISCARD) |
			      BIT(VIRTIO_BLK_F_WRITE_ZEROES) | BIT(VIRTIO_BLK_F_RO) |
			      BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_SEG_MAX);

	(void)arg;
	cmdline_get_u64("test.sectors", &expect_sectors);
	cmdline_get("test.serial", want_serial, sizeof(want_serial));
	cmdline_get_u64("test.ro", &ro);
	blk.base = dev.base;
	TEST_ASSERT_EQ(vmmio_read32(blk.base, VMMIO_MAGIC), 0x74726976);
	TEST_ASSERT_EQ(vmmio_read32(blk.base, VMMIO_VERSION), 2);
	TEST_ASSERT_EQ(vmmio_read32(blk.base, VMMIO_DEVICE_ID), 2);
	TEST_ASSERT(vmmio_device_features(blk.base) & BIT(VF_VERSION_1));

	/* A legacy driver (no VERSION_1) is refused. */
	TEST_ASSERT(!vblk_negotiate(&blk, dev.base, want & ~BIT(VF_VERSION_1)));
	TEST_ASSERT(vblk_negotiate(&blk, dev.base, want));
	TEST_ASSERT(vblk_start(&blk, 0));
	/* Polling: ask for no interrupts (used_event far behind). */
	vring_set_used_event(&blk.vq, 0x8000);
	printf("virtio-blk at 0x%lx irq %u: %lu sectors, features 0x%lx\n", (unsigned long)dev.base,
	       dev.irq, (unsigned long)blk.capacity, (unsigned long)blk.features);
	if (expect_sectors)
		TEST_ASSERT_EQ(blk.capacity, expect_sectors);

	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 0, buf, 8192, true), VIRTIO_BLK_S_OK);
	check_disk_pattern(buf, 0, 8192);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, blk.capacity - 2, buf, 1024, true),
		       VIRTIO_BLK_S_OK);
	check_disk_pattern(buf, (blk.capacity - 2) * 512, 1024);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, blk.capacity - 1, buf, 1024, true),
		       VIRTIO_BLK_S_IOERR);
	TEST_ASSERT_EQ(vblk_do(&blk, 99, 0, buf, 512, true), VIRTIO_BLK_S_UNSUPP);
	memset(buf, 0, 32);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_GET_ID, 0, buf, 20, true), VIRTIO_BLK_S_OK);
	printf("serial: %s\n", (char *)buf);
	TEST_ASSERT(memcmp(buf, want_serial, strlen(want_serial)) == 0);
	printf("reads, bounds, GET_ID, UNSUPP ok\n");

	if (ro) {
		test_read_only();
		return 0;
	}

	/* Write 16 KiB at sector 100, flush, read back. */
	for (uint32_t i = 0; i < 16384; i++)
		buf[i] = WRITE_PATTERN(i);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_OUT, 100, buf, 16384, false), VIRTIO_BLK_S_OK);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_FLUSH, 0, buf, 0, false), VIRTIO_BLK_S_OK);
	memset(buf, 0, 16384);
	TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 100, buf, 16384, true), VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < 16384; i++)
		TEST_ASSERT_EQ(buf[i], WRITE_PATTERN(i));
	printf("write + flush + read back ok\n");

	/* Discard 200..207, write zeroes 300..303. */
	{
		struct virtio_blk_discard_write_zeroes seg = {200, 8, 0};

		TEST_ASSERT(blk.features & BIT(VIRTIO_BLK_F_DISCARD));
		TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg), false),
			       VIRTIO_BLK_S_OK);
		seg = (struct virtio_blk_discard_write_zeroes){300, 4, 0};
		TEST_ASSERT_EQ(
		    vblk_do(&blk, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), false),
		    VIRTIO_BLK_S_OK);
		TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 200, buf, 4096, true),
			       VIRTIO_BLK_S_OK);
		check_zero(buf, 4096);
		TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_IN, 300, buf, 2560, true),
			       VIRTIO_BLK_S_OK);
		check_zero(buf, 2048);
		check_disk_pattern(buf + 2048, 304 * 512, 512);
		TEST_ASSERT_EQ(vblk_do(&blk, VIRTIO_BLK_T_FLUSH, 0, buf, 0, false),
			       VIRTIO_BLK_S_OK);
	}
	printf("discard + write zeroes ok\n");
	test_indirect_batch();
	return 0;
}

int main(void)
{
	int n = cmdline_virtio_mmio(&dev, 1, NULL);

	TEST_ASSERT_EQ(n, 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_blk: PASS\n");
	return 0;
}
