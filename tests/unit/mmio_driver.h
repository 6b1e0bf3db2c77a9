/*
 * The driver's side of the virtio-mmio registers for the virtio unit tests:
 * 32-bit accesses straight into the transport's handler, and the set-up
 * steps every driver takes (virtio 1.2, 3.1.1).
 */
#ifndef MINIVMM_TEST_MMIO_DRIVER_H
#define MINIVMM_TEST_MMIO_DRIVER_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "virtio/mmio.h"
#include "vm.h"
#include "stats_query.h"

static inline uint32_t tmmio_read(struct virtio_device *dev, uint64_t off)
{
	uint32_t v;

	virtio_mmio_access(dev, off, (uint8_t *)&v, 4, false);
	return v;
}

static inline void tmmio_write(struct virtio_device *dev, uint64_t off, uint32_t v)
{
	virtio_mmio_access(dev, off, (uint8_t *)&v, 4, true);
}

/* Both halves of DeviceFeatures. */
static inline uint64_t tmmio_device_features(struct virtio_device *dev)
{
	uint64_t f;

	tmmio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = tmmio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
	tmmio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return f | (uint64_t)tmmio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

/* ACKNOWLEDGE, DRIVER, both halves of the driver features, FEATURES_OK;
 * returns Status as read back (FEATURES_OK is clear if the device refused). */
static inline uint32_t tmmio_negotiate(struct virtio_device *dev, uint64_t features)
{
	tmmio_write(dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	tmmio_write(dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	tmmio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	tmmio_write(dev, VIRTIO_MMIO_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return tmmio_read(dev, VIRTIO_MMIO_STATUS);
}

/* Queue q's size and ring addresses, then QueueReady. */
static inline void tmmio_setup_queue(struct virtio_device *dev, unsigned int q, uint16_t size,
				     uint64_t desc, uint64_t avail, uint64_t used)
{
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_SEL, q);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NUM, size);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
}


#endif
