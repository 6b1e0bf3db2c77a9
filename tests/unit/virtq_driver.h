/*
 * The driver side of a split virtqueue in fake guest RAM, for the virtio
 * unit tests: lays out the rings, writes descriptors and avail entries the
 * way a guest would, and reads the used ring.
 */
#ifndef MINIVMM_TEST_VIRTQ_DRIVER_H
#define MINIVMM_TEST_VIRTQ_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "guest_mem.h"
#include "virtio/virtqueue.h"

struct tdrv {
	const struct guest_mem *mem;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;
};

static inline void *tdrv_ptr(const struct tdrv *d, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(d->mem, gpa, len);
}

/* Rings at base: descriptors, then avail, then used on a 4 KiB boundary. */
static inline void tdrv_init(struct tdrv *d, const struct guest_mem *mem, uint16_t size,
			     uint64_t base)
{
	d->mem = mem;
	d->size = size;
	d->desc = base;
	d->avail = base + 16ULL * size;
	d->used = (d->avail + 6 + 2ULL * size + 4095) & ~4095ULL;
	d->avail_idx = 0;
	memset(tdrv_ptr(d, base, d->used + 6 + 8ULL * size - base), 0,
	       d->used + 6 + 8ULL * size - base);
}

static inline void tdrv_vq(const struct tdrv *d, struct virtq *vq)
{
	virtq_reset(vq);
	vq->size = d->size;
	vq->desc_gpa = d->desc;
	vq->avail_gpa = d->avail;
	vq->used_gpa = d->used;
}

static inline void tdrv_desc_at(const struct tdrv *d, uint64_t table, uint16_t i, uint64_t addr,
				uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = {.addr = addr, .len = len, .flags = flags, .next = next};

	memcpy(tdrv_ptr(d, table + 16ULL * i, 16), &desc, 16);
}

static inline void tdrv_desc(const struct tdrv *d, uint16_t i, uint64_t addr, uint32_t len,
			     uint16_t flags, uint16_t next)
{
	tdrv_desc_at(d, d->desc, i, addr, len, flags, next);
}

static inline uint16_t *tdrv_avail(const struct tdrv *d)
{
	return tdrv_ptr(d, d->avail, 6 + 2ULL * d->size);
}

static inline uint16_t *tdrv_used16(const struct tdrv *d)
{
	return tdrv_ptr(d, d->used, 6 + 8ULL * d->size);
}

static inline void tdrv_post(struct tdrv *d, uint16_t head)
{
	uint16_t *a = tdrv_avail(d);

	a[2 + (d->avail_idx % d->size)] = head;
	d->avail_idx++;
	__atomic_store_n(&a[1], d->avail_idx, __ATOMIC_RELEASE);
}

static inline void tdrv_set_avail_idx(struct tdrv *d, uint16_t idx)
{
	d->avail_idx = idx;
	__atomic_store_n(&tdrv_avail(d)[1], idx, __ATOMIC_RELEASE);
}

static inline uint16_t tdrv_used_idx(const struct tdrv *d)
{
	return __atomic_load_n(&tdrv_used16(d)[1], __ATOMIC_ACQUIRE);
}

static inline struct virtq_used_elem tdrv_used_elem(const struct tdrv *d, uint16_t i)
{
	struct virtq_used_elem e;

	memcpy(&e, (uint8_t *)tdrv_used16(d) + 4 + 8 * (i % d->size), sizeof(e));
	return e;
}

static inline void tdrv_set_used_event(const struct tdrv *d, uint16_t v)
{
	__atomic_store_n(&tdrv_avail(d)[2 + d->size], v, __ATOMIC_RELEASE);
}

static inline uint16_t tdrv_avail_event(const struct tdrv *d)
{
	return __atomic_load_n(&tdrv_used16(d)[2 + 4 * d->size], __ATOMIC_ACQUIRE);
}

static inline void tdrv_set_avail_flags(const struct tdrv *d, uint16_t flags)
{
	tdrv_avail(d)[0] = flags;
}

static inline uint16_t tdrv_used_flags(const struct tdrv *d)
{
	return tdrv_used16(d)[0];
}

#endif
