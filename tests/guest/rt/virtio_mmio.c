#include "virtio_mmio.h"

bool vmmio_find(uint32_t device_id, struct virtio_mmio_dev *dev)
{
	struct virtio_mmio_dev devs[8];
	int count = cmdline_virtio_mmio(devs, 8, NULL);

	for (int i = 0; i < count; i++) {
		uint64_t base = devs[i].base;

		if (vmmio_read32(base, VMMIO_MAGIC) == VMMIO_MAGIC_VALUE &&
		    vmmio_read32(base, VMMIO_VERSION) == 2 &&
		    vmmio_read32(base, VMMIO_DEVICE_ID) == device_id) {
			*dev = devs[i];
			return true;
		}
	}
	return false;
}

uint64_t vmmio_device_features(uint64_t base)
{
	uint64_t f;

	vmmio_write32(base, VMMIO_DEVICE_FEATURES_SEL, 0);
	f = vmmio_read32(base, VMMIO_DEVICE_FEATURES);
	vmmio_write32(base, VMMIO_DEVICE_FEATURES_SEL, 1);
	return f | (uint64_t)vmmio_read32(base, VMMIO_DEVICE_FEATURES) << 32;
}

bool vmmio_negotiate(uint64_t base, uint64_t want, uint64_t *features)
{
	uint64_t f;

	vmmio_write32(base, VMMIO_STATUS, 0);
	vmmio_write32(base, VMMIO_STATUS, VST_ACK);
	vmmio_write32(base, VMMIO_STATUS, VST_ACK | VST_DRIVER);
	f = vmmio_device_features(base) & want;
	vmmio_write32(base, VMMIO_DRIVER_FEATURES_SEL, 0);
	vmmio_write32(base, VMMIO_DRIVER_FEATURES, (uint32_t)f);
	vmmio_write32(base, VMMIO_DRIVER_FEATURES_SEL, 1);
	vmmio_write32(base, VMMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	vmmio_write32(base, VMMIO_STATUS, VST_ACK | VST_DRIVER | VST_FEATURES_OK);
	*features = f;
	return vmmio_read32(base, VMMIO_STATUS) & VST_FEATURES_OK;
}

uint16_t vmmio_queue_select(uint64_t base, unsigned int q)
{
	vmmio_write32(base, VMMIO_QUEUE_SEL, q);
	return (uint16_t)vmmio_read32(base, VMMIO_QUEUE_NUM_MAX);
}

static void vmmio_write64(uint64_t base, uint32_t reg, const volatile void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p;

	vmmio_write32(base, reg, (uint32_t)v);
	vmmio_write32(base, reg + 4, (uint32_t)(v >> 32));
}

bool vmmio_queue_enable(uint64_t base, const struct vring *r)
{
	vmmio_write32(base, VMMIO_QUEUE_NUM, r->size);
	vmmio_write64(base, VMMIO_QUEUE_DESC, r->desc);
	vmmio_write64(base, VMMIO_QUEUE_DRIVER, r->avail);
	vmmio_write64(base, VMMIO_QUEUE_DEVICE, r->used);
	vmmio_write32(base, VMMIO_QUEUE_READY, 1);
	return vmmio_read32(base, VMMIO_QUEUE_READY) == 1;
}

bool vmmio_driver_ok(uint64_t base)
{
	vmmio_write32(base, VMMIO_STATUS, VST_ACK | VST_DRIVER | VST_FEATURES_OK | VST_DRIVER_OK);
	return (vmmio_read32(base, VMMIO_STATUS) & (VST_DRIVER_OK | VST_NEEDS_RESET)) ==
	       VST_DRIVER_OK;
}
