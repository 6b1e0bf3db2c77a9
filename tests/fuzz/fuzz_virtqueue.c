/*
 * The split virtqueue (virtio/virtqueue.c) against a driver that writes
 * whatever the input says into fake guest RAM: descriptors, indirect
 * tables, avail entries and indices, interleaved with pops, pushes,
 * flushes, breaks and resets.
 *
 * Every pop is compared with a reference walk of the same ring written
 * from the specification (virtio 1.2, 2.7.5 and 2.7.13), which also says
 * which buffers the chain must yield.  Invariants:
 *  - a pop succeeds exactly when the reference finds a well-formed chain,
 *    and then yields the reference's buffers, all inside guest RAM;
 *  - a popped head is not in flight already (each head at most once
 *    between its pop and its push); only popped heads are pushed, and the
 *    used ring holds exactly what was pushed;
 *  - a broken queue (malformed chain, virtq_break) pops nothing and has
 *    nothing available until it is enabled again;
 *  - after a reset and enable, a valid chain pops.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_input.h"
#include "guest_mem.h"
#include "virtio/virtqueue.h"
#include "virtio_fuzz_support.h"

#define RAM_SIZE     0x10000u
#define DESC_GPA     0x0000u
#define AVAIL_GPA    0x1000u
#define USED_GPA     0x2000u
#define TABLES_GPA   0x3000u /* indirect tables the input writes: 4 of 4 KiB */
#define TABLE_STRIDE 0x1000u

static uint8_t *ram;
static struct guest_mem mem;
static struct virtq vq;
static struct virtq_elem elem;

/* What the driver knows about the queue. */
static struct {
	bool ready, broken, indirect;
	uint16_t size;
	uint16_t last_avail; /* chains popped since enable */
	uint16_t used;	     /* chains pushed since enable */
	bool event_idx;
	uint16_t flushed; /* used idx at the last flush that published */
	bool flushed_valid;
	bool notify_enabled;
	uint16_t inflight[VIRTQ_MAX_SIZE];
	unsigned int nr_inflight;
	uint64_t desc_gpa, avail_gpa, used_gpa;
} drv;

/* The reference walk's result: the buffers a well-formed chain yields. */
struct ref_chain {
	uint16_t head, ndesc, nr_out, nr_in;
	struct iovec iov[VIRTQ_MAX_SIZE];
};
static struct ref_chain ref;

static uint16_t fvq_ram_u16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, ram + gpa, 2);
	return v;
}

static void fvq_ram_put_u16(uint64_t gpa, uint16_t v)
{
	memcpy(ram + gpa, &v, 2);
}

static bool fvq_in_ram(uint64_t gpa, uint64_t len)
{
	return gpa <= RAM_SIZE && len <= RAM_SIZE - gpa;
}

static bool fvq_drv_in_flight(uint16_t head)
{
	for (unsigned int i = 0; i < drv.nr_inflight; i++)
		if (drv.inflight[i] == head)
			return true;
	return false;
}

/* One descriptor's buffer; false if the chain is malformed by it. */
static bool fvq_ref_add(const struct virtq_desc *d)
{
	bool w = d->flags & VIRTQ_DESC_F_WRITE;

	/* Zero-length buffers carry nothing and are skipped (the model's choice). */
	if (!w && ref.nr_in)
		return false;
	if (d->len == 0)
		return true;
	if (!fvq_in_ram(d->addr, d->len) || ref.nr_out + ref.nr_in >= VIRTQ_MAX_SIZE)
		return false;
	ref.iov[ref.nr_out + ref.nr_in] =
	    (struct iovec){.iov_base = ram + d->addr, .iov_len = d->len};
	if (w)
		ref.nr_in++;
	else
		ref.nr_out++;
	return true;
}

