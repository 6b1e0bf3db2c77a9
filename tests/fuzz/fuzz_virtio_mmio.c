/*
 * The virtio-mmio transport (virtio/mmio.c) under sequences of register
 * accesses at any offset, of any width and value, with a virtio-blk device
 * (sync engine, memfd image) behind it and its real I/O thread.
 *
 * Status is read back after every access.  Invariants:
 *  - Status only holds the six defined bits, and each driver step bit
 *    implies the earlier ones (ACKNOWLEDGE <- DRIVER <- FEATURES_OK <-
 *    DRIVER_OK);
 *  - a write of 0 resets it to 0; otherwise bits are never lost, a Status
 *    write gains at most one step bit, none after FAILED, and no other
 *    register changes Status (the device may add NEEDS_RESET at any time);
 *  - FEATURES_OK is only ever set with driver features the device offered,
 *    VIRTIO_F_VERSION_1 among them;
 *  - fixed registers read their fixed values, reads the spec does not
 *    define read as zero;
 *  - after the input, Status=0 and the normal init sequence bring the
 *    device up to exactly ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK, and a
 *    read request completes with the image's bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fake_vm.h"
#include "fuzz_input.h"
#include "mmio_driver.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtq_driver.h"
#include "vm_config.h"
#include "virtio_fuzz_support.h"

#define RAM_SIZE    (1u << 20)
#define DISK_BYTES  (64u << 10)
#define QSIZE	    16
#define RINGS	    0x10000u
#define REQ_HDR	    0x20000u
#define REQ_DATA    0x21000u
#define REQ_STATUS  0x22000u
#define STATUS_BITS 0xcfu /* ACK, DRIVER, DRIVER_OK, FEATURES_OK, NEEDS_RESET, FAILED */
#define STEP_BITS                                                                                  \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |            \
	 VIRTIO_STATUS_DRIVER_OK)

static struct vm *vm;
static struct virtio_blk *blk;
static struct virtio_device *dev;
static uint64_t offered;
/* Config space as read at start-up, 4 bytes at a time; it never changes. */
static uint8_t config[sizeof(struct virtio_blk_config)];
static struct tdrv drv;

/* The registers, so that most accesses hit one. */
static const uint16_t registers[] = {
    VIRTIO_MMIO_MAGIC_VALUE,	  VIRTIO_MMIO_VERSION,
    VIRTIO_MMIO_DEVICE_ID,	  VIRTIO_MMIO_VENDOR_ID,
    VIRTIO_MMIO_DEVICE_FEATURES,  VIRTIO_MMIO_DEVICE_FEATURES_SEL,
    VIRTIO_MMIO_DRIVER_FEATURES,  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
    VIRTIO_MMIO_QUEUE_SEL,	  VIRTIO_MMIO_QUEUE_NUM_MAX,
    VIRTIO_MMIO_QUEUE_NUM,	  VIRTIO_MMIO_QUEUE_READY,
    VIRTIO_MMIO_QUEUE_NOTIFY,	  VIRTIO_MMIO_INTERRUPT_STATUS,
    VIRTIO_MMIO_INTERRUPT_ACK,	  VIRTIO_MMIO_STATUS,
    VIRTIO_MMIO_QUEUE_DESC_LOW,	  VIRTIO_MMIO_QUEUE_DESC_HIGH,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW, VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW, VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
    VIRTIO_MMIO_SHM_SEL,	  VIRTIO_MMIO_SHM_LEN_LOW,
    VIRTIO_MMIO_SHM_LEN_HIGH,	  VIRTIO_MMIO_SHM_BASE_LOW,
    VIRTIO_MMIO_SHM_BASE_HIGH,	  VIRTIO_MMIO_CONFIG_GENERATION,
    VIRTIO_MMIO_CONFIG,		  VIRTIO_MMIO_CONFIG + 8,
};

static uint32_t fmmio_status_now(void)
{
	return tmmio_read(dev, VIRTIO_MMIO_STATUS);
}

