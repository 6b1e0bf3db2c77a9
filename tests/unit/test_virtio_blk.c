/*
 * virtio-blk against a real temporary file, through the transport registers
 * and the real I/O thread, with both engines: request parsing, status codes,
 * flush, discard/write-zeroes, read-only disks, O_DIRECT bouncing, guest
 * errors that need a reset, and reset with requests in flight.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm_config.h"
#include "disk_image.h"
#include "fake_vm.h"
#include "helpers.h"
#include "devices/block/disk.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "mmio_driver.h"
#include "virtq_driver.h"

#define RAM	     (8u << 20)
#define DISK_SECTORS 2048 /* 1 MiB */
#define QSIZE	     16
#define RINGS	     0x10000
#define HDRS	     0x20000  /* 16 bytes per slot */
#define STATUS	     0x21000  /* 1 byte per slot */
#define DATA	     0x100000 /* 64 KiB per slot */
#define SLOT_DATA(s) (DATA + (uint64_t)(s)*0x10000)
#define BIT(n)	     (1ULL << (n))
#define BASE_FEATURES                                                                              \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_DISCARD) |           \
	 BIT(VIRTIO_BLK_F_WRITE_ZEROES))

static struct vm *vm;
static struct virtio_blk *blk;
static struct virtio_device *dev;
static struct tdrv drv;
static char path[64];
static int hostfd = -1;
static struct disk_config dcfg;
static uint16_t posted;

static void make_disk(void)
{
	hostfd = disk_image_create("/tmp", "blk", path, sizeof(path), DISK_SECTORS * 512);
}

static uint8_t *ram(uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(&vm->mem, gpa, len);
}

static void wr(uint64_t off, uint32_t v)
{
	tmmio_write(dev, off, v);
}

static uint32_t rd(uint64_t off)
{
	return tmmio_read(dev, off);
}

static void bring_up(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert(tmmio_negotiate(dev, features) & VIRTIO_STATUS_FEATURES_OK);
	tdrv_init(&drv, &vm->mem, QSIZE, RINGS);
	posted = 0;
	tmmio_setup_queue(dev, 0, QSIZE, drv.desc, drv.avail, drv.used);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK,
			  VIRTIO_STATUS_DRIVER_OK);
}

static enum disk_engine engine_of(int i)
{
	return i ? DISK_ENGINE_SYNC : DISK_ENGINE_IO_URING;
}

static void start(enum disk_engine engine, bool ro, enum disk_cache cache, uint64_t features)
{
	make_disk();
	vm = fake_vm_create(RAM);
	dcfg =
	    (struct disk_config){.path = path, .read_only = ro, .cache = cache, .engine = engine};
	ck_assert_int_eq(virtio_blk_create(vm, &dcfg, 0, &blk), 0);
	dev = virtio_blk_device(blk);
	bring_up(features);
}

/* Most tests: a writable disk, writeback cache, the base features, on engine i (_i). */
static void start_default(int i)
{
	start(engine_of(i), false, DISK_CACHE_WRITEBACK, BASE_FEATURES);
}

static void stop(void)
{
	virtio_blk_destroy(blk);
	fake_vm_destroy(vm);
	close(hostfd);
	unlink(path);
}

/*
 * Queue a request in slot s (descriptors 3s..3s+2): header, optional data
 * buffer, status byte.  Does not kick.
 */
static void queue_req(unsigned int s, uint32_t type, uint64_t sector, uint64_t data_gpa,
		      uint32_t len, bool device_writes)
{
	struct virtio_blk_req_hdr hdr = {.type = type, .sector = sector};
	uint16_t d = (uint16_t)(3 * s);

	memcpy(ram(HDRS + 16 * s, 16), &hdr, 16);
	*ram(STATUS + s, 1) = 0xee;
	if (len) {
		tdrv_desc(&drv, d, HDRS + 16 * s, 16, VIRTQ_DESC_F_NEXT, d + 1);
		tdrv_desc(&drv, d + 1, data_gpa, len,
			  VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0), d + 2);
	} else {
		tdrv_desc(&drv, d, HDRS + 16 * s, 16, VIRTQ_DESC_F_NEXT, d + 2);
	}
	tdrv_desc(&drv, d + 2, STATUS + s, 1, VIRTQ_DESC_F_WRITE, 0);
	tdrv_post(&drv, d);
	posted++;
}

static void kick(void)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(dev->queues[0].kick_fd, &one, 8), 8);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait (on the irqfd, or spinning when interrupts are suppressed) until
 * every posted request is on the used ring; 10 s is a hang, not a delay. */
static void wait_all(bool interrupts)
{
	double deadline = now() + 10;

	while (tdrv_used_idx(&drv) != posted) {
		ck_assert_msg(now() < deadline, "device did not complete %u requests (used %u)",
			      posted, tdrv_used_idx(&drv));
		if (interrupts) {
			struct pollfd p = {.fd = dev->call_fd, .events = POLLIN};
			uint64_t v;

			if (poll(&p, 1, 100) == 1)
				ck_assert_int_eq(read(dev->call_fd, &v, 8), 8);
		} else {
			sched_yield();
		}
	}
}

static void wait_needs_reset(void)
{
	double deadline = now() + 10;

	/* The config interrupt is raised after the status bit is set. */
	while (!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET) ||
	       !(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG)) {
		ck_assert_msg(now() < deadline, "device did not set NEEDS_RESET");
		sched_yield();
	}
}

static uint8_t status_of(unsigned int s)
{
	return *ram(STATUS + s, 1);
}

static uint8_t do_req(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
		      bool device_writes)
{
	queue_req(0, type, sector, data_gpa, len, device_writes);
	kick();
	wait_all(true);
	return status_of(0);
}

static void host_read(uint64_t off, void *buf, size_t len)
{
	ck_assert_int_eq(pread(hostfd, buf, len, (off_t)off), (ssize_t)len);
}

