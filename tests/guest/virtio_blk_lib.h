/*
 * A minimal polled virtio-blk driver over virtio-mmio for the test guests
 * (functional test, hostile test, benchmark).  Runs at CPL0 or CPL3; it
 * never takes interrupts: completion is seen by polling the used ring.
 * Request slot s uses descriptors 3s..3s+2 (header, data, status).
 */
#ifndef VIRTIO_BLK_LIB_H
#define VIRTIO_BLK_LIB_H

#include <stdbool.h>
#include <stdint.h>

#define MINIVMM_FREESTANDING
#include "../../virtio/blk.h"
#include "virtio_mmio.h"

#define VBLK_QSIZE 128
#define VBLK_SLOTS 42 /* 3 descriptors each */

struct vblk {
	uint64_t base;
	uint16_t index;	   /* the queue's number: QueueNotify value (0 unless multi-queue) */
	uint64_t features; /* negotiated */
	uint64_t capacity;
	struct vring vq;
	struct virtio_blk_req_hdr *hdr; /* one per slot */
	volatile uint8_t *status;	/* one per slot */
};

/* Reset and negotiate `want & offered`; false if the device refused. */
bool vblk_negotiate(struct vblk *b, uint64_t base, uint64_t want);
/* Queue 0 at the static rings (qsize 0: the device maximum, capped at
 * VBLK_QSIZE); DRIVER_OK.  false if QueueReady stays 0. */
bool vblk_start(struct vblk *b, uint16_t qsize);

/*
 * Multi-queue set-up, between vblk_negotiate() and vblk_driver_ok(): request
 * queue q (its own struct vblk; base and features copied from dev) with its
 * rings and its slots' headers and status bytes in mem, VBLK_QUEUE_BYTES at
 * a 4 KiB boundary, which it clears.  qsize 0: as vblk_start().  false if
 * the device has no queue q or QueueReady stays 0.
 */
#define VBLK_QUEUE_BYTES (4 * 4096)
bool vblk_setup_queue(struct vblk *b, const struct vblk *dev, uint16_t q, uint16_t qsize,
		      void *mem);
/* DRIVER_OK after vblk_setup_queue(); reads the capacity into b. */
bool vblk_driver_ok(struct vblk *b);

void vblk_queue(struct vblk *b, unsigned int slot, uint32_t type, uint64_t sector, void *buf,
		uint32_t len, bool device_writes);
/* Make the queued heads available (one avail idx update) and kick once. */
void vblk_kick(struct vblk *b);
/* Spin until used idx reaches target; false after timeout_ms. */
bool vblk_wait_used(const struct vblk *b, uint16_t target, uint64_t timeout_ms);
/* One request, waited for; returns the status byte (0xff on timeout). */
uint8_t vblk_do(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		bool device_writes);
bool vblk_wait_status(const struct vblk *b, uint32_t bits, uint64_t timeout_ms);

#endif
