#include "virtio/virtqueue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/*
 * Ring layout in 16-bit units: avail = flags, idx, ring[size], used_event;
 * used = flags, idx, {u32 id, u32 len}[size], avail_event.
 */
#define AVAIL_FLAGS   0
#define AVAIL_IDX     1
#define AVAIL_RING(i) (2 + (i))
#define USED_FLAGS    0
#define USED_IDX      1

static uint16_t *virtq_used_event_slot(struct virtq *vq)
{
	return &vq->avail[AVAIL_RING(vq->size)];
}

static uint16_t *virtq_avail_event_slot(struct virtq *vq)
{
	return &vq->used[2 + 4 * (unsigned int)vq->size];
}

static struct virtq_used_elem *virtq_used_ring(struct virtq *vq)
{
	return (struct virtq_used_elem *)&vq->used[2];
}

/* Guest memory changes under us: every ring field is read exactly once. */
static uint16_t virtq_load_u16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint16_t virtq_load_acquire_u16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void virtq_store_u16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * A descriptor is copied out before it is looked at, so a guest rewriting it
 * concurrently cannot make validation and use see different values.  The
 * compiler barrier stops the copy from being folded into later reads.
 */
static void virtq_read_desc(const void *src, struct virtq_desc *d)
{
	memcpy(d, src, sizeof(*d));
	__asm__ volatile("" ::: "memory");
}

static int virtq_breakf(struct virtq *vq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Mark the queue broken with a formatted reason; returns -EINVAL for the caller to pass on. */
static int virtq_breakf(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->errbuf, sizeof(vq->errbuf), fmt, ap);
	va_end(ap);
	vq->error = vq->errbuf;
	vq->broken = true;
	return -EINVAL;
}