START_TEST(read_sectors)
{
	uint8_t *d;
	struct virtq_used_elem e;

	start_default(_i);
	d = ram(SLOT_DATA(0), 1024);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 3, SLOT_DATA(0), 1024, true), VIRTIO_BLK_S_OK);
	for (unsigned int i = 0; i < 1024; i++)
		ck_assert_uint_eq(d[i], disk_image_byte(3 * 512 + i));
	e = tdrv_used_elem(&drv, 0);
	ck_assert_uint_eq(e.id, 0);
	ck_assert_uint_eq(e.len, 1025);
	/* The last sector, exactly up to the capacity. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, SLOT_DATA(0), 512, true),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(d[511], disk_image_byte(DISK_SECTORS * 512 - 1));
	stop();
}
END_TEST

START_TEST(write_reaches_file)
{
	uint8_t host[4096];
	uint8_t *d;

	start_default(_i);
	d = ram(SLOT_DATA(0), 4096);
	for (unsigned int i = 0; i < 4096; i++)
		d[i] = (uint8_t)(i * 13);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 10, SLOT_DATA(0), 4096, false), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(tdrv_used_elem(&drv, 0).len, 1);
	host_read(10 * 512, host, 4096);
	ck_assert_mem_eq(host, d, 4096);
	stop();
}
END_TEST

/* A write and a flush in one batch: the flush completes after the write and
 * the file holds the data when the flush is acknowledged. */
START_TEST(write_then_flush_in_one_batch)
{
	uint8_t host[8192];
	uint8_t *d;

	start_default(_i);
	d = ram(SLOT_DATA(0), 8192);
	memset(d, 0xa5, 8192);
	queue_req(0, VIRTIO_BLK_T_OUT, 100, SLOT_DATA(0), 8192, false);
	queue_req(1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	kick();
	wait_all(true);
	ck_assert_uint_eq(status_of(0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(status_of(1), VIRTIO_BLK_S_OK);
	/* The flush may not overtake the write: its used entry comes second. */
	ck_assert_uint_eq(tdrv_used_elem(&drv, 1).id, 3);
	host_read(100 * 512, host, 8192);
	ck_assert_mem_eq(host, d, 8192);
	stop();
}
END_TEST

START_TEST(bad_ranges_are_ioerr)
{
	start_default(_i);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, SLOT_DATA(0), 1024, true),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, DISK_SECTORS, SLOT_DATA(0), 512, false),
			  VIRTIO_BLK_S_IOERR);
	/* sector * 512 would overflow 64 bits. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, UINT64_MAX / 256, SLOT_DATA(0), 512, true),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, UINT64_MAX, SLOT_DATA(0), 512, true),
			  VIRTIO_BLK_S_IOERR);
	/* Not a whole number of sectors. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 700, true), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 0, SLOT_DATA(0), 100, false),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(atomic_load(&dev->stat_needs_reset), 0);
	stop();
}
END_TEST

/* A request whose header has 8 bytes; waits for its completion. */
static void short_header_req(void)
{
	tdrv_desc(&drv, 0, HDRS, 8, VIRTQ_DESC_F_NEXT, 1);
	tdrv_desc(&drv, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	tdrv_post(&drv, 0);
	posted++;
	kick();
	wait_all(true);
}

START_TEST(short_header_is_ioerr)
{
	start_default(_i);
	short_header_req();
	ck_assert_uint_eq(status_of(0), VIRTIO_BLK_S_IOERR);
	stop();
}
END_TEST

START_TEST(unsupported_types)
{
	const uint32_t types[] = {VIRTIO_BLK_T_GET_LIFETIME, VIRTIO_BLK_T_SECURE_ERASE, 2, 99,
				  0xffffffff};

	start_default(_i);
	for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ck_assert_uint_eq(do_req(types[i], 0, SLOT_DATA(0), 512, true),
				  VIRTIO_BLK_S_UNSUPP);
	stop();
}
END_TEST

START_TEST(get_id_serial)
{
	const char *base;
	uint8_t *d;

	start_default(_i);
	d = ram(SLOT_DATA(0), 32);
	memset(d, 0xff, 32);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_GET_ID, 0, SLOT_DATA(0), 20, true), VIRTIO_BLK_S_OK);
	base = strrchr(path, '/') + 1;
	ck_assert_mem_eq(d, base, strlen(base));
	ck_assert_uint_eq(d[strlen(base)], 0);
	ck_assert_uint_eq(d[20], 0xff);
	ck_assert_uint_eq(tdrv_used_elem(&drv, 0).len, 21);
	/* A short buffer gets a truncated id. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_GET_ID, 0, SLOT_DATA(1), 4, true), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(ram(SLOT_DATA(1), 4), base, 4);
	stop();
}
END_TEST

static void queue_segment(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags,
			  unsigned int nseg)
{
	struct virtio_blk_discard_write_zeroes seg[2] = {
	    {.sector = sector, .num_sectors = n, .flags = flags},
	    {.sector = sector, .num_sectors = n, .flags = flags},
	};

	memcpy(ram(SLOT_DATA(2), sizeof(seg)), seg, sizeof(seg));
	queue_req(0, type, 0, SLOT_DATA(2), (uint32_t)(nseg * sizeof(seg[0])), false);
}

static uint8_t seg_req(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags,
		       unsigned int nseg)
{
	queue_segment(type, sector, n, flags, nseg);
	kick();
	wait_all(true);
	return status_of(0);
}

static void assert_zero(uint64_t sector, uint32_t n)
{
	uint8_t buf[8 * 512];

	ck_assert_uint_le(n, 8);
	host_read(sector * 512, buf, n * 512);
	for (unsigned int i = 0; i < n * 512; i++)
		ck_assert_uint_eq(buf[i], 0);
}

START_TEST(discard_and_write_zeroes)
{
	uint8_t b;

	start_default(_i);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 0, 1), VIRTIO_BLK_S_OK);
	assert_zero(16, 8);
	host_read(24 * 512, &b, 1); /* neighbours untouched */
	ck_assert_uint_eq(b, disk_image_byte(24 * 512));
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_WRITE_ZEROES, 40, 3, 0, 1), VIRTIO_BLK_S_OK);
	assert_zero(40, 3);
	host_read(43 * 512, &b, 1);
	ck_assert_uint_eq(b, disk_image_byte(43 * 512));
	ck_assert_uint_eq(
	    seg_req(VIRTIO_BLK_T_WRITE_ZEROES, 60, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1),
	    VIRTIO_BLK_S_OK);
	assert_zero(60, 8);
	/* The file keeps its size. */
	ck_assert_int_eq(lseek(hostfd, 0, SEEK_END), DISK_SECTORS * 512);

	/* Reserved flags, the unmap flag on a discard. */
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 1, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 2, 1), VIRTIO_BLK_S_UNSUPP);
	/* More segments than max_discard_seg, beyond capacity, over the limit. */
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 0, 2), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, DISK_SECTORS - 4, 8, 0, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 2, 8, 0, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(
	    seg_req(VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0, 1),
	    VIRTIO_BLK_S_IOERR);
	stop();
}
END_TEST

