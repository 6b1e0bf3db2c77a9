#include "virtio_blk_lib.h"

#include "rt.h"

static struct vdesc ring_desc[VBLK_QSIZE] __attribute__((aligned(4096)));
static uint16_t ring_avail[3 + VBLK_QSIZE] __attribute__((aligned(4096)));
static uint8_t ring_used[6 + 8 * VBLK_QSIZE] __attribute__((aligned(4096)));
static struct virtio_blk_req_hdr hdrs[VBLK_SLOTS] __attribute__((aligned(64)));
static uint8_t statuses[VBLK_SLOTS] __attribute__((aligned(64)));

uint32_t vblk_read32(const struct vblk *b, uint32_t reg)
{
	return mmio_read32(b->base + reg);
}

void vblk_write32(const struct vblk *b, uint32_t reg, uint32_t v)
{
	mmio_write32(b->base + reg, v);
}

uint64_t vblk_device_features(const struct vblk *b)
{
	uint64_t f;

	vblk_write32(b, VMMIO_DEVICE_FEATURES_SEL, 0);
	f = vblk_read32(b, VMMIO_DEVICE_FEATURES);
	vblk_write32(b, VMMIO_DEVICE_FEATURES_SEL, 1);
	return f | (uint64_t)vblk_read32(b, VMMIO_DEVICE_FEATURES) << 32;
}

bool vblk_negotiate(struct vblk *b, uint64_t base, uint64_t want)
{
	uint64_t f;

	b->base = base;
	vblk_write32(b, VMMIO_STATUS, 0);
	vblk_write32(b, VMMIO_STATUS, VST_ACK);
	vblk_write32(b, VMMIO_STATUS, VST_ACK | VST_DRIVER);
	f = vblk_device_features(b) & want;
	vblk_write32(b, VMMIO_DRIVER_FEATURES_SEL, 0);
	vblk_write32(b, VMMIO_DRIVER_FEATURES, (uint32_t)f);
	vblk_write32(b, VMMIO_DRIVER_FEATURES_SEL, 1);
	vblk_write32(b, VMMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	vblk_write32(b, VMMIO_STATUS, VST_ACK | VST_DRIVER | VST_FEATURES_OK);
	b->features = f;
	return vblk_read32(b, VMMIO_STATUS) & VST_FEATURES_OK;
}

static void write64(const struct vblk *b, uint32_t reg, uint64_t v)
{
	vblk_write32(b, reg, (uint32_t)v);
	vblk_write32(b, reg + 4, (uint32_t)(v >> 32));
}

bool vblk_start(struct vblk *b, uint16_t qsize)
{
	uint16_t max;

	vblk_write32(b, VMMIO_QUEUE_SEL, 0);
	max = (uint16_t)vblk_read32(b, VMMIO_QUEUE_NUM_MAX);
	if (!qsize)
		qsize = max < VBLK_QSIZE ? max : VBLK_QSIZE;
	b->qsize = qsize;
	b->desc = ring_desc;
	b->avail = ring_avail;
	b->used = ring_used;
	b->hdr = hdrs;
	b->status = statuses;
	b->avail_idx = 0;
	memset(ring_desc, 0, sizeof(ring_desc));
	memset(ring_avail, 0, sizeof(ring_avail));
	memset(ring_used, 0, sizeof(ring_used));
	vblk_write32(b, VMMIO_QUEUE_NUM, qsize);
	write64(b, VMMIO_QUEUE_DESC, (uint64_t)(uintptr_t)ring_desc);
	write64(b, VMMIO_QUEUE_DRIVER, (uint64_t)(uintptr_t)ring_avail);
	write64(b, VMMIO_QUEUE_DEVICE, (uint64_t)(uintptr_t)ring_used);
	vblk_write32(b, VMMIO_QUEUE_READY, 1);
	if (vblk_read32(b, VMMIO_QUEUE_READY) != 1)
		return false;
	b->capacity = (uint64_t)vblk_read32(b, VMMIO_CONFIG) |
		      (uint64_t)vblk_read32(b, VMMIO_CONFIG + 4) << 32;
	vblk_write32(b, VMMIO_STATUS, VST_ACK | VST_DRIVER | VST_FEATURES_OK | VST_DRIVER_OK);
	return (vblk_read32(b, VMMIO_STATUS) & (VST_DRIVER_OK | VST_NEEDS_RESET)) == VST_DRIVER_OK;
}

void vblk_queue(struct vblk *b, unsigned int slot, uint32_t type, uint64_t sector, void *buf,
		uint32_t len, bool device_writes)
{
	uint16_t d = (uint16_t)(3 * slot);

	b->hdr[slot].type = type;
	b->hdr[slot].ioprio = 0;
	b->hdr[slot].sector = sector;
	b->status[slot] = 0xff;
	b->desc[d] = (struct vdesc){(uint64_t)(uintptr_t)&b->hdr[slot], 16, VD_NEXT,
				    (uint16_t)(len ? d + 1 : d + 2)};
	b->desc[d + 1] =
	    (struct vdesc){(uint64_t)(uintptr_t)buf, len,
			   (uint16_t)(VD_NEXT | (device_writes ? VD_WRITE : 0)), (uint16_t)(d + 2)};
	b->desc[d + 2] = (struct vdesc){(uint64_t)(uintptr_t)&b->status[slot], 1, VD_WRITE, 0};
	b->avail[2 + (b->avail_idx % b->qsize)] = d;
	b->avail_idx++;
}

void vblk_post_head(struct vblk *b, uint16_t head)
{
	b->avail[2 + (b->avail_idx % b->qsize)] = head;
	b->avail_idx++;
}

void vblk_kick(struct vblk *b)
{
	/* Ring entries before the index (x86: stores are ordered), index
	 * before the notify (mb orders the store against the MMIO write). */
	barrier();
	b->avail[1] = b->avail_idx;
	mb();
	vblk_write32(b, VMMIO_QUEUE_NOTIFY, 0);
}

uint16_t vblk_used_idx(const struct vblk *b)
{
	return *(volatile uint16_t *)(b->used + 2);
}

uint32_t vblk_used_id(const struct vblk *b, uint16_t i)
{
	return *(volatile uint32_t *)(b->used + 4 + 8 * (i % b->qsize));
}

void vblk_set_used_event(struct vblk *b, uint16_t v)
{
	b->avail[2 + b->qsize] = v;
}

struct used_wait {
	const struct vblk *b;
	uint16_t target;
};

static bool used_reached(void *arg)
{
	const struct used_wait *w = arg;

	return vblk_used_idx(w->b) == w->target;
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

	return (vblk_read32(w->b, VMMIO_STATUS) & w->bits) == w->bits;
}

bool vblk_wait_status(const struct vblk *b, uint32_t bits, uint64_t timeout_ms)
{
	struct status_wait w = {b, bits};

	return spin_until(status_set, &w, timeout_ms);
}

uint8_t vblk_do(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		bool device_writes)
{
	uint16_t target = (uint16_t)(vblk_used_idx(b) + 1);

	vblk_queue(b, 0, type, sector, buf, len, device_writes);
	vblk_kick(b);
	if (!vblk_wait_used(b, target, 10000))
		return 0xff;
	return b->status[0];
}