static bool fvq_ref_walk_indirect(const struct virtq_desc *ind)
{
	unsigned int n, j = 0, visited = 0;
	struct virtq_desc d;

	if (!drv.indirect || (ind->flags & VIRTQ_DESC_F_NEXT) || ind->len == 0 || ind->len % 16 ||
	    ind->len / 16 > VIRTQ_MAX_SIZE || !fvq_in_ram(ind->addr, ind->len))
		return false;
	n = ind->len / 16;
	for (;;) {
		memcpy(&d, ram + ind->addr + 16 * j, 16);
		if ((d.flags & VIRTQ_DESC_F_INDIRECT) || !fvq_ref_add(&d))
			return false;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		if (++visited >= n || d.next >= n)
			return false;
		j = d.next;
	}
}

/* 1: a chain (ref filled), 0: ring empty, -EINVAL: malformed. */
static int fvq_ref_next(void)
{
	uint16_t avail_idx = fvq_ram_u16(drv.avail_gpa + 2);
	uint16_t pending = (uint16_t)(avail_idx - drv.last_avail), idx;
	unsigned int visited = 0;
	struct virtq_desc d;

	if (!drv.ready || drv.broken)
		return -EINVAL;
	if (pending == 0)
		return 0;
	if (pending > drv.size)
		return -EINVAL;
	ref.head = fvq_ram_u16(drv.avail_gpa + 4 + 2 * (drv.last_avail % drv.size));
	ref.ndesc = ref.nr_out = ref.nr_in = 0;
	if (ref.head >= drv.size || fvq_drv_in_flight(ref.head))
		return -EINVAL;
	idx = ref.head;
	for (;;) {
		memcpy(&d, ram + drv.desc_gpa + 16 * idx, 16);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			ref.ndesc = 1;
			return idx == ref.head && fvq_ref_walk_indirect(&d) ? 1 : -EINVAL;
		}
		if (!fvq_ref_add(&d))
			return -EINVAL;
		ref.ndesc++;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 1;
		if (++visited >= drv.size || d.next >= drv.size)
			return -EINVAL;
		idx = d.next;
	}
}

static void fvq_check_pop(void)
{
	int want = fvq_ref_next();
	int got = virtq_pop(&vq, &elem);

	VFUZZ_CHECK(got == want, "virtq_pop returned %d, the reference walk %d (error: %s)", got,
		    want, vq.error ? vq.error : "none");
	if (got < 0) {
		drv.broken = true;
		return;
	}
	if (got == 0)
		return;
	VFUZZ_CHECK(elem.head == ref.head && elem.head < drv.size, "popped head %u, expected %u",
		    elem.head, ref.head);
	VFUZZ_CHECK(elem.nr_out == ref.nr_out && elem.nr_in == ref.nr_in && elem.ndesc == ref.ndesc,
		    "chain %u: %u out %u in %u descs, expected %u %u %u", elem.head, elem.nr_out,
		    elem.nr_in, elem.ndesc, ref.nr_out, ref.nr_in, ref.ndesc);
	uint64_t out = 0, in = 0;

	for (unsigned int i = 0; i < (unsigned int)elem.nr_out + elem.nr_in; i++) {
		const uint8_t *b = elem.iov[i].iov_base;

		VFUZZ_CHECK(b >= ram && elem.iov[i].iov_len <= RAM_SIZE &&
				b + elem.iov[i].iov_len <= ram + RAM_SIZE && elem.iov[i].iov_len,
			    "chain %u buffer %u (%zu bytes) outside guest RAM", elem.head, i,
			    elem.iov[i].iov_len);
		VFUZZ_CHECK(elem.iov[i].iov_base == ref.iov[i].iov_base &&
				elem.iov[i].iov_len == ref.iov[i].iov_len,
			    "chain %u buffer %u differs from the descriptor", elem.head, i);
		*(i < elem.nr_out ? &out : &in) += elem.iov[i].iov_len;
	}
	VFUZZ_CHECK(out == elem.out_bytes && in == elem.in_bytes, "chain %u: byte counts wrong",
		    elem.head);
	drv.inflight[drv.nr_inflight++] = elem.head;
	drv.last_avail++;
}