START_TEST(discard_needs_negotiation)
{
	start(engine_of(_i), false, DISK_CACHE_WRITEBACK, BIT(VIRTIO_F_VERSION_1));
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 0, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0, 1), VIRTIO_BLK_S_UNSUPP);
	stop();
}
END_TEST

START_TEST(read_only_disk)
{
	uint8_t b;
	uint64_t f;

	start(engine_of(_i), true, DISK_CACHE_WRITEBACK, BIT(VIRTIO_F_VERSION_1));
	f = tmmio_device_features(dev);
	ck_assert(f & BIT(VIRTIO_BLK_F_RO));
	ck_assert(!(f & BIT(VIRTIO_BLK_F_DISCARD)));
	ck_assert(!(f & BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
	memset(ram(SLOT_DATA(0), 512), 0, 512);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 0, SLOT_DATA(0), 512, false),
			  VIRTIO_BLK_S_IOERR);
	host_read(0, &b, 1);
	ck_assert_uint_eq(b, disk_image_byte(0));
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 0, 8, 0, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*ram(SLOT_DATA(0), 1), disk_image_byte(0));
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	stop();
}
END_TEST

START_TEST(config_space_limits)
{
	struct virtio_blk_config c;

	start_default(_i);
	for (unsigned int i = 0; i < sizeof(c); i += 4) {
		uint32_t v = rd(VIRTIO_MMIO_CONFIG + i);

		memcpy((uint8_t *)&c + i, &v, 4);
	}
	ck_assert_uint_eq(c.capacity, DISK_SECTORS);
	ck_assert_uint_eq(c.seg_max, VIRTIO_BLK_SEG_MAX);
	ck_assert_uint_eq(c.size_max, VIRTIO_BLK_SIZE_MAX);
	ck_assert(tmmio_device_features(dev) & BIT(VIRTIO_BLK_F_SIZE_MAX));
	ck_assert(tmmio_device_features(dev) & BIT(VIRTIO_BLK_F_SEG_MAX));
	ck_assert_uint_eq(c.blk_size, 512);
	ck_assert_uint_eq(c.max_discard_sectors, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	ck_assert_uint_eq(c.max_discard_seg, 1);
	ck_assert_uint_eq(c.discard_sector_alignment, VIRTIO_BLK_DISCARD_ALIGNMENT);
	ck_assert_uint_eq(c.max_write_zeroes_seg, 1);
	ck_assert_uint_eq(c.write_zeroes_may_unmap, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	stop();
}
END_TEST

START_TEST(missing_status_byte_needs_reset)
{
	start_default(_i);
	tdrv_desc(&drv, 0, HDRS, 16, 0, 0); /* header only: no writable byte */
	tdrv_post(&drv, 0);
	kick();
	wait_needs_reset();
	/* The driver resets and the device works again. */
	bring_up(BASE_FEATURES);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 1, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	stop();
}
END_TEST

START_TEST(malformed_chain_needs_reset)
{
	start_default(_i);
	/* A good request before the bad one is still served. */
	queue_req(0, VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 512, true);
	tdrv_desc(&drv, 5, HDRS, 16, VIRTQ_DESC_F_NEXT, 6);
	tdrv_desc(&drv, 6, SLOT_DATA(1), 512, VIRTQ_DESC_F_NEXT, 5); /* loop */
	tdrv_post(&drv, 5);
	kick();
	wait_needs_reset();
	posted = 1;
	wait_all(true);
	ck_assert_uint_eq(status_of(0), VIRTIO_BLK_S_OK);
	/* Nothing more is processed until reset. */
	queue_req(1, VIRTIO_BLK_T_IN, 0, SLOT_DATA(1), 512, true);
	kick();
	ck_assert_uint_eq(status_of(1), 0xee);
	bring_up(BASE_FEATURES);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	stop();
}
END_TEST

START_TEST(batch_of_requests)
{
	start_default(_i);
	for (unsigned int s = 0; s < 5; s++)
		queue_req(s, VIRTIO_BLK_T_IN, s * 8, SLOT_DATA(s), 4096, true);
	kick();
	wait_all(true);
	for (unsigned int s = 0; s < 5; s++) {
		ck_assert_uint_eq(status_of(s), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(*ram(SLOT_DATA(s) + 4095, 1),
				  disk_image_byte(s * 8 * 512 + 4095));
	}
	stop();
}
END_TEST

START_TEST(indirect_request)
{
	struct virtio_blk_req_hdr hdr = {.type = VIRTIO_BLK_T_IN, .sector = 5};

	start(engine_of(_i), false, DISK_CACHE_WRITEBACK,
	      BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC));
	memcpy(ram(HDRS, 16), &hdr, 16);
	/* Data split over two buffers, status at the end of the second. */
	tdrv_desc_at(&drv, 0x30000, 0, HDRS, 16, VIRTQ_DESC_F_NEXT, 1);
	tdrv_desc_at(&drv, 0x30000, 1, SLOT_DATA(0), 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		     2);
	tdrv_desc_at(&drv, 0x30000, 2, SLOT_DATA(1), 413, VIRTQ_DESC_F_WRITE, 0);
	tdrv_desc(&drv, 0, 0x30000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	tdrv_post(&drv, 0);
	posted++;
	kick();
	wait_all(true);
	ck_assert_uint_eq(*ram(SLOT_DATA(1) + 412, 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*ram(SLOT_DATA(0), 1), disk_image_byte(5 * 512));
	ck_assert_uint_eq(*ram(SLOT_DATA(1) + 411, 1), disk_image_byte(5 * 512 + 511));
	stop();
}
END_TEST

START_TEST(direct_io_with_bounce)
{
	uint8_t host[1024];
	uint8_t *d;

	start(engine_of(_i), false, DISK_CACHE_NONE, BASE_FEATURES);
	/* Page-aligned guest buffer: straight to O_DIRECT. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 8, SLOT_DATA(0), 4096, true), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*ram(SLOT_DATA(0) + 4095, 1), disk_image_byte(8 * 512 + 4095));
	/* Misaligned buffer: bounced, same result. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 8, SLOT_DATA(1) + 3, 4096, true),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(ram(SLOT_DATA(1) + 3, 4096), ram(SLOT_DATA(0), 4096), 4096);
	d = ram(SLOT_DATA(2) + 1, 4096);
	memset(d, 0x3c, 4096);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 16, SLOT_DATA(2) + 1, 4096, false),
			  VIRTIO_BLK_S_OK);
	host_read(16 * 512, host, sizeof(host));
	ck_assert_mem_eq(host, d, sizeof(host));
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	stop();
}
END_TEST

/* With EVENT_IDX the device interrupts only when used_event asks, and asks
 * for a kick (avail_event) once it goes idle. */
START_TEST(event_idx_suppresses_interrupts)
{
	struct pollfd p;
	uint64_t v;

	start(engine_of(_i), false, DISK_CACHE_WRITEBACK, BASE_FEATURES | BIT(VIRTIO_F_EVENT_IDX));
	tdrv_set_used_event(&drv, 100);
	for (unsigned int s = 0; s < 4; s++)
		queue_req(s, VIRTIO_BLK_T_IN, s, SLOT_DATA(s), 512, true);
	kick();
	/* The first flush after DRIVER_OK may interrupt; drain it. */
	wait_all(false);
	{
		double deadline = now() + 10;

		while (tdrv_avail_event(&drv) != 4) {
			ck_assert_msg(now() < deadline, "avail_event not updated");
			sched_yield();
		}
	}
	p = (struct pollfd){.fd = dev->call_fd, .events = POLLIN};
	if (poll(&p, 1, 0) == 1)
		ck_assert_int_eq(read(dev->call_fd, &v, 8), 8);
	/* Now request 5 completes; used_event (100) is not reached. */
	queue_req(4, VIRTIO_BLK_T_IN, 4, SLOT_DATA(4), 512, true);
	kick();
	wait_all(false);
	while (tdrv_avail_event(&drv) != 5)
		sched_yield();
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	/* used_event = 5: the 6th completion (used idx 5 -> 6) interrupts. */
	tdrv_set_used_event(&drv, 5);
	queue_req(0, VIRTIO_BLK_T_IN, 5, SLOT_DATA(5), 512, true);
	kick();
	wait_all(true);
	stop();
}
END_TEST

/*
 * Requests the disk completes as the device starts them (the sync engine)
 * are published one by one, so a driver can refill while the rest of the
 * batch runs.  Without EVENT_IDX every publication interrupts: four writes
 * in one kick, four interrupts.  (Run once, on the sync engine.)
 */
START_TEST(inline_writes_are_published_one_by_one)
{
	start_default(1);
	for (unsigned int s = 0; s < 4; s++) {
		memset(ram(SLOT_DATA(s), 4096), 0x40 + s, 4096);
		queue_req(s, VIRTIO_BLK_T_OUT, s * 8, SLOT_DATA(s), 4096, false);
	}
	kick();
	wait_all(true);
	for (unsigned int s = 0; s < 4; s++)
		ck_assert_uint_eq(status_of(s), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(counter_get(&dev->stat_interrupts), 4);
	stop();
}
END_TEST

START_TEST(host_io_error_keeps_running)
{
	start_default(_i);
	/* The image shrinks behind minivmm's back: reads past the new end
	 * come back short, which is an I/O error for that request only. */
	ck_assert_int_eq(ftruncate(hostfd, 512 * 100), 0);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 200, SLOT_DATA(0), 512, true),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 50, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(atomic_load(&dev->stat_needs_reset), 0);
	stop();
}
END_TEST

START_TEST(reset_with_requests_in_flight)
{
	uint16_t used;

	start_default(_i);
	for (unsigned int s = 0; s < QSIZE / 3; s++)
		queue_req(s, s % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, s * 128, SLOT_DATA(s),
			  0x10000, s % 2 == 0);
	kick();
	/* Reset returns only after the I/O thread has finished with guest
	 * memory; after it the used ring no longer moves. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	used = tdrv_used_idx(&drv);
	ck_assert_uint_le(used, QSIZE / 3);
	kick();
	ck_assert_uint_eq(tdrv_used_idx(&drv), used);
	bring_up(BASE_FEATURES);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	stop();
}
END_TEST

/* The --stats report: every request counted, refusals counted by reason. */
START_TEST(stats_report)
{
	static const struct {
		const char *path;
		uint64_t value;
	} expect[] = {
	    {"counters.requests", 9},	      {"counters.reads", 1},
	    {"counters.writes", 0},	      {"counters.flushes", 0},
	    {"counters.discards", 2},	      {"counters.write_zeroes", 1},
	    {"counters.get_id", 0},	      {"counters.ioerr", 5},
	    {"counters.unsupp", 2},	      {"counters.bytes_read", 512},
	    {"counters.bytes_written", 0},    {"counters.bounced", 0},
	    {"rejected.short_header", 1},     {"rejected.unsupported_type", 1},
	    {"rejected.read_only", 0},	      {"rejected.bad_length", 1},
	    {"rejected.out_of_range", 2},     {"rejected.not_negotiated", 0},
	    {"rejected.bad_segments", 1},     {"rejected.reserved_flags", 1},
	    {"rejected.too_many_sectors", 0},
	};
	struct json_object *dev;

	start_default(_i);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 1, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, SLOT_DATA(0), 700, true), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, DISK_SECTORS, SLOT_DATA(0), 512, true),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(99, 0, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 0, 2), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_DISCARD, 16, 8, 1, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(VIRTIO_BLK_T_WRITE_ZEROES, DISK_SECTORS, 1, 0, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 0, SLOT_DATA(0), 0, false), VIRTIO_BLK_S_OK);
	short_header_req();
	ck_assert_uint_eq(status_of(0), VIRTIO_BLK_S_IOERR);

	dev = unit_device_stats(vm, "virtio-blk.0");
	for (unsigned int i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		ck_assert_msg(unit_json_u64(dev, expect[i].path) == expect[i].value,
			      "%s: %llu, expected %llu", expect[i].path,
			      (unsigned long long)unit_json_u64(dev, expect[i].path),
			      (unsigned long long)expect[i].value);
	ck_assert_str_eq(unit_json_str(dev, "model"), "virtio-blk");
	ck_assert_str_eq(unit_json_str(dev, "engine"), _i ? "sync" : "io_uring");
	ck_assert_str_eq(unit_json_str(dev, "cache"), "writeback");
	ck_assert_uint_ge(unit_json_u64(dev, "io_thread.eventfd_signals"), 1);
	json_object_put(dev);
	stop();
}
END_TEST

/* A writable disk of 1 GiB (sparse past the first MiB), so that the size
 * limits, not the capacity, decide; indirect descriptors for long chains. */
static void start_big(int i, enum disk_cache cache)
{
	make_disk();
	ck_assert_int_eq(ftruncate(hostfd, 1ll << 30), 0);
	vm = fake_vm_create(RAM);
	dcfg = (struct disk_config){.path = path, .cache = cache, .engine = engine_of(i)};
	ck_assert_int_eq(virtio_blk_create(vm, &dcfg, 0, &blk), 0);
	dev = virtio_blk_device(blk);
	bring_up(BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC));
}

#define BIG_TABLE 0x30000  /* indirect tables: 256 descriptors per slot, up to 16 slots */
#define BIG_DATA  0x200000 /* data buffers: up to 4 MiB */

/*
 * An IN or OUT of nseg data buffers of seg_len bytes, buffer k at
 * data + k * stride (stride 0: all the same bytes), through one
 * indirect table.  With status_in_last (IN only) the status byte is one
 * more byte of the last data buffer, else a descriptor of its own.
 * Returns the status byte.
 */
static uint64_t queue_big_on(struct tdrv *d, uint16_t head, unsigned int s, uint32_t type,
			     uint64_t sector, uint64_t data, unsigned int nseg, uint32_t seg_len,
			     uint32_t stride, bool status_in_last)
{
	struct virtio_blk_req_hdr hdr = {.type = type, .sector = sector};
	uint16_t w = type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0;
	uint64_t last = data + (uint64_t)(nseg - 1) * stride;
	uint64_t status_gpa = status_in_last ? last + seg_len : STATUS + s;
	uint64_t table = BIG_TABLE + (uint64_t)s * 256 * 16;
	uint16_t n = 0;

	ck_assert_uint_le(nseg + (status_in_last ? 1 : 2), 256);
	memcpy(ram(HDRS + 16 * s, 16), &hdr, 16);
	*ram(status_gpa, 1) = 0xee;
	tdrv_desc_at(d, table, n, HDRS + 16 * s, 16, VIRTQ_DESC_F_NEXT, n + 1);
	n++;
	for (unsigned int k = 0; k < nseg; k++, n++) {
		bool end = k == nseg - 1 && status_in_last;

		tdrv_desc_at(d, table, n, data + (uint64_t)k * stride, seg_len + (end ? 1 : 0),
			     end ? w : (uint16_t)(w | VIRTQ_DESC_F_NEXT), n + 1);
	}
	if (!status_in_last) {
		tdrv_desc_at(d, table, n, STATUS + s, 1, VIRTQ_DESC_F_WRITE, 0);
		n++;
	}
	tdrv_desc(d, head, table, n * 16u, VIRTQ_DESC_F_INDIRECT, 0);
	tdrv_post(d, head);
	return status_gpa;
}

static uint64_t queue_big(unsigned int s, uint32_t type, uint64_t sector, uint64_t data,
			  unsigned int nseg, uint32_t seg_len, uint32_t stride, bool status_in_last)
{
	posted++;
	return queue_big_on(&drv, (uint16_t)s, s, type, sector, data, nseg, seg_len, stride,
			    status_in_last);
}

static uint8_t big_req(uint32_t type, uint64_t sector, uint64_t data, unsigned int nseg,
		       uint32_t seg_len, uint32_t stride, bool status_in_last)
{
	uint64_t status_gpa =
	    queue_big(0, type, sector, data, nseg, seg_len, stride, status_in_last);

	kick();
	wait_all(true);
	return *ram(status_gpa, 1);
}

/*
 * SEG_MAX, SIZE_MAX and the request maximum are enforced on IN and OUT:
 * a request just within each limit is served, one just over is IOERR and
 * counted by reason, and the device goes on working.
 */
START_TEST(size_and_segment_limits)
{
	const uint32_t smax = VIRTIO_BLK_SIZE_MAX;
	struct json_object *st;

	start_big(_i, DISK_CACHE_WRITEBACK);
	/* seg_max segments of a sector each (the status in a descriptor of its own). */
	ck_assert_uint_eq(
	    big_req(VIRTIO_BLK_T_IN, 0, BIG_DATA, VIRTIO_BLK_SEG_MAX, 512, 512, false),
	    VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*ram(BIG_DATA + VIRTIO_BLK_SEG_MAX * 512 - 1, 1),
			  disk_image_byte(VIRTIO_BLK_SEG_MAX * 512 - 1));
	/* One more data segment (the status shares the last one). */
	ck_assert_uint_eq(
	    big_req(VIRTIO_BLK_T_IN, 0, BIG_DATA, VIRTIO_BLK_SEG_MAX + 1, 512, 512, true),
	    VIRTIO_BLK_S_IOERR);
	/* One segment of size_max, and one a sector larger, both ways. */
	ck_assert_uint_eq(big_req(VIRTIO_BLK_T_IN, 8, BIG_DATA, 1, smax, 0, false),
			  VIRTIO_BLK_S_OK);
	/* The image's data ends 4 KiB into the buffer's last ones: sparse zeroes. */
	ck_assert_uint_eq(*ram(BIG_DATA + smax - 4097, 1), disk_image_byte(smax - 1));
	ck_assert_uint_eq(*ram(BIG_DATA + smax - 1, 1), 0);
	ck_assert_uint_eq(big_req(VIRTIO_BLK_T_IN, 8, BIG_DATA, 1, smax + 512, 0, false),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(big_req(VIRTIO_BLK_T_OUT, 8, BIG_DATA, 1, smax + 512, 0, false),
			  VIRTIO_BLK_S_IOERR);
	/* seg_max overlapping buffers of 2 MiB: 508 MiB from 2 MiB of guest RAM. */
	ck_assert_uint_eq(
	    big_req(VIRTIO_BLK_T_IN, 0, BIG_DATA, VIRTIO_BLK_SEG_MAX, 2 * smax, 0, false),
	    VIRTIO_BLK_S_IOERR);
	/* Still usable, nothing needs a reset. */
	ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 1, SLOT_DATA(0), 512, true), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*ram(SLOT_DATA(0), 1), disk_image_byte(512));
	ck_assert_uint_eq(atomic_load(&dev->stat_needs_reset), 0);
	st = unit_device_stats(vm, "virtio-blk.0");
	ck_assert_uint_eq(unit_json_u64(st, "rejected.too_many_segments"), 1);
	ck_assert_uint_eq(unit_json_u64(st, "rejected.segment_too_large"), 2);
	ck_assert_uint_eq(unit_json_u64(st, "rejected.too_large"), 1);
	ck_assert_uint_eq(unit_json_u64(st, "counters.ioerr"), 4);
	json_object_put(st);
	stop();
}
END_TEST

/*
 * The defect of issue 11: on cache=none, a within-limits read of seg_max
 * overlapping, misaligned 1 MiB buffers (254 MiB described by 1 MiB of
 * guest RAM) is bounced in bounded pieces, not in one buffer as large as
 * the request.
 */
START_TEST(misaligned_big_request_bounded_bounce)
{
	const uint32_t smax = VIRTIO_BLK_SIZE_MAX;
	struct json_object *st;
	uint8_t host[4096];
	uint8_t *d;

	start_big(_i, DISK_CACHE_NONE);
	/* The buffers overlap, so the guest keeps the last MiB read (the
	 * 254th): known bytes, then the sparse rest. */
	for (uint32_t k = 0; k < sizeof(host); k++)
		host[k] = (uint8_t)(k * 5 + 1);
	ck_assert_int_eq(pwrite(hostfd, host, sizeof(host), 253ll << 20), sizeof(host));
	ck_assert_uint_eq(
	    big_req(VIRTIO_BLK_T_IN, 0, BIG_DATA + 1, VIRTIO_BLK_SEG_MAX, smax, 0, false),
	    VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(ram(BIG_DATA + 1, sizeof(host)), host, sizeof(host));
	for (uint32_t k = sizeof(host); k < smax; k++)
		ck_assert_uint_eq(*ram(BIG_DATA + 1 + k, 1), 0);
	/* A write from one misaligned buffer of size_max, byte-exact. */
	d = ram(BIG_DATA + 3, smax);
	for (uint32_t k = 0; k < smax; k++)
		d[k] = (uint8_t)(k * 7 + 3);
	ck_assert_uint_eq(big_req(VIRTIO_BLK_T_OUT, 4096, BIG_DATA + 3, 1, smax, 0, false),
			  VIRTIO_BLK_S_OK);
	for (uint32_t k = 0; k < smax; k += sizeof(host)) {
		host_read(4096 * 512 + k, host, sizeof(host));
		ck_assert_mem_eq(host, d + k, sizeof(host));
	}
	st = unit_device_stats(vm, "virtio-blk.0");
	ck_assert_uint_eq(unit_json_u64(st, "counters.bounced"), 2);
	ck_assert_uint_le(unit_json_u64(st, "counters.bounce_peak_bytes"), DISK_BOUNCE_CHUNK);
	ck_assert_uint_ge(unit_json_u64(st, "counters.bounce_peak_bytes"), 1);
	ck_assert_uint_eq(unit_json_u64(st, "counters.bounce_bytes"), 0);
	json_object_put(st);
	stop();
}
END_TEST

/*
 * The guest cannot make the device hold an unbounded amount of I/O in
 * flight, nor (with the sync engine, whose I/O runs on the I/O thread)
 * make one turn of the I/O thread do an unbounded amount of it: sixteen
 * 16 MiB reads at once (the same 1 MiB of RAM sixteen times each) are
 * served within the budgets, and all complete.
 */
START_TEST(io_in_flight_and_per_turn_bounded)
{
	const uint32_t mib = 1u << 20, nseg = 16, reqs = QSIZE;
	struct json_object *st;

	start_big(_i, DISK_CACHE_WRITEBACK);
	for (unsigned int s = 0; s < reqs; s++)
		queue_big(s, VIRTIO_BLK_T_IN, 0, BIG_DATA, nseg, mib, 0, false);
	kick();
	wait_all(true);
	for (unsigned int s = 0; s < reqs; s++)
		ck_assert_uint_eq(*ram(STATUS + s, 1), VIRTIO_BLK_S_OK);
	st = unit_device_stats(vm, "virtio-blk.0");
	ck_assert_uint_eq(unit_json_u64(st, "counters.bytes_read"), (uint64_t)reqs * nseg * mib);
	ck_assert_uint_le(unit_json_u64(st, "counters.inflight_peak_bytes"),
			  BLK_INFLIGHT_BYTES_MAX + nseg * mib);
	if (engine_of(_i) == DISK_ENGINE_SYNC)
		ck_assert_uint_ge(unit_json_u64(st, "counters.turns_cut"),
				  reqs * nseg * mib / (BLK_TURN_BYTES_MAX + nseg * mib));
	else
		ck_assert_uint_ge(unit_json_u64(st, "counters.inflight_peak_bytes"),
				  2 * nseg * mib);
	json_object_put(st);
	stop();
}
END_TEST

/*
 * Multi-queue (queues=2): queue 0 on drv's rings, queue 1 on drv1's.  The
 * request areas (headers, status bytes, indirect tables) are shared by
 * slot: queue 1 uses slots MQ_SLOT1 and up.
 */
#define RINGS1	 0x18000
#define MQ_SLOT1 16
static struct tdrv drv1;

static void start_mq(int i, unsigned int queues, uint64_t size)
{
	make_disk();
	if (size)
		ck_assert_int_eq(ftruncate(hostfd, (off_t)size), 0);
	vm = fake_vm_create(RAM);
	dcfg = (struct disk_config){
	    .path = path, .cache = DISK_CACHE_WRITEBACK, .engine = engine_of(i), .queues = queues};
	ck_assert_int_eq(virtio_blk_create(vm, &dcfg, 0, &blk), 0);
	dev = virtio_blk_device(blk);
	ck_assert(tmmio_negotiate(dev, BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC) |
					   (queues > 1 ? BIT(VIRTIO_BLK_F_MQ) : 0)) &
		  VIRTIO_STATUS_FEATURES_OK);
	tdrv_init(&drv, &vm->mem, QSIZE, RINGS);
	tdrv_init(&drv1, &vm->mem, QSIZE, RINGS1);
	posted = 0;
	tmmio_setup_queue(dev, 0, QSIZE, drv.desc, drv.avail, drv.used);
	tmmio_setup_queue(dev, 1, QSIZE, drv1.desc, drv1.avail, drv1.used);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK,
			  VIRTIO_STATUS_DRIVER_OK);
}

/* Like queue_req, on d's ring: descriptors 3 * (s % MQ_SLOT1) and on, slot s's areas. */
static void mq_queue_req(struct tdrv *d, unsigned int s, uint32_t type, uint64_t sector,
			 uint64_t data_gpa, uint32_t len, bool device_writes)
{
	struct virtio_blk_req_hdr hdr = {.type = type, .sector = sector};
	uint16_t n = (uint16_t)(3 * (s % MQ_SLOT1));

	memcpy(ram(HDRS + 16 * s, 16), &hdr, 16);
	*ram(STATUS + s, 1) = 0xee;
	tdrv_desc(d, n, HDRS + 16 * s, 16, VIRTQ_DESC_F_NEXT, n + 1);
	tdrv_desc(d, n + 1, data_gpa, len,
		  VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0), n + 2);
	tdrv_desc(d, n + 2, STATUS + s, 1, VIRTQ_DESC_F_WRITE, 0);
	tdrv_post(d, n);
}