/* The checks after an access; prev is Status before it. */
static uint32_t fmmio_check_status(uint32_t prev, bool status_write, uint32_t value)
{
	uint32_t s = fmmio_status_now(), gained = s & ~prev;

	VFUZZ_CHECK(!(s & ~STATUS_BITS), "Status 0x%x has undefined bits", s);
	VFUZZ_CHECK(!(s & VIRTIO_STATUS_DRIVER) || (s & VIRTIO_STATUS_ACKNOWLEDGE),
		    "Status 0x%x: DRIVER without ACKNOWLEDGE", s);
	VFUZZ_CHECK(!(s & VIRTIO_STATUS_FEATURES_OK) || (s & VIRTIO_STATUS_DRIVER),
		    "Status 0x%x: FEATURES_OK without DRIVER", s);
	VFUZZ_CHECK(!(s & VIRTIO_STATUS_DRIVER_OK) || (s & VIRTIO_STATUS_FEATURES_OK),
		    "Status 0x%x: DRIVER_OK without FEATURES_OK", s);
	if (status_write && value == 0) {
		VFUZZ_CHECK(s == 0, "Status 0x%x after a reset", s);
		return s;
	}
	VFUZZ_CHECK(!(prev & ~s), "Status 0x%x -> 0x%x lost bits (write 0x%x)", prev, s, value);
	if (!status_write)
		VFUZZ_CHECK(!(gained & ~VIRTIO_STATUS_NEEDS_RESET),
			    "Status 0x%x -> 0x%x without a Status write", prev, s);
	VFUZZ_CHECK(!(gained & (gained - 1) & STEP_BITS),
		    "Status 0x%x -> 0x%x took more than one step", prev, s);
	VFUZZ_CHECK(!(gained & STEP_BITS) || !(prev & VIRTIO_STATUS_FAILED),
		    "Status 0x%x -> 0x%x took a step after FAILED", prev, s);
	VFUZZ_CHECK(!(gained & VIRTIO_STATUS_FAILED) || (value & VIRTIO_STATUS_FAILED),
		    "FAILED appeared without the driver writing it");
	if (gained & VIRTIO_STATUS_FEATURES_OK) {
		VFUZZ_CHECK(!(dev->driver_features & ~offered),
			    "FEATURES_OK with features 0x%llx not offered (offered 0x%llx)",
			    (unsigned long long)dev->driver_features, (unsigned long long)offered);
		VFUZZ_CHECK(dev->driver_features & (1ULL << VIRTIO_F_VERSION_1),
			    "FEATURES_OK without VIRTIO_F_VERSION_1");
	}
	return s;
}

static uint32_t fmmio_access_width(struct fuzz_input *in)
{
	static const uint8_t widths[] = {4, 4, 4, 4, 4, 1, 2, 8};

	return widths[fuzz_u8(in) % sizeof(widths)];
}

static uint64_t fmmio_pick_offset(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 0xc0)
		return registers[how % (sizeof(registers) / sizeof(registers[0]))];
	return fuzz_u16(in) % 0x1000; /* anywhere in the 4 KiB window */
}

/* Reads of registers with fixed values. */
static void fmmio_check_read(uint64_t off, uint32_t len, const uint8_t *data)
{
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		/* Any width: the config bytes where there are some, zeroes beyond. */
		for (uint32_t i = 0; i < len; i++) {
			uint64_t at = off - VIRTIO_MMIO_CONFIG;
			bool inside = at < sizeof(config) && len <= sizeof(config) - at;

			VFUZZ_CHECK(data[i] == (inside ? config[at + i] : 0),
				    "config read of %u bytes at 0x%lx: byte %u is 0x%02x", len,
				    (unsigned long)off, i, data[i]);
		}
		return;
	}
	memcpy(&v, data, 4);
	if (len != 4 || (off & 3)) {
		for (uint32_t i = 0; i < len; i++)
			VFUZZ_CHECK(data[i] == 0, "a %u-byte read at 0x%lx returned data", len,
				    (unsigned long)off);
		return;
	}
	if (off == VIRTIO_MMIO_MAGIC_VALUE)
		VFUZZ_CHECK(v == VIRTIO_MMIO_MAGIC, "MagicValue 0x%x", v);
	else if (off == VIRTIO_MMIO_VERSION)
		VFUZZ_CHECK(v == 2, "Version %u", v);
	else if (off == VIRTIO_MMIO_DEVICE_ID)
		VFUZZ_CHECK(v == VIRTIO_ID_BLOCK, "DeviceID %u", v);
}