static void fvq_do_push(struct fuzz_input *in)
{
	unsigned int i;
	uint16_t head;
	uint32_t len = fuzz_u32(in);
	struct virtq_used_elem e;

	if (!drv.nr_inflight || !drv.ready)
		return;
	i = fuzz_below(in, drv.nr_inflight);
	head = drv.inflight[i];
	drv.inflight[i] = drv.inflight[--drv.nr_inflight];
	virtq_push(&vq, head, len);
	memcpy(&e, ram + drv.used_gpa + 4 + 8 * (drv.used % drv.size), 8);
	VFUZZ_CHECK(e.id == head && e.len == len, "used entry %u is {%u, %u}, pushed {%u, %u}",
		    drv.used, e.id, e.len, head, len);
	drv.used++;
}

/*
 * Whether the driver wants an interrupt for what a flush publishes (virtio
 * 1.2, 2.7.7 and 2.7.10): VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX
 * whether used_event lies in the entries just published.
 */
static bool fvq_ref_flush(void)
{
	uint16_t old = drv.flushed, new = drv.used, event;
	bool valid = drv.flushed_valid;

	if (!drv.ready || old == new)
		return false;
	drv.flushed = new;
	drv.flushed_valid = true;
	if (!drv.event_idx)
		return !(fvq_ram_u16(drv.avail_gpa) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = fvq_ram_u16(drv.avail_gpa + 4 + 2 * drv.size);
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static void fvq_do_flush(void)
{
	bool want = fvq_ref_flush(), got = virtq_flush_used(&vq);

	VFUZZ_CHECK(got == want, "flush asked for an interrupt: %d, expected %d", got, want);
	if (drv.ready)
		VFUZZ_CHECK(fvq_ram_u16(drv.used_gpa + 2) == drv.flushed,
			    "used idx %u after %u pushes", fvq_ram_u16(drv.used_gpa + 2),
			    drv.flushed);
}

/* Kick suppression: what the device writes for the driver to read. */
static void fvq_do_notify(bool enable)
{
	bool want = false;

	if (enable) {
		if (drv.ready && !drv.broken) {
			drv.notify_enabled = true;
			want = fvq_ram_u16(drv.avail_gpa + 2) != drv.last_avail;
		}
		VFUZZ_CHECK(virtq_enable_notify(&vq) == want,
			    "virtq_enable_notify did not say whether chains are waiting");
	} else {
		virtq_disable_notify(&vq);
		if (drv.ready)
			drv.notify_enabled = false;
	}
	if (!drv.ready)
		return;
	if (drv.event_idx) {
		if (enable && !drv.broken)
			VFUZZ_CHECK(fvq_ram_u16(drv.used_gpa + 4 + 8 * drv.size) == drv.last_avail,
				    "avail_event %u, the next chain is %u",
				    fvq_ram_u16(drv.used_gpa + 4 + 8 * drv.size), drv.last_avail);
	} else {
		VFUZZ_CHECK(fvq_ram_u16(drv.used_gpa) ==
				(drv.notify_enabled ? 0 : VIRTQ_USED_F_NO_NOTIFY),
			    "used flags 0x%x with kicks %s", fvq_ram_u16(drv.used_gpa),
			    drv.notify_enabled ? "wanted" : "suppressed");
	}
}

/* Reset, configure and enable the queue as the input says (or validly). */
static void fvq_do_enable(struct fuzz_input *in, bool valid)
{
	uint8_t shape = valid ? 0 : fuzz_u8(in);
	uint16_t size = valid ? 16 : (uint16_t)(1u << (fuzz_u8(in) % 9));
	uint64_t features = valid ? 1ULL << VIRTIO_F_INDIRECT_DESC : 0;
	bool ok;

	if (!valid) {
		if (fuzz_u8(in) & 1)
			features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
		if (fuzz_u8(in) & 1)
			features |= 1ULL << VIRTIO_F_EVENT_IDX;
	}
	if (shape >= 0xf0)
		size = fuzz_u16(in); /* anything, even not a power of two */
	drv.desc_gpa = DESC_GPA;
	drv.avail_gpa = AVAIL_GPA;
	drv.used_gpa = USED_GPA;
	if (shape >= 0xe0 && shape < 0xf0) {
		/* Ring addresses off their alignment or out of RAM. */
		drv.desc_gpa += fuzz_u8(in) % 32;
		drv.avail_gpa += fuzz_u8(in) % 8;
		drv.used_gpa = (fuzz_u8(in) & 1) ? RAM_SIZE - 8 : USED_GPA + fuzz_u8(in) % 8;
	}
	virtq_reset(&vq);
	vq.size = size;
	vq.desc_gpa = drv.desc_gpa;
	vq.avail_gpa = drv.avail_gpa;
	vq.used_gpa = drv.used_gpa;
	ok = size && size <= VIRTQ_MAX_SIZE && !(size & (size - 1)) && !(drv.desc_gpa & 15) &&
	     !(drv.avail_gpa & 1) && !(drv.used_gpa & 3) &&
	     fvq_in_ram(drv.desc_gpa, 16ULL * size) && fvq_in_ram(drv.avail_gpa, 6 + 2ULL * size) &&
	     fvq_in_ram(drv.used_gpa, 6 + 8ULL * size);
	VFUZZ_CHECK((virtq_enable(&vq, &mem, features) == 0) == ok,
		    "virtq_enable of size %u at %#lx/%#lx/%#lx: %s, expected %s", size,
		    (unsigned long)drv.desc_gpa, (unsigned long)drv.avail_gpa,
		    (unsigned long)drv.used_gpa, vq.error ? vq.error : "ok", ok ? "ok" : "refusal");
	if (ok) /* the driver hands over a zeroed used ring */
		memset(ram + drv.used_gpa, 0, 6 + 8ULL * size);
	drv.ready = ok;
	drv.broken = false;
	drv.size = size;
	drv.indirect = features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	drv.last_avail = drv.used = drv.flushed = 0;
	drv.flushed_valid = false;
	drv.notify_enabled = true;
	drv.event_idx = features & (1ULL << VIRTIO_F_EVENT_IDX);
	drv.nr_inflight = 0;
}

static uint64_t fvq_pick_addr(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 0xe0)
		return fuzz_u16(in) % RAM_SIZE;
	if (how < 0xf0)
		return RAM_SIZE - fuzz_u8(in); /* near or across the end of RAM */
	return fuzz_u64(in);
}

static uint32_t fvq_pick_len(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 0xc0)
		return fuzz_u8(in);
	if (how < 0xf0)
		return fuzz_u16(in);
	return fuzz_u32(in);
}