static void kick_queue(unsigned int q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(dev->queues[q].kick_fd, &one, 8), 8);
}

/* Until drv's used ring holds n0 entries and drv1's n1 (one interrupt line for both). */
static void mq_wait(uint16_t n0, uint16_t n1)
{
	double deadline = now() + 10;

	while (tdrv_used_idx(&drv) != n0 || tdrv_used_idx(&drv1) != n1) {
		struct pollfd p = {.fd = dev->call_fd, .events = POLLIN};
		uint64_t v;

		ck_assert_msg(now() < deadline, "used %u/%u, expected %u/%u", tdrv_used_idx(&drv),
			      tdrv_used_idx(&drv1), n0, n1);
		if (poll(&p, 1, 100) == 1)
			ck_assert_int_eq(read(dev->call_fd, &v, 8), 8);
	}
}

/* A counter of the device's stats (path as for unit_json_u64). */
static uint64_t mq_stat(const char *name)
{
	struct json_object *st = unit_device_stats(vm, "virtio-blk.0");
	uint64_t n = unit_json_u64(st, name);

	json_object_put(st);
	return n;
}

/* Thread t's counter name from the transport's "io_threads" array. */
static uint64_t mq_thread_stat(unsigned int t, const char *name)
{
	struct json_object *st = unit_device_stats(vm, "virtio-blk.0"), *threads, *one, *v;
	uint64_t n;

	ck_assert(json_object_object_get_ex(st, "io_threads", &threads));
	ck_assert_uint_eq(json_object_array_length(threads), 2);
	one = json_object_array_get_idx(threads, t);
	ck_assert(json_object_object_get_ex(one, name, &v));
	n = json_object_get_uint64(v);
	json_object_put(st);
	return n;
}

