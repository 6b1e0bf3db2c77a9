#include "virtio_blk_lib.h"

#include "rt.h"

static struct vdesc ring_desc[VBLK_QSIZE] __attribute__((aligned(4096)));
static uint16_t ring_avail[3 + VBLK_QSIZE] __attribute__((aligned(4096)));
static uint32_t ring_used[2 + 2 * VBLK_QSIZE] __attribute__((aligned(4096)));
static struct virtio_blk_req_hdr hdrs[VBLK_SLOTS] __attribute__((aligned(64)));
static uint8_t statuses[VBLK_SLOTS] __attribute__((aligned(64)));

bool vblk_negotiate(struct vblk *b, uint64_t base, uint64_t want)
{
	b->base = base;
	return vmmio_negotiate(base, want, &b->features);
}

bool vblk_start(struct vblk *b, uint16_t qsize)
{
	uint16_t max = vmmio_queue_select(b->base, 0);

	if (!qsize)
		qsize = max < VBLK_QSIZE ? max : VBLK_QSIZE;
	b->vq = (struct vring){qsize, ring_desc, ring_avail, ring_used, 0};
	b->hdr = hdrs;
	b->status = statuses;
	memset(ring_desc, 0, sizeof(ring_desc));
	memset(ring_avail, 0, sizeof(ring_avail));
	memset(ring_used, 0, sizeof(ring_used));
	if (!vmmio_queue_enable(b->base, &b->vq))
		return false;
	b->capacity = (uint64_t)vmmio_read32(b->base, VMMIO_CONFIG) |
		      (uint64_t)vmmio_read32(b->base, VMMIO_CONFIG + 4) << 32;
	return vmmio_driver_ok(b->base);
}

bool vblk_setup_queue(struct vblk *b, const struct vblk *dev, uint16_t q, uint16_t qsize, void *mem)
{
	uint8_t *m = mem;
	uint16_t max;

	*b = (struct vblk){.base = dev->base, .features = dev->features, .index = q};
	max = vmmio_queue_select(b->base, q);
	if (!max)
		return false;
	if (!qsize)
		qsize = max < VBLK_QSIZE ? max : VBLK_QSIZE;
	memset(m, 0, VBLK_QUEUE_BYTES);
	/* Page 0: descriptors; 1: avail ring; 2: used ring; 3: headers, then status bytes. */
	b->vq = (struct vring){qsize, (struct vdesc *)m, (uint16_t *)(m + 4096),
			       (uint32_t *)(m + 2 * 4096), 0};
	b->hdr = (struct virtio_blk_req_hdr *)(m + 3 * 4096);
	b->status = m + 3 * 4096 + 2048;
	return vmmio_queue_enable(b->base, &b->vq);
}

bool vblk_driver_ok(struct vblk *b)
{
	b->capacity = (uint64_t)vmmio_read32(b->base, VMMIO_CONFIG) |
		      (uint64_t)vmmio_read32(b->base, VMMIO_CONFIG + 4) << 32;
	return vmmio_driver_ok(b->base);
}

void vblk_queue(struct vblk *b, unsigned int slot, uint32_t type, uint64_t sector, void *buf,
		uint32_t len, bool device_writes)
{
	uint16_t d = (uint16_t)(3 * slot);

	b->hdr[slot].type = type;
	b->hdr[slot].ioprio = 0;
	b->hdr[slot].sector = sector;
	b->status[slot] = 0xff;
	b->vq.desc[d] = (struct vdesc){(uint64_t)(uintptr_t)&b->hdr[slot], 16, VD_NEXT,
				       (uint16_t)(len ? d + 1 : d + 2)};
	b->vq.desc[d + 1] =
	    (struct vdesc){(uint64_t)(uintptr_t)buf, len,
			   (uint16_t)(VD_NEXT | (device_writes ? VD_WRITE : 0)), (uint16_t)(d + 2)};
	b->vq.desc[d + 2] = (struct vdesc){(uint64_t)(uintptr_t)&b->status[slot], 1, VD_WRITE, 0};
	vring_post(&b->vq, d);
}

void vblk_kick(struct vblk *b)
{
	vring_publish(&b->vq);
	vmmio_write32(b->base, VMMIO_QUEUE_NOTIFY, b->index);
}

struct used_wait {
	const struct vblk *b;
	uint16_t target;
};

static bool used_reached(void *arg)
{
	const struct used_wait *w = arg;

	return vring_used_idx(&w->b->vq) == w->target;
}

bool vblk_wait_used(const struct vblk *b, uint16_t target, uint64_t timeout_ms)
{
	struct used_wait w = {b, target};

	return spin_until(used_reached, &w, timeout_ms);
}

struct status_wait {
	const struct vblk *b;
	uint32_t bits;
};

static bool status_set(void *arg)
{
	const struct status_wait *w = arg;

	return (vmmio_read32(w->b->base, VMMIO_STATUS) & w->bits) == w->bits;
}

bool vblk_wait_status(const struct vblk *b, uint32_t bits, uint64_t timeout_ms)
{
	struct status_wait w = {b, bits};

	return spin_until(status_set, &w, timeout_ms);
}

uint8_t vblk_do(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		bool device_writes)
{
	uint16_t target = (uint16_t)(vring_used_idx(&b->vq) + 1);

	vblk_queue(b, 0, type, sector, buf, len, device_writes);
	vblk_kick(b);
	if (!vblk_wait_used(b, target, 10000))
		return 0xff;
	return b->status[0];
}
