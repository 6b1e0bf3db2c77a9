/*
 * virtio-blk under host faults and crashes (issue 11), driven by
 * tests/integration/virtio_blk_faults.sh.  `test.mode=` picks what it does:
 *
 *   full     (default) the image lies on a host file system too small for it:
 *            write an allocated region, then write 1 MiB after 1 MiB beyond
 *            it until the host runs out of space.  That write must come back
 *            VIRTIO_BLK_S_IOERR, and afterwards the device must still work:
 *            no NEEDS_RESET, the allocated region reads and writes, FLUSH
 *            succeeds, a write beyond still fails cleanly.
 *   durable  write a pattern (seeded by `test.seed=`) to DURABLE_SECTOR,
 *            FLUSH, print DURABLE_MARKER, then keep writing elsewhere until
 *            the host kills minivmm with SIGKILL; the host checks the pattern
 *            reached the image.
 *   hold     read sector 0, print HOLD_MARKER, spin until killed (keeps the
 *            image open, and so locked, for the lock checks).
 *   read     read sector 0 and pass (a second user of a shared image).
 *
 * Runs at CPL3 (CPL0 is emulated on kvm_pvm hosts) and polls; no interrupts.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define MIB		 (1u << 20)
#define ALLOC_BYTES	 (256u * 1024) /* the region written before the disk fills */
#define FILL_FROM	 MIB	       /* where the filling writes start */
#define DURABLE_SECTOR	 2048	       /* 1 MiB */
#define DURABLE_BYTES	 (256u * 1024)
#define DURABLE_MARKER	 "virtio_blk_faults: FLUSHED"
#define HOLD_MARKER	 "virtio_blk_faults: HOLDING"
#define FULL_PATTERN(i)	 ((uint8_t)((i)*11 + 3))
#define AFTER_PATTERN(i) ((uint8_t)((i)*5 + 0x77))

static uint8_t big[MIB] __attribute__((aligned(4096)));
static uint8_t small[ALLOC_BYTES] __attribute__((aligned(4096)));
static struct vblk blk;
static struct virtio_mmio_dev dev;

/* Byte i of the durable region for a seed; the host script computes the same. */
static uint8_t durable_byte(uint64_t seed, uint32_t i)
{
	return (uint8_t)((i * 31 + (i >> 9) + seed * 101) & 0xff);
}

static void fill_pattern(uint8_t *p, uint32_t len, uint8_t (*pat)(uint32_t))
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = pat(i);
}

static void check_pattern(const uint8_t *p, uint32_t len, uint8_t (*pat)(uint32_t))
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != pat(i)) {
			printf("byte %u: 0x%x, want 0x%x\n", i, p[i], pat(i));
			TEST_ASSERT(0);
		}
}

static uint8_t full_pattern(uint32_t i)
{
	return FULL_PATTERN(i);
}

static uint8_t after_pattern(uint32_t i)
{
	return AFTER_PATTERN(i);
}

static void assert_device_healthy(void)
{
	uint32_t status = vmmio_read32(blk.base, VMMIO_STATUS);

	TEST_ASSERT_EQ(status & VST_NEEDS_RESET, 0);
}

/* One request of len bytes from/to p; the status byte. */
static uint8_t rw(uint32_t type, uint64_t sector, void *p, uint32_t len)
{
	return vblk_do(&blk, type, sector, p, len, type == VIRTIO_BLK_T_IN);
}