static uint16_t config_num_queues(void)
{
	return (uint16_t)(rd(VIRTIO_MMIO_CONFIG + 32) >> 16);
}

/* queues=N is num_queues in config space; MQ is offered only when N > 1. */
START_TEST(mq_config_and_feature)
{
	start_mq(0, 2, 0);
	ck_assert_uint_eq(config_num_queues(), 2);
	ck_assert(tmmio_device_features(dev) & BIT(VIRTIO_BLK_F_MQ));
	stop();
	/* queues=1, and 0 (a hand-built config): one queue, no MQ, one thread. */
	for (unsigned int n = 0; n < 2; n++) {
		start_mq(0, n, 0);
		ck_assert_uint_eq(config_num_queues(), 1);
		ck_assert(!(tmmio_device_features(dev) & BIT(VIRTIO_BLK_F_MQ)));
		ck_assert_uint_eq(dev->nr_io_threads, 1);
		stop();
	}
}
END_TEST

/* A request on queue 1 completes on queue 1's used ring, served by thread 1. */
START_TEST(mq_request_completes_on_its_queue)
{
	uint8_t *d0, *d1;
	uint64_t kicks0, kicks1;

	start_mq(_i, 2, 0);
	ck_assert_uint_eq(dev->nr_io_threads, 2);
	d0 = ram(SLOT_DATA(0), 512);
	d1 = ram(SLOT_DATA(1), 512);
	/* One request on each, so both threads have handled their first kick. */
	mq_queue_req(&drv, 0, VIRTIO_BLK_T_IN, 2, SLOT_DATA(0), 512, true);
	mq_queue_req(&drv1, MQ_SLOT1, VIRTIO_BLK_T_IN, 5, SLOT_DATA(1), 512, true);
	kick_queue(0);
	kick_queue(1);
	mq_wait(1, 1);
	ck_assert_uint_eq(status_of(0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(status_of(MQ_SLOT1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(d0[0], disk_image_byte(2 * 512));
	ck_assert_uint_eq(d1[0], disk_image_byte(5 * 512));
	kicks0 = mq_thread_stat(0, "eventfd_signals");
	kicks1 = mq_thread_stat(1, "eventfd_signals");
	/* Queue 1 only: its ring, its thread; queue 0's stay as they were. */
	mq_queue_req(&drv1, MQ_SLOT1 + 1, VIRTIO_BLK_T_IN, 7, SLOT_DATA(1), 512, true);
	kick_queue(1);
	mq_wait(1, 2);
	ck_assert_uint_eq(status_of(MQ_SLOT1 + 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(d1[0], disk_image_byte(7 * 512));
	ck_assert_uint_eq(tdrv_used_elem(&drv1, 1).id, 3);
	ck_assert_uint_eq(tdrv_used_elem(&drv1, 1).len, 513);
	ck_assert_uint_gt(mq_thread_stat(1, "eventfd_signals"), kicks1);
	ck_assert_uint_eq(mq_thread_stat(0, "eventfd_signals"), kicks0);
	ck_assert_uint_eq(mq_stat("counters.reads"), 3);
	stop();
}
END_TEST

/* Each queue's FLUSH waits for the writes before it on its own queue. */
START_TEST(mq_flush_barrier_per_queue)
{
	uint8_t host[8192];
	uint8_t *a, *b;

	start_mq(_i, 2, 0);
	a = ram(SLOT_DATA(0), 8192);
	b = ram(SLOT_DATA(1), 8192);
	memset(a, 0x5a, 8192);
	memset(b, 0xc3, 8192);
	mq_queue_req(&drv, 0, VIRTIO_BLK_T_OUT, 100, SLOT_DATA(0), 8192, false);
	queue_req(1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	mq_queue_req(&drv1, MQ_SLOT1, VIRTIO_BLK_T_OUT, 200, SLOT_DATA(1), 8192, false);
	tdrv_desc(&drv1, 3, HDRS + 16 * (MQ_SLOT1 + 1), 16, VIRTQ_DESC_F_NEXT, 5);
	tdrv_desc(&drv1, 5, STATUS + MQ_SLOT1 + 1, 1, VIRTQ_DESC_F_WRITE, 0);
	memcpy(ram(HDRS + 16 * (MQ_SLOT1 + 1), 16),
	       &(struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_FLUSH}, 16);
	tdrv_post(&drv1, 3);
	kick_queue(1);
	kick_queue(0);
	mq_wait(2, 2);
	ck_assert_uint_eq(status_of(1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(status_of(MQ_SLOT1 + 1), VIRTIO_BLK_S_OK);
	/* On each queue the flush's used entry comes after its write's. */
	ck_assert_uint_eq(tdrv_used_elem(&drv, 1).id, 3);
	ck_assert_uint_eq(tdrv_used_elem(&drv1, 1).id, 3);
	host_read(100 * 512, host, 8192);
	ck_assert_mem_eq(host, a, 8192);
	host_read(200 * 512, host, 8192);
	ck_assert_mem_eq(host, b, 8192);
	ck_assert_uint_eq(mq_stat("counters.flushes"), 2);
	stop();
}
END_TEST

/*
 * The in-flight bound is per device: with 2 queues each holds at most half
 * of BLK_INFLIGHT_BYTES_MAX plus the request that crosses it.  Eight 12 MiB
 * reads on each queue: with the whole budget per queue, each could hold
 * 36 MiB (72 in all); split, 24 each.
 */
START_TEST(mq_io_in_flight_bounded_per_device)
{
	const uint32_t mib = 1u << 20, nseg = 12, reqs = 8;
	struct json_object *st;

	start_mq(_i, 2, 1ull << 30);
	for (unsigned int s = 0; s < reqs; s++) {
		queue_big_on(&drv, (uint16_t)s, s, VIRTIO_BLK_T_IN, 0, BIG_DATA, nseg, mib, 0,
			     false);
		queue_big_on(&drv1, (uint16_t)s, MQ_SLOT1 + s, VIRTIO_BLK_T_IN, 0, BIG_DATA, nseg,
			     mib, 0, false);
	}
	kick_queue(0);
	kick_queue(1);
	mq_wait(reqs, reqs);
	for (unsigned int s = 0; s < reqs; s++) {
		ck_assert_uint_eq(status_of(s), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(status_of(MQ_SLOT1 + s), VIRTIO_BLK_S_OK);
	}
	st = unit_device_stats(vm, "virtio-blk.0");
	ck_assert_uint_eq(unit_json_u64(st, "counters.bytes_read"), 2ull * reqs * nseg * mib);
	ck_assert_uint_le(unit_json_u64(st, "counters.inflight_peak_bytes"),
			  BLK_INFLIGHT_BYTES_MAX + 2 * nseg * mib);
	json_object_put(st);
	stop();
}
END_TEST

START_TEST(create_errors)
{
	struct disk_config c = {.path = "/nonexistent/disk.img"};

	vm = fake_vm_create(RAM);
	ck_assert_int_eq(virtio_blk_create(vm, &c, 0, NULL), -ENOENT);
	make_disk();
	ck_assert_int_eq(ftruncate(hostfd, 100), 0);
	c.path = path;
	ck_assert_int_eq(virtio_blk_create(vm, &c, 0, NULL), -EINVAL);
	close(hostfd);
	unlink(path);
	/* Nothing was claimed by the failures. */
	ck_assert_str_eq(vm->cmdline, "");
	fake_vm_destroy(vm);
}
END_TEST

Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	/* Config space and creation errors do not depend on the engine: run once (_i = 0). */
	TCase *tc =
	    unit_tcase(s, "requests", NULL, NULL,
		       UNIT_TESTS(config_space_limits, create_errors,
				  inline_writes_are_published_one_by_one, mq_config_and_feature));

	tcase_set_timeout(tc, 30);
	/* _i: 0 = io_uring engine, 1 = sync engine. */
	unit_loop_tests(
	    tc, 2,
	    UNIT_TESTS(read_sectors, write_reaches_file, write_then_flush_in_one_batch,
		       bad_ranges_are_ioerr, short_header_is_ioerr, unsupported_types,
		       get_id_serial, discard_and_write_zeroes, discard_needs_negotiation,
		       read_only_disk, missing_status_byte_needs_reset, malformed_chain_needs_reset,
		       batch_of_requests, indirect_request, direct_io_with_bounce,
		       event_idx_suppresses_interrupts, host_io_error_keeps_running,
		       reset_with_requests_in_flight, stats_report, size_and_segment_limits,
		       misaligned_big_request_bounded_bounce, io_in_flight_and_per_turn_bounded,
		       mq_request_completes_on_its_queue, mq_flush_barrier_per_queue,
		       mq_io_in_flight_bounded_per_device));
	return s;
}