static void fvq_write_desc(struct fuzz_input *in, uint64_t gpa)
{
	struct virtq_desc d;

	d.addr = fvq_pick_addr(in);
	d.len = fvq_pick_len(in);
	d.flags = fuzz_u8(in);
	if (d.flags & 0x80)
		d.flags = fuzz_u16(in);
	else
		d.flags &= 7;
	d.next = fuzz_u8(in);
	if (d.next >= 0xf8)
		d.next = fuzz_u16(in);
	memcpy(ram + gpa, &d, 16);
}

static void fvq_do_post(struct fuzz_input *in)
{
	uint16_t idx = fvq_ram_u16(drv.avail_gpa + 2);
	uint16_t head = fuzz_u8(in);

	if (!drv.ready)
		return;
	if (head >= 0xf0)
		head = fuzz_u16(in);
	fvq_ram_put_u16(drv.avail_gpa + 4 + 2 * (idx % drv.size), head);
	fvq_ram_put_u16(drv.avail_gpa + 2, (uint16_t)(idx + 1));
}

/* The closing check: a reset queue with one valid chain in it pops that chain. */
static void fvq_check_valid_chain_pops(void)
{
	struct virtq_desc d = {.addr = 0x8000, .len = 100, .flags = VIRTQ_DESC_F_NEXT, .next = 3};
	struct virtq_desc w = {.addr = 0x9000, .len = 50, .flags = VIRTQ_DESC_F_WRITE};

	fvq_do_enable(NULL, true);
	memset(ram + AVAIL_GPA, 0, 6 + 2 * 16);
	memcpy(ram + DESC_GPA + 16 * 5, &d, 16);
	memcpy(ram + DESC_GPA + 16 * 3, &w, 16);
	fvq_ram_put_u16(AVAIL_GPA + 4, 5);
	fvq_ram_put_u16(AVAIL_GPA + 2, 1);
	VFUZZ_CHECK(virtq_pop(&vq, &elem) == 1, "a valid chain after reset did not pop: %s",
		    vq.error ? vq.error : "ring empty");
	VFUZZ_CHECK(elem.head == 5 && elem.nr_out == 1 && elem.nr_in == 1 &&
			elem.iov[0].iov_base == ram + 0x8000 && elem.iov[1].iov_len == 50,
		    "the valid chain popped wrong");
	virtq_push(&vq, 5, 50);
	virtq_flush_used(&vq);
	VFUZZ_CHECK(fvq_ram_u16(USED_GPA + 2) == 1, "the valid chain was not used");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_add_region(&mem, 0, RAM_SIZE, ram))
		abort();
	vfuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	unsigned int ops = 0;

	memset(ram, 0, RAM_SIZE);
	fvq_do_enable(&in, false);
	while (!fuzz_input_done(&in) && ops++ < 4096) {
		switch (fuzz_u8(&in) % 13) {
		case 0:
		case 1:
			fvq_write_desc(&in, DESC_GPA + 16 * (fuzz_u8(&in) % VIRTQ_MAX_SIZE));
			break;
		case 2:
			fvq_write_desc(&in, TABLES_GPA + TABLE_STRIDE * (fuzz_u8(&in) % 4) +
						16 * (fuzz_u8(&in) % VIRTQ_MAX_SIZE));
			break;
		case 3:
		case 4:
			fvq_do_post(&in);
			break;
		case 5:
			/* The driver's index moves by itself (jumps, wraps). */
			fvq_ram_put_u16(drv.avail_gpa + 2,
					(uint16_t)(fvq_ram_u16(drv.avail_gpa + 2) + fuzz_u16(&in)));
			break;
		case 6:
		case 7:
			fvq_check_pop();
			break;
		case 8:
			fvq_do_push(&in);
			break;
		case 9:
			fvq_do_flush();
			break;
		case 10:
			if (fuzz_u8(&in) < 0x20)
				fvq_do_enable(&in, false);
			else if (fuzz_u8(&in) < 0x10 && drv.ready) {
				virtq_break(&vq, "fuzz");
				drv.broken = true;
			}
			break;
		case 11:
			fvq_do_notify(!(fuzz_u8(&in) & 1));
			if (drv.broken || !drv.ready)
				VFUZZ_CHECK(!virtq_has_avail(&vq),
					    "a broken or disabled queue has chains available");
			break;
		case 12: /* the driver's suppression fields: avail flags, used_event */
			if (drv.ready)
				fvq_ram_put_u16(drv.avail_gpa +
						    ((fuzz_u8(&in) & 1) ? 4 + 2 * drv.size : 0),
						fuzz_u16(&in));
			break;
		}
	}
	/* Whatever came before: a broken queue stays broken... */
	if (drv.ready && drv.broken)
		VFUZZ_CHECK(virtq_pop(&vq, &elem) == -EINVAL, "a broken queue popped");
	/* ...and a reset one works. */
	fvq_check_valid_chain_pops();
	return 0;
}
