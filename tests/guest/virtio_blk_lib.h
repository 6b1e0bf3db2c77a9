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

#define VMMIO_MAGIC		  0x000
#define VMMIO_VERSION		  0x004
#define VMMIO_DEVICE_ID		  0x008
#define VMMIO_DEVICE_FEATURES	  0x010
#define VMMIO_DEVICE_FEATURES_SEL 0x014
#define VMMIO_DRIVER_FEATURES	  0x020
#define VMMIO_DRIVER_FEATURES_SEL 0x024
#define VMMIO_QUEUE_SEL		  0x030
#define VMMIO_QUEUE_NUM_MAX	  0x034
#define VMMIO_QUEUE_NUM		  0x038
#define VMMIO_QUEUE_READY	  0x044
#define VMMIO_QUEUE_NOTIFY	  0x050
#define VMMIO_INTERRUPT_STATUS	  0x060
#define VMMIO_INTERRUPT_ACK	  0x064
#define VMMIO_STATUS		  0x070
#define VMMIO_QUEUE_DESC	  0x080
#define VMMIO_QUEUE_DRIVER	  0x090
#define VMMIO_QUEUE_DEVICE	  0x0a0
#define VMMIO_CONFIG		  0x100

#define VST_ACK		1
#define VST_DRIVER	2
#define VST_DRIVER_OK	4
#define VST_FEATURES_OK 8
#define VST_NEEDS_RESET 64

#define VF_INDIRECT  28
#define VF_EVENT_IDX 29
#define VF_VERSION_1 32

#define VD_NEXT	    1
#define VD_WRITE    2
#define VD_INDIRECT 4

#define VBLK_QSIZE 128
#define VBLK_SLOTS 42 /* 3 descriptors each */

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vblk {
	uint64_t base;
	uint64_t features; /* negotiated */
	uint64_t capacity;
	uint16_t qsize;
	struct vdesc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[], used_event */
	volatile uint8_t *used;	  /* flags, idx, {id,len}[], avail_event */
	uint16_t avail_idx;
	struct virtio_blk_req_hdr *hdr; /* one per slot */
	volatile uint8_t *status;	/* one per slot */
};

uint32_t vblk_read32(const struct vblk *b, uint32_t reg);
void vblk_write32(const struct vblk *b, uint32_t reg, uint32_t v);
uint64_t vblk_device_features(const struct vblk *b);

/* Reset and negotiate `want & offered`; false if the device refused.
 * qsize 0 means the device maximum (capped at VBLK_QSIZE). */
bool vblk_negotiate(struct vblk *b, uint64_t base, uint64_t want);
/* Queue 0 at the static rings; DRIVER_OK.  false if QueueReady stays 0. */
bool vblk_start(struct vblk *b, uint16_t qsize);

void vblk_queue(struct vblk *b, unsigned int slot, uint32_t type, uint64_t sector, void *buf,
		uint32_t len, bool device_writes);
/* Make the queued heads available (one avail idx update) and kick once. */
void vblk_kick(struct vblk *b);
uint16_t vblk_used_idx(const struct vblk *b);
uint32_t vblk_used_id(const struct vblk *b, uint16_t i);
/* Spin until used idx reaches target; false after timeout_ms. */
bool vblk_wait_used(const struct vblk *b, uint16_t target, uint64_t timeout_ms);
/* One request, waited for; returns the status byte (0xff on timeout). */
uint8_t vblk_do(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		bool device_writes);

/* Direct access for the hostile test and the benchmark. */
void vblk_post_head(struct vblk *b, uint16_t head);
void vblk_set_used_event(struct vblk *b, uint16_t v);
bool vblk_wait_status(const struct vblk *b, uint32_t bits, uint64_t timeout_ms);

#endif