static void mode_full(void)
{
	uint64_t sector = FILL_FROM / 512, mib = 0;
	uint8_t st = VIRTIO_BLK_S_OK;

	/* The allocated region, while there is room. */
	fill_pattern(small, ALLOC_BYTES, full_pattern);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_OUT, 0, small, ALLOC_BYTES), VIRTIO_BLK_S_OK);
	memset(small, 0, ALLOC_BYTES);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_IN, 0, small, ALLOC_BYTES), VIRTIO_BLK_S_OK);
	check_pattern(small, ALLOC_BYTES, full_pattern);

	/* Fill the host file system: one of these writes must fail. */
	memset(big, 0xa5, sizeof(big));
	for (; sector + MIB / 512 <= blk.capacity; sector += MIB / 512, mib++) {
		st = rw(VIRTIO_BLK_T_OUT, sector, big, MIB);
		if (st != VIRTIO_BLK_S_OK)
			break;
	}
	printf("%lu MiB written, then status %u at sector %lu\n", (unsigned long)mib, st,
	       (unsigned long)sector);
	TEST_ASSERT_EQ(st, VIRTIO_BLK_S_IOERR);
	printf("write beyond the space left: IOERR\n");

	/* The device is still there and usable. */
	assert_device_healthy();
	memset(small, 0, ALLOC_BYTES);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_IN, 0, small, ALLOC_BYTES), VIRTIO_BLK_S_OK);
	check_pattern(small, ALLOC_BYTES, full_pattern);
	fill_pattern(small, ALLOC_BYTES, after_pattern);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_OUT, 0, small, ALLOC_BYTES), VIRTIO_BLK_S_OK);
	memset(small, 0, ALLOC_BYTES);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_IN, 0, small, ALLOC_BYTES), VIRTIO_BLK_S_OK);
	check_pattern(small, ALLOC_BYTES, after_pattern);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	printf("after the error: allocated region read and rewritten, flush OK\n");
	/* Still full: the same write fails again, and nothing hangs. */
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_OUT, sector, big, MIB), VIRTIO_BLK_S_IOERR);
	assert_device_healthy();
	printf("write beyond again: IOERR, device healthy\n");
}

/* Never returns: the host kills minivmm once it has seen the marker. */
static void mode_durable(void)
{
	uint64_t seed = 0, n = 0;

	cmdline_get_u64("test.seed", &seed);
	for (uint32_t i = 0; i < DURABLE_BYTES; i++)
		small[i] = durable_byte(seed, i);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_OUT, DURABLE_SECTOR, small, DURABLE_BYTES), VIRTIO_BLK_S_OK);
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	printf("%s seed=%lu\n", DURABLE_MARKER, (unsigned long)seed);
	/* More I/O in flight when the kill comes, away from the flushed region. */
	memset(big, 0x3c, sizeof(big));
	for (;; n++)
		TEST_ASSERT_EQ(
		    rw(VIRTIO_BLK_T_OUT, 8 * MIB / 512 + (n % 8) * (MIB / 512), big, MIB),
		    VIRTIO_BLK_S_OK);
}

static void mode_read(void)
{
	TEST_ASSERT_EQ(rw(VIRTIO_BLK_T_IN, 0, small, 512), VIRTIO_BLK_S_OK);
}

static uint64_t run(void *arg)
{
	char mode[16] = "full";

	(void)arg;
	cmdline_get("test.mode", mode, sizeof(mode));
	TEST_ASSERT(vblk_negotiate(
	    &blk, dev.base, BIT(VF_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_RO)));
	TEST_ASSERT(vblk_start(&blk, 0));
	printf("mode %s, capacity %lu sectors\n", mode, (unsigned long)blk.capacity);
	TEST_ASSERT(blk.capacity * 512 >= 16 * MIB);
	if (!strcmp(mode, "full")) {
		TEST_ASSERT(blk.features & BIT(VIRTIO_BLK_F_FLUSH));
		mode_full();
	} else if (!strcmp(mode, "durable")) {
		TEST_ASSERT(blk.features & BIT(VIRTIO_BLK_F_FLUSH));
		mode_durable();
	} else if (!strcmp(mode, "hold")) {
		mode_read();
		printf("%s\n", HOLD_MARKER);
		for (;;)
			__asm__ volatile("pause");
	} else if (!strcmp(mode, "read")) {
		mode_read();
	} else {
		printf("unknown test.mode=%s\n", mode);
		return 1;
	}
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("virtio_blk_faults: PASS\n");
	return 0;
}
