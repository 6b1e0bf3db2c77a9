/*
 * The driver side of virtio-mmio (version 2) and of split virtqueues, as the
 * test guests' virtio drivers share it (virtio_blk_lib.c, virtio_net_lib.c).
 * Written from the virtio 1.2 specification, not from minivmm's headers, so
 * that a wrong constant on the device side shows up as a failing guest.
 * Touches only MMIO and guest memory: usable at CPL0 and CPL3.
 */
#ifndef RT_VIRTIO_MMIO_H
#define RT_VIRTIO_MMIO_H

/* <rt.h>, found through -I: the x86 runtime's, or the arm64 one's (arm64/Makefile). */
#include <rt.h>

/* Registers (virtio 1.2 §4.2.2). */
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

#define VMMIO_MAGIC_VALUE 0x74726976 /* "virt" */
#define VMMIO_ID_NET	  1
#define VMMIO_ID_BLOCK	  2

/* Device status bits. */
#define VST_ACK		1
#define VST_DRIVER	2
#define VST_DRIVER_OK	4
#define VST_FEATURES_OK 8
#define VST_NEEDS_RESET 64

/* Feature bits common to all devices. */
#define VF_INDIRECT  28
#define VF_EVENT_IDX 29
#define VF_VERSION_1 32

/* Descriptor flags; the used ring's flag. */
#define VD_NEXT		       1
#define VD_WRITE	       2
#define VD_INDIRECT	       4
#define VRING_USED_F_NO_NOTIFY 1

#define BIT(n) (1ULL << (n))

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One split virtqueue as its driver sees it; the rings are the caller's memory. */
struct vring {
	uint16_t size;
	volatile struct vdesc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint32_t *used;  /* flags|idx, {id, len}[size], avail_event */
	uint16_t avail_idx;	  /* the next avail idx to publish */
};

static inline uint32_t vmmio_read32(uint64_t base, uint32_t reg)
{
	return mmio_read32(base + reg);
}

static inline void vmmio_write32(uint64_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base + reg, v);
}

/* The first `virtio_mmio.device=` entry whose device answers with this device ID. */
bool vmmio_find(uint32_t device_id, struct virtio_mmio_dev *dev);
uint64_t vmmio_device_features(uint64_t base);
/*
 * Reset, ACKNOWLEDGE, DRIVER, accept want & offered (into *features),
 * FEATURES_OK; false if the device did not keep FEATURES_OK.
 */
bool vmmio_negotiate(uint64_t base, uint64_t want, uint64_t *features);
/* Selects queue q; returns its QueueNumMax. */
uint16_t vmmio_queue_select(uint64_t base, unsigned int q);
/* Gives r (size and rings) to the selected queue; false if QueueReady stays 0. */
bool vmmio_queue_enable(uint64_t base, const struct vring *r);
/* Sets DRIVER_OK; false if the device refused it or needs a reset. */
bool vmmio_driver_ok(uint64_t base);

static inline uint16_t vring_used_idx(const struct vring *r)
{
	return ((volatile uint16_t *)r->used)[1];
}

static inline uint32_t vring_used_id(const struct vring *r, uint16_t i)
{
	return r->used[1 + 2 * (i % r->size)];
}

static inline uint32_t vring_used_len(const struct vring *r, uint16_t i)
{
	return r->used[2 + 2 * (i % r->size)];
}

static inline uint16_t vring_avail_event(const struct vring *r)
{
	return ((volatile uint16_t *)r->used)[2 + 4 * r->size];
}

/* With EVENT_IDX: interrupt me when the device's used idx passes v. */
static inline void vring_set_used_event(struct vring *r, uint16_t v)
{
	r->avail[2 + r->size] = v;
}

/* Appends head to the avail ring; the device sees it after vring_publish. */
static inline void vring_post(struct vring *r, uint16_t head)
{
	r->avail[2 + r->avail_idx % r->size] = head;
	r->avail_idx++;
}

/*
 * Makes the posted heads visible: ring entries before the index (x86 keeps
 * stores in order), and the index before what follows (the notify, or a
 * read of the device's suppression fields).
 */
static inline void vring_publish(struct vring *r)
{
	barrier();
	r->avail[1] = r->avail_idx;
	mb();
}

/*
 * After vring_publish moved avail idx from old: does the device want a
 * notify?  With EVENT_IDX it says so by avail_event (virtio 1.2 §2.7.10),
 * without it by the used ring's NO_NOTIFY flag.
 */
static inline bool vring_should_kick(const struct vring *r, bool event_idx, uint16_t old)
{
	uint16_t new = r->avail_idx;

	if (event_idx)
		return (uint16_t)(new - vring_avail_event(r) - 1) < (uint16_t)(new - old);
	return !(((volatile uint16_t *)r->used)[0] & VRING_USED_F_NO_NOTIFY);
}

#endif
