/*
 * The free request slots of a device queue (virtio-blk requests,
 * virtio-net transmit requests): a stack of slot numbers 0..VIRTQ_MAX_SIZE-1.
 * The device writes a slot's own fields when it takes the slot, never at
 * reset, so only the slots a driver keeps in flight become resident (each
 * request carries iovec arrays for the longest chain: a queue's 256 are
 * megabytes), and the slot freed last, still in cache, is taken next.
 */
#ifndef MINIVMM_VIRTIO_FREE_SLOTS_H
#define MINIVMM_VIRTIO_FREE_SLOTS_H

#include <stdint.h>

#include "virtio/virtqueue.h"

struct free_slots {
	uint16_t slot[VIRTQ_MAX_SIZE];
	unsigned int count;
};

/* Every slot free; slot 0 is taken first, then 1, ... */
static inline void free_slots_reset(struct free_slots *f)
{
	f->count = VIRTQ_MAX_SIZE;
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		f->slot[i] = (uint16_t)(VIRTQ_MAX_SIZE - 1 - i);
}

/* The slot that free_slots_pop() takes next; count must not be 0. */
static inline unsigned int free_slots_top(const struct free_slots *f)
{
	return f->slot[f->count - 1];
}

static inline void free_slots_pop(struct free_slots *f)
{
	f->count--;
}

/* A slot taken earlier is free again. */
static inline void free_slots_push(struct free_slots *f, unsigned int slot)
{
	f->slot[f->count++] = (uint16_t)slot;
}

#endif