static void fmmio_one_access(struct fuzz_input *in, uint32_t *st)
{
	uint8_t op = fuzz_u8(in) % 8;
	uint8_t data[8];
	uint64_t off;
	uint32_t len, value = 0;
	bool write;

	switch (op) {
	case 0: /* Status, any value */
		value = fuzz_u8(in);
		if (value & 0x40) /* often a plausible next step instead */
			value = (*st & ~VIRTIO_STATUS_NEEDS_RESET) | (1u << (fuzz_u8(in) % 8));
		tmmio_write(dev, VIRTIO_MMIO_STATUS, value);
		*st = fmmio_check_status(*st, true, value);
		return;
	case 1: /* the queue laid out validly, then QueueReady */
		tdrv_init(&drv, &vm->mem, QSIZE, RINGS);
		tmmio_setup_queue(dev, fuzz_u8(in) % 2, QSIZE, drv.desc, drv.avail, drv.used);
		*st = fmmio_check_status(*st, false, 0);
		return;
	case 2: /* driver features, both halves */
		tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
		tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, fuzz_u32(in));
		tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
		tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, fuzz_u32(in));
		*st = fmmio_check_status(*st, false, 0);
		return;
	default: /* one access anywhere */
		write = op < 6;
		off = fmmio_pick_offset(in);
		len = fmmio_access_width(in);
		fuzz_input_bytes(in, data, len);
		memcpy(&value, data, len < 4 ? len : 4);
		virtio_mmio_access(dev, off, data, len, write);
		if (!write)
			fmmio_check_read(off, len, data);
		*st =
		    fmmio_check_status(*st, write && off == VIRTIO_MMIO_STATUS && len == 4, value);
	}
}

static bool fmmio_request_done(void *arg)
{
	(void)arg;
	return tdrv_used_idx(&drv) == 1;
}

/* Reset, the normal init sequence, then one read of sector 3. */
static void fmmio_check_init_works(void)
{
	struct virtio_blk_req_hdr hdr = {.type = VIRTIO_BLK_T_IN, .sector = 3};
	uint8_t *data = guest_mem_ptr(&vm->mem, REQ_DATA, 512);
	uint8_t *status = guest_mem_ptr(&vm->mem, REQ_STATUS, 1);
	uint32_t st;

	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	VFUZZ_CHECK(fmmio_status_now() == 0, "Status 0x%x after reset", fmmio_status_now());
	st = tmmio_negotiate(dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH));
	VFUZZ_CHECK(
	    st == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK),
	    "Status 0x%x after a normal negotiation", st);
	tdrv_init(&drv, &vm->mem, QSIZE, RINGS);
	tmmio_setup_queue(dev, 0, QSIZE, drv.desc, drv.avail, drv.used);
	tmmio_write(dev, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	st = fmmio_status_now();
	VFUZZ_CHECK(st == (STEP_BITS & 0xff), "Status 0x%x after DRIVER_OK", st);

	memcpy(guest_mem_ptr(&vm->mem, REQ_HDR, 16), &hdr, 16);
	memset(data, 0, 512);
	*status = 0xee;
	tdrv_desc(&drv, 0, REQ_HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	tdrv_desc(&drv, 1, REQ_DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	tdrv_desc(&drv, 2, REQ_STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	tdrv_post(&drv, 0);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fmmio_request_done, NULL, 5),
		    "a read after re-initialisation stalled");
	VFUZZ_CHECK(*status == VIRTIO_BLK_S_OK, "read status %u", *status);
	for (unsigned int i = 0; i < 512; i++)
		VFUZZ_CHECK(data[i] == vfuzz_image_byte(3 * 512 + i), "read byte %u wrong", i);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char path[64];
	static struct disk_config cfg;

	(void)argc;
	(void)argv;
	vfuzz_quiet_logs();
	vfuzz_memfd_image(DISK_BYTES, path, sizeof(path));
	cfg = (struct disk_config){
	    .path = path, .cache = DISK_CACHE_WRITEBACK, .engine = DISK_ENGINE_SYNC};
	vm = fake_vm_create(RAM_SIZE);
	if (virtio_blk_create(vm, &cfg, 0, &blk))
		abort();
	dev = virtio_blk_device(blk);
	offered = tmmio_device_features(dev);
	for (unsigned int i = 0; i < sizeof(config); i += 4) {
		uint32_t v = tmmio_read(dev, VIRTIO_MMIO_CONFIG + i);

		memcpy(config + i, &v, 4);
	}
	/* The capacity, as the image has it. */
	if (memcmp(config, &(uint64_t){DISK_BYTES / 512}, 8))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	unsigned int ops = 0;
	uint32_t st;

	/* Stops the I/O thread of the last input before RAM is cleared. */
	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	memset(guest_mem_ptr(&vm->mem, 0, RAM_SIZE), 0, RAM_SIZE);
	st = fmmio_status_now();
	VFUZZ_CHECK(st == 0, "Status 0x%x after reset", st);
	while (!fuzz_input_done(&in) && ops++ < 256)
		fmmio_one_access(&in, &st);
	fmmio_check_init_works();
	return 0;
}