void virtq_break(struct virtq *vq, const char *why)
{
	virtq_breakf(vq, "%s", why);
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_enable(struct virtq *vq, const struct guest_mem *mem, uint64_t features)
{
	uint64_t size = vq->size;
	void *desc, *avail, *used;

	vq->ready = false;
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1))) {
		virtq_breakf(vq, "queue size %u is not a power of two in 1..%u", vq->size,
			     VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
		virtq_breakf(vq, "misaligned ring (desc 0x%llx, driver 0x%llx, device 0x%llx)",
			     (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			     (unsigned long long)vq->used_gpa);
		return -EINVAL;
	}
	desc = guest_mem_ptr(mem, vq->desc_gpa, 16 * size);
	avail = guest_mem_ptr(mem, vq->avail_gpa, 6 + 2 * size);
	used = guest_mem_ptr(mem, vq->used_gpa, 6 + 8 * size);
	if (!desc || !avail || !used) {
		virtq_breakf(vq,
			     "ring outside guest RAM (desc 0x%llx, driver 0x%llx, device 0x%llx)",
			     (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			     (unsigned long long)vq->used_gpa);
		return -EINVAL;
	}
	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = (features >> VIRTIO_F_EVENT_IDX) & 1;
	vq->indirect = (features >> VIRTIO_F_INDIRECT_DESC) & 1;
	/* The driver initialised both indices to zero before QueueReady. */
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->notify_enabled = true;
	vq->broken = false;
	memset(vq->in_flight, 0, sizeof(vq->in_flight));
	vq->error = NULL;
	vq->ready = true;
	return 0;
}

uint16_t virtq_avail_count(struct virtq *vq)
{
	if (!vq->ready || vq->broken)
		return 0;
	return (uint16_t)(virtq_load_acquire_u16(&vq->avail[AVAIL_IDX]) - vq->last_avail_idx);
}

bool virtq_has_avail(struct virtq *vq)
{
	return virtq_avail_count(vq) != 0;
}

/* Append one buffer to elem; the caller has checked the iov limit. */
static int virtq_add_buffer(struct virtq *vq, struct virtq_elem *elem, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *host;

	if (!writable && elem->nr_in)
		return virtq_breakf(vq, "chain %u: device-readable buffer after a writable one",
				    elem->head);
	if (d->len == 0)
		return 0; /* nothing to transfer; not worth an iovec */
	host = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!host)
		return virtq_breakf(vq, "chain %u: buffer 0x%llx+%u is outside guest RAM",
				    elem->head, (unsigned long long)d->addr, d->len);
	if (elem->nr_out + elem->nr_in >= VIRTQ_MAX_SIZE)
		return virtq_breakf(vq, "chain %u: more than %u buffers", elem->head,
				    VIRTQ_MAX_SIZE);
	elem->iov[elem->nr_out + elem->nr_in] = (struct iovec){.iov_base = host, .iov_len = d->len};
	if (writable) {
		elem->nr_in++;
		elem->in_bytes += d->len;
	} else {
		elem->nr_out++;
		elem->out_bytes += d->len;
	}
	return 0;
}

static bool virtq_head_in_flight(const struct virtq *vq, uint16_t head)
{
	return (vq->in_flight[head / 64] >> (head % 64)) & 1;
}

static void virtq_set_in_flight(struct virtq *vq, uint16_t head, bool on)
{
	uint64_t bit = 1ULL << (head % 64);

	if (on)
		vq->in_flight[head / 64] |= bit;
	else
		vq->in_flight[head / 64] &= ~bit;
}

/* Walk an indirect table; it must be the whole chain (spec 2.7.5.3.1). */
static int virtq_walk_indirect(struct virtq *vq, struct virtq_elem *elem,
			       const struct virtq_desc *ind)
{
	const uint8_t *table;
	unsigned int entries, idx = 0, visited = 0;
	struct virtq_desc d;
	int ret;

	if (!vq->indirect)
		return virtq_breakf(
		    vq, "chain %u: indirect descriptor without VIRTIO_F_INDIRECT_DESC", elem->head);
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return virtq_breakf(vq, "chain %u: indirect descriptor with NEXT set", elem->head);
	if (ind->len == 0 || ind->len % sizeof(struct virtq_desc) ||
	    ind->len / sizeof(struct virtq_desc) > VIRTQ_MAX_SIZE)
		return virtq_breakf(vq, "chain %u: bad indirect table length %u", elem->head,
				    ind->len);
	entries = ind->len / sizeof(struct virtq_desc);
	table = guest_mem_ptr(vq->mem, ind->addr, ind->len);
	if (!table)
		return virtq_breakf(vq, "chain %u: indirect table 0x%llx+%u is outside guest RAM",
				    elem->head, (unsigned long long)ind->addr, ind->len);
	for (;;) {
		virtq_read_desc(table + idx * sizeof(struct virtq_desc), &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return virtq_breakf(vq, "chain %u: nested indirect table", elem->head);
		ret = virtq_add_buffer(vq, elem, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		/* A chain visiting more entries than the table has must loop. */
		if (++visited >= entries)
			return virtq_breakf(vq, "chain %u: indirect chain loops", elem->head);
		idx = d.next;
		if (idx >= entries)
			return virtq_breakf(vq,
					    "chain %u: indirect next %u out of range (%u entries)",
					    elem->head, idx, entries);
	}
}

/*
 * The head of the next available chain, checked against the queue: 1 with
 * *head set, 0 if the ring is empty, -EINVAL (queue broken) if the driver's
 * index or the entry is out of range.
 */
static int virtq_next_head(struct virtq *vq, uint16_t *head)
{
	uint16_t avail_idx = virtq_load_acquire_u16(&vq->avail[AVAIL_IDX]);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);

	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return virtq_breakf(vq, "avail idx jumped from %u to %u (queue size %u)",
				    vq->last_avail_idx, avail_idx, vq->size);
	*head = virtq_load_u16(&vq->avail[AVAIL_RING(vq->last_avail_idx & (vq->size - 1))]);
	if (*head >= vq->size)
		return virtq_breakf(vq, "avail ring entry %u: head %u out of range",
				    vq->last_avail_idx, *head);
	if (virtq_head_in_flight(vq, *head))
		return virtq_breakf(vq, "avail ring entry %u: head %u is already in flight",
				    vq->last_avail_idx, *head);
	return 1;
}

/* Follow the chain at elem->head through the descriptor table into elem. */
static int virtq_walk_chain(struct virtq *vq, struct virtq_elem *elem)
{
	uint16_t head = elem->head, idx = head;
	unsigned int visited = 0;
	struct virtq_desc d;
	int ret;

	for (;;) {
		virtq_read_desc(&vq->desc[idx], &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (idx != head)
				return virtq_breakf(
				    vq, "chain %u: indirect descriptor inside a chain", head);
			elem->ndesc = 1;
			return virtq_walk_indirect(vq, elem, &d);
		}
		ret = virtq_add_buffer(vq, elem, &d);
		if (ret)
			return ret;
		elem->ndesc++;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (++visited >= vq->size)
			return virtq_breakf(vq, "chain %u loops or is longer than the queue", head);
		idx = d.next;
		if (idx >= vq->size)
			return virtq_breakf(vq, "chain %u: next %u out of range", head, idx);
	}
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	int ret;

	if (vq->broken || !vq->ready)
		return -EINVAL;
	ret = virtq_next_head(vq, &elem->head);
	if (ret <= 0)
		return ret;
	elem->nr_out = elem->nr_in = elem->ndesc = 0;
	elem->out_bytes = elem->in_bytes = 0;
	ret = virtq_walk_chain(vq, elem);
	if (ret)
		return ret;
	virtq_set_in_flight(vq, elem->head, true);
	vq->last_avail_idx++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e = &virtq_used_ring(vq)[vq->used_idx & (vq->size - 1)];

	__atomic_store_n(&e->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Heads come from virtq_pop(), so below the queue size; the check
	 * only keeps a device bug from writing past the bitmap. */
	if (head < vq->size)
		virtq_set_in_flight(vq, head, false);
}

bool virtq_flush_used(struct virtq *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_idx, event;
	bool valid = vq->signalled_used_valid;

	/* Nothing pushed since the last flush (or since enable, when
	 * signalled_used is 0 too): nothing to publish, no interrupt. */
	if (!vq->ready || old == new)
		return false;
	/* Entries before the index (release), index before reading the
	 * driver's suppression fields (full fence; spec 2.7.10, 2.7.7.2). */
	__atomic_store_n(&vq->used[USED_IDX], new, __ATOMIC_RELEASE);
	atomic_thread_fence(memory_order_seq_cst);
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!vq->event_idx)
		return !(virtq_load_u16(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = virtq_load_u16(virtq_used_event_slot(vq));
	/* Interrupt if used_event lies in [old, new): vring_need_event(). */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!vq->ready || !vq->notify_enabled)
		return;
	vq->notify_enabled = false;
	/* With EVENT_IDX nothing to write: avail_event stays behind the
	 * driver's index, so the driver does not kick. */
	if (!vq->event_idx)
		virtq_store_u16(&vq->used[USED_FLAGS], VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *vq)
{
	return virtq_enable_notify_batch(vq, 1);
}

bool virtq_enable_notify_batch(struct virtq *vq, uint16_t batch)
{
	if (!vq->ready || vq->broken)
		return false;
	if (batch < 1 || !vq->event_idx)
		batch = 1;
	else if (batch > vq->size)
		batch = vq->size;
	vq->notify_enabled = true;
	/* The driver kicks when its new index passes avail_event
	 * (vring_need_event()): here, once batch chains follow last_avail_idx. */
	if (vq->event_idx)
		virtq_store_u16(virtq_avail_event_slot(vq),
				(uint16_t)(vq->last_avail_idx + batch - 1));
	else
		virtq_store_u16(&vq->used[USED_FLAGS], 0);
	/* Publish the request for a kick before looking at the ring again,
	 * or a chain added in between would get neither kick nor service. */
	atomic_thread_fence(memory_order_seq_cst);
	return virtq_avail_count(vq) >= batch;
}
