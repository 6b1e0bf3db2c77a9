/*
 * virtio-blk (virtio 1.2, section 5.2) on the virtio-mmio transport, served
 * by one I/O thread per request queue (--disk ...,queues=N; VIRTIO_BLK_F_MQ
 * is offered when N > 1).
 *
 * The protocol definitions at the top depend only on <stdint.h>, so the
 * freestanding test guests share them.
 */
#ifndef MINIVMM_VIRTIO_BLK_H
#define MINIVMM_VIRTIO_BLK_H

#include <stdint.h>

#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES		   20
#define VIRTIO_BLK_SECTOR_SIZE		   512
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

/* Request header: the first 16 device-readable bytes of every chain. */
struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

/* Payload of DISCARD and WRITE_ZEROES, one per segment. */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Device configuration space (little-endian; offsets as in the spec). */
struct virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	uint32_t max_secure_erase_sectors;
	uint32_t max_secure_erase_seg;
	uint32_t secure_erase_sector_alignment;
};

_Static_assert(sizeof(struct virtio_blk_config) == 72, "virtio_blk_config layout");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, max_discard_sectors) == 36,
	       "virtio_blk_config layout");

/*
 * Limits minivmm advertises in config space.  SEG_MAX and SIZE_MAX are also
 * enforced on IN/OUT: a request with more data segments, a larger segment,
 * or more data in total than MAX_REQUEST_BYTES gets VIRTIO_BLK_S_IOERR.
 * MAX_REQUEST_BYTES is what a driver that keeps to the other two can send.
 */
#define VIRTIO_BLK_SEG_MAX	       254	  /* queue size 256 minus header and status */
#define VIRTIO_BLK_SIZE_MAX	       (1u << 20) /* bytes per data segment */
#define VIRTIO_BLK_MAX_REQUEST_BYTES   ((uint64_t)VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per request */
#define VIRTIO_BLK_MAX_DISCARD_SEG     1
#define VIRTIO_BLK_DISCARD_ALIGNMENT   8 /* sectors: 4 KiB */

/*
 * How much I/O one device does at once, whatever the guest queues: a read
 * or write starts only while less than BLK_INFLIGHT_BYTES_MAX of data is in
 * flight, and (the sync engine, whose I/O runs on the I/O thread itself)
 * one turn of the I/O thread starts requests only until BLK_TURN_BYTES_MAX
 * of data has moved, then yields and continues on the next turn.  So a
 * stop or reset waits for at most that much plus one request, and the I/O
 * thread stays responsive.
 */
#define BLK_INFLIGHT_BYTES_MAX (32u << 20)
#define BLK_TURN_BYTES_MAX     (32u << 20)
/*
 * Request queues per device.  With N of them each queue may hold
 * BLK_INFLIGHT_BYTES_MAX / N in flight (plus the request that crosses it),
 * so the device's bound stays BLK_INFLIGHT_BYTES_MAX; BLK_TURN_BYTES_MAX
 * is per I/O thread.
 */
#define VIRTIO_BLK_MAX_QUEUES 8

#ifndef MINIVMM_FREESTANDING
struct vm;
struct disk_config;
struct virtio_blk;
struct virtio_device;

/*
 * Open cfg->path and create disk number index ("virtio-blk<index>") on the
 * next virtio-mmio slot.  Returns 0 (and *out if out is non-NULL) or -errno
 * after logging one line naming the problem.
 */
int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned int index,
		      struct virtio_blk **out);

/* Stop the I/O thread, close the file, free the device (teardown, tests). */
void virtio_blk_destroy(struct virtio_blk *blk);

/* The transport half, for tests. */
struct virtio_device *virtio_blk_device(struct virtio_blk *blk);
#endif

#endif
