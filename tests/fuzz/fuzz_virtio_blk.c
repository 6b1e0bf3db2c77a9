/*
 * virtio-blk (virtio/blk.c) on the sync disk engine over a memfd image,
 * through the mmio transport and the device's real I/O thread.  The input
 * chooses the negotiated features and builds batches of request chains:
 * types, sectors, header and status layouts, data segments (lengths,
 * directions), indirect tables.  The target knows what each chain must
 * get (virtio 1.2, 5.2.6) and keeps a shadow copy of the image.
 *
 * Invariants:
 *  - a well-formed chain is completed, never breaks the queue; a chain
 *    with no writable byte or a readable buffer after a writable one puts
 *    the device in NEEDS_RESET and is not completed;
 *  - every completed request's status byte is OK, IOERR or UNSUPP, and it
 *    is the one the specification and the advertised limits call for; the
 *    used length is the data written plus the status byte;
 *  - a successful read returns the image bytes exactly; the image changes
 *    only by successful writes (and write-zeroes, discards) of their
 *    ranges, so a refused write (e.g. past the capacity) changes nothing
 *    and the memfd keeps its size;
 *  - the device never stalls: each batch completes within seconds, and
 *    after the input (and a reset if it needs one) a valid read completes.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_vm.h"
#include "fuzz_input.h"
#include "mmio_driver.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtq_driver.h"
#include "vm_config.h"
#include "virtio_fuzz_support.h"

#define RAM_SIZE    (8u << 20)
#define DISK_BYTES  (64u << 10)
#define CAPACITY    (DISK_BYTES / 512)
#define QSIZE	    64
#define RINGS	    0x1000u
#define BUFS	    0x10000u /* request buffers from here on */
#define MAX_SEGS    8
#define MAX_BATCH   4
#define SERIAL_NAME "minivmm-fuzz-disk"

#define F(bit) (1ULL << (bit))

static struct vm *vm;
static struct virtio_blk *blk;
static struct virtio_device *dev;
static int image_fd;
static uint8_t *ram;
static uint8_t shadow[DISK_BYTES];
static uint8_t image_now[DISK_BYTES];
static uint8_t image_initial[DISK_BYTES];
static uint8_t serial[VIRTIO_BLK_ID_BYTES];
static struct tdrv drv;
static uint64_t features;
static uint64_t next_buf, ram_used; /* bump allocator; high-water mark to clear */
static uint16_t next_desc, posted;

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct req {
	struct seg seg[MAX_SEGS];
	unsigned int nseg;
	bool indirect;
	uint32_t type;
	uint64_t sector;
	struct virtio_blk_discard_write_zeroes dz;
	/* What the device must do with it. */
	bool malformed;
	uint8_t status;
	uint32_t written;
	uint64_t status_gpa;
	uint16_t head;
};

static struct req reqs[MAX_BATCH];
static FILE *trace; /* MINIVMM_FUZZ_TRACE set: one line per completion on stdout */

/* Guest memory for a buffer of len bytes, 16-aligned; false if RAM is full. */
static bool fblk_alloc_buf(uint64_t len, uint64_t *gpa)
{
	uint64_t a = next_buf;

	if (len > RAM_SIZE - a)
		return false;
	next_buf = (a + len + 15) & ~15ULL;
	if (next_buf > ram_used)
		ram_used = next_buf;
	*gpa = a;
	return true;
}

static void fblk_add_seg(struct req *r, uint64_t gpa, uint32_t len, bool write)
{
	if (r->nseg < MAX_SEGS)
		r->seg[r->nseg++] = (struct seg){.gpa = gpa, .len = len, .write = write};
}

static uint32_t fblk_pick_data_len(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 0xc0)
		return 512u * (fuzz_u8(in) % 9);
	if (how < 0xf0)
		return fuzz_u16(in) % 8192;
	return VIRTIO_BLK_SIZE_MAX - 512 + 512u * (fuzz_u8(in) % 3); /* around size_max */
}

static uint64_t fblk_pick_sector(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 0xe0)
		return fuzz_u8(in) % (CAPACITY + 4);
	if (how < 0xf0)
		return CAPACITY - fuzz_u8(in) % 4;
	return fuzz_u64(in);
}

/* Builds request r's buffers in RAM as the input says. */
static void fblk_build_request(struct fuzz_input *in, struct req *r)
{
	static const uint32_t types[] = {VIRTIO_BLK_T_IN,      VIRTIO_BLK_T_IN,
					 VIRTIO_BLK_T_OUT,     VIRTIO_BLK_T_OUT,
					 VIRTIO_BLK_T_FLUSH,   VIRTIO_BLK_T_GET_ID,
					 VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
	uint8_t pick = fuzz_u8(in), hdr_layout = fuzz_u8(in), status_layout = fuzz_u8(in);
	uint8_t nseg = fuzz_u8(in) % 4, flip = fuzz_u8(in);
	struct virtio_blk_req_hdr hdr;
	bool to_device, merged = false;
	uint64_t gpa;

	memset(r, 0, sizeof(*r));
	r->type = pick < 0xf0 ? types[pick % 8] : (pick == 0xff ? fuzz_u32(in) : pick % 16);
	r->sector = fblk_pick_sector(in);
	r->indirect = fuzz_u8(in) < 0x40;
	to_device = r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_GET_ID;
	hdr = (struct virtio_blk_req_hdr){.type = r->type, .ioprio = 0, .sector = r->sector};

	/* The header: one buffer, split in two, short, or sharing its buffer with data. */
	switch (hdr_layout % 8) {
	case 0:
	case 1:
	case 2:
		if (fblk_alloc_buf(16, &gpa)) {
			memcpy(ram + gpa, &hdr, 16);
			fblk_add_seg(r, gpa, 16, false);
		}
		break;
	case 3:
		if (fblk_alloc_buf(16, &gpa)) {
			memcpy(ram + gpa, &hdr, 16);
			fblk_add_seg(r, gpa, 8, false);
			fblk_add_seg(r, gpa + 8, 8, false);
		}
		break;
	case 4:
		if (fblk_alloc_buf(16, &gpa)) {
			memcpy(ram + gpa, &hdr, 16);
			fblk_add_seg(r, gpa, fuzz_u8(in) % 16, false);
		}
		break;
	default:
		merged = to_device;
		break;
	}
	/* DISCARD and WRITE_ZEROES carry segments; the rest data buffers. */
	if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
		unsigned int n = nseg == 3 ? 2 : (nseg != 0);

		r->dz.sector = fblk_pick_sector(in);
		r->dz.num_sectors = fuzz_u8(in) < 0xf0 ? fuzz_u8(in) % 64 : fuzz_u32(in);
		r->dz.flags = fuzz_u8(in) < 0xf0 ? fuzz_u8(in) % 2 : fuzz_u32(in);
		nseg = (uint8_t)n;
	}
	for (unsigned int i = 0; i < nseg; i++) {
		bool is_dz =
		    r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES;
		uint32_t len = is_dz ? 16 : fblk_pick_data_len(in);
		bool write = !to_device;
		uint32_t extra = merged && i == 0 ? 16 : 0;

		if ((flip >> i) & 1 && flip >= 0xf0)
			write = !write; /* a buffer in the wrong direction */
		if (!fblk_alloc_buf((uint64_t)len + extra + 1, &gpa))
			break;
		if (extra)
			memcpy(ram + gpa, &hdr, 16);
		if (is_dz)
			memcpy(ram + gpa + extra, &r->dz, 16);
		else if (!write)
			for (uint32_t b = 0; b < len; b++)
				ram[gpa + extra + b] = (uint8_t)(b * 31 + r->sector + i + 0x5a);
		else
			memset(ram + gpa, 0xcc, len); /* stale bytes a read must overwrite */
		fblk_add_seg(r, gpa, len + extra, write);
	}
	if (merged && nseg == 0 && fblk_alloc_buf(16, &gpa)) {
		memcpy(ram + gpa, &hdr, 16);
		fblk_add_seg(r, gpa, 16, false);
	}
	/* The status byte: its own buffer, the end of the last data buffer, the
	 * end of a longer buffer, or missing. */
	switch (status_layout % 8) {
	case 0:
	case 1:
	case 2:
	case 3:
		if (fblk_alloc_buf(1, &gpa))
			fblk_add_seg(r, gpa, 1, true);
		break;
	case 4:
		if (r->nseg && r->seg[r->nseg - 1].write)
			r->seg[r->nseg - 1].len++; /* room for it was allocated */
		else if (fblk_alloc_buf(1, &gpa))
			fblk_add_seg(r, gpa, 1, true);
		break;
	case 5:
		if (fblk_alloc_buf(8, &gpa)) {
			memset(ram + gpa, 0xcc, 8);
			fblk_add_seg(r, gpa, 1 + status_layout / 8 % 8, true);
		}
		break;
	case 6:
		if (fblk_alloc_buf(1, &gpa))
			fblk_add_seg(r, gpa, 0, true); /* empty: no status byte at all */
		break;
	default:
		break;
	}
}

/*
 * What the device must answer (virtio 1.2, 5.2.6, and the limits it
 * advertises), from the buffers as the virtqueue delivers them: empty ones
 * skipped, the status byte carved off the last writable one.
 */
static void fblk_predict(struct req *r)
{
	struct seg rd[MAX_SEGS], wr[MAX_SEGS], *win;
	unsigned int nr = 0, nw = 0, nwin;
	uint64_t out = 0, len = 0, skip;
	struct virtio_blk_req_hdr hdr;

	r->written = 0;
	r->malformed = r->indirect && !(features & F(VIRTIO_F_INDIRECT_DESC));
	for (unsigned int i = 0; i < r->nseg; i++) {
		/* A readable buffer after a writable one, even an empty one, is
		 * malformed; an empty writable one does not count (the model's
		 * choice: the virtqueue skips it). */
		if (!r->seg[i].write)
			r->malformed |= nw > 0;
		if (!r->seg[i].len)
			continue;
		if (r->seg[i].write) {
			wr[nw++] = r->seg[i];
		} else {
			rd[nr++] = r->seg[i];
			out += r->seg[i].len;
		}
	}
	if (!nw || r->malformed) {
		r->malformed = true;
		return;
	}
	r->status_gpa = wr[nw - 1].gpa + wr[nw - 1].len - 1;
	if (--wr[nw - 1].len == 0)
		nw--;
	if (out < 16) {
		r->status = VIRTIO_BLK_S_IOERR;
		return;
	}
	/* The header as the device sees it: the first 16 readable bytes. */
	for (unsigned int i = 0, got = 0; got < 16; i++) {
		uint32_t n = rd[i].len < 16 - got ? rd[i].len : 16 - got;

		memcpy((uint8_t *)&hdr + got, ram + rd[i].gpa, n);
		got += n;
	}
	if (hdr.type == VIRTIO_BLK_T_IN || hdr.type == VIRTIO_BLK_T_GET_ID) {
		win = wr;
		nwin = nw;
	} else {
		/* The readable buffers less the header's 16 bytes. */
		win = rd;
		nwin = nr;
		for (skip = 16; skip && nwin;) {
			if (win[0].len <= skip) {
				skip -= win[0].len;
				win++;
				nwin--;
			} else {
				win[0].gpa += skip;
				win[0].len -= (uint32_t)skip;
				skip = 0;
			}
		}
	}
	for (unsigned int i = 0; i < nwin; i++)
		len += win[i].len;
	r->type = hdr.type;
	r->sector = hdr.sector;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		r->status = VIRTIO_BLK_S_IOERR;
		if (len % 512)
			return;
		for (unsigned int i = 0; i < nwin; i++)
			if (win[i].len > VIRTIO_BLK_SIZE_MAX)
				return;
		if (hdr.sector > CAPACITY || len / 512 > CAPACITY - hdr.sector)
			return;
		r->status = VIRTIO_BLK_S_OK;
		if (hdr.type == VIRTIO_BLK_T_IN)
			r->written = (uint32_t)len;
		return;
	case VIRTIO_BLK_T_FLUSH:
		r->status = VIRTIO_BLK_S_OK;
		return;
	case VIRTIO_BLK_T_GET_ID:
		r->status = VIRTIO_BLK_S_OK;
		r->written = len < VIRTIO_BLK_ID_BYTES ? (uint32_t)len : VIRTIO_BLK_ID_BYTES;
		return;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = hdr.type == VIRTIO_BLK_T_DISCARD;
		struct virtio_blk_discard_write_zeroes dz;

		if (!(features & F(discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))) {
			r->status = VIRTIO_BLK_S_UNSUPP;
			return;
		}
		r->status = VIRTIO_BLK_S_IOERR;
		if (len != 16)
			return;
		for (unsigned int i = 0, got = 0; got < 16; i++) {
			memcpy((uint8_t *)&dz + got, ram + win[i].gpa,
			       win[i].len < 16 - got ? win[i].len : 16 - got);
			got += win[i].len < 16 - got ? win[i].len : 16 - got;
		}
		r->dz = dz;
		if (dz.flags & ~(discard ? 0u : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			r->status = VIRTIO_BLK_S_UNSUPP;
		else if (dz.num_sectors <= VIRTIO_BLK_MAX_DISCARD_SECTORS &&
			 dz.sector <= CAPACITY && dz.num_sectors <= CAPACITY - dz.sector)
			r->status = VIRTIO_BLK_S_OK;
		return;
	}
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
}

/* Descriptors for r (an indirect table if it asks), then the avail entry. */
static bool fblk_post_request(struct req *r)
{
	uint16_t n = r->indirect ? 1 : (uint16_t)r->nseg;
	uint64_t table = 0;

	if (!r->nseg || next_desc + n > QSIZE)
		return false;
	if (r->indirect && !fblk_alloc_buf(16ULL * r->nseg, &table))
		return false;
	r->head = next_desc;
	for (unsigned int i = 0; i < r->nseg; i++) {
		uint16_t flags = (r->seg[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < r->nseg ? VIRTQ_DESC_F_NEXT : 0);

		if (r->indirect)
			tdrv_desc_at(&drv, table, (uint16_t)i, r->seg[i].gpa, r->seg[i].len, flags,
				     (uint16_t)(i + 1));
		else
			tdrv_desc(&drv, (uint16_t)(next_desc + i), r->seg[i].gpa, r->seg[i].len,
				  flags, (uint16_t)(next_desc + i + 1));
	}
	if (r->indirect)
		tdrv_desc(&drv, next_desc, table, 16 * r->nseg, VIRTQ_DESC_F_INDIRECT, 0);
	next_desc += n;
	if (trace) {
		fprintf(trace, "post head %u%s, expect %s:", r->head,
			r->indirect ? " (indirect)" : "", r->malformed ? "break" : "completion");
		for (unsigned int i = 0; i < r->nseg; i++)
			fprintf(trace, " %c%u@%#llx", r->seg[i].write ? 'W' : 'R', r->seg[i].len,
				(unsigned long long)r->seg[i].gpa);
		fputc('\n', trace);
	}
	if (!r->malformed)
		ram[r->status_gpa] = 0xee;
	tdrv_post(&drv, r->head);
	posted++;
	return true;
}

static void fblk_bring_up(void)
{
	uint32_t st;

	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	st = tmmio_negotiate(dev, features);
	VFUZZ_CHECK(st & VIRTIO_STATUS_FEATURES_OK, "features 0x%llx refused",
		    (unsigned long long)features);
	tdrv_init(&drv, &vm->mem, QSIZE, RINGS);
	tmmio_setup_queue(dev, 0, QSIZE, drv.desc, drv.avail, drv.used);
	tmmio_write(dev, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	VFUZZ_CHECK(tmmio_read(dev, VIRTIO_MMIO_STATUS) == 0x0f, "Status 0x%x after DRIVER_OK",
		    tmmio_read(dev, VIRTIO_MMIO_STATUS));
	posted = 0;
	next_desc = 0;
}

static struct {
	uint16_t want;
	bool broken;
} wait_for;

static bool fblk_batch_settled(void *arg)
{
	(void)arg;
	return tdrv_used_idx(&drv) == wait_for.want &&
	       (!wait_for.broken ||
		(tmmio_read(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
}

/* Gathers a completed read's data from its writable buffers and checks it. */
static void fblk_check_read_data(const struct req *r)
{
	uint64_t off = r->sector * 512, done = 0;

	for (unsigned int i = 0; i < r->nseg && done < r->written; i++) {
		const struct seg *s = &r->seg[i];
		uint64_t n = s->len;

		if (!s->write || !n)
			continue;
		if (s->gpa + n - 1 == r->status_gpa)
			n--;
		for (uint64_t b = 0; b < n && done < r->written; b++, done++)
			VFUZZ_CHECK(
			    ram[s->gpa + b] == shadow[off + done],
			    "read of sector %llu: byte %llu is 0x%02x, the image has 0x%02x",
			    (unsigned long long)r->sector, (unsigned long long)done,
			    ram[s->gpa + b], shadow[off + done]);
	}
}

static void fblk_apply_write(const struct req *r)
{
	uint64_t off = r->sector * 512, done = 0, skip = 16;

	for (unsigned int i = 0; i < r->nseg && done < r->written; i++) {
		const struct seg *s = &r->seg[i];
		uint64_t b = 0;

		if (s->write || !s->len)
			continue;
		for (; skip && b < s->len; b++)
			skip--;
		for (; b < s->len && done < r->written; b++)
			shadow[off + done++] = ram[s->gpa + b];
	}
}

/* The request r completed with status st and used length len: check and account. */
static void fblk_check_completion(struct req *r, uint32_t len)
{
	uint8_t st = ram[r->status_gpa];

	if (trace)
		fprintf(trace, "blk: type %u sector %llu: status %u (expected %u), used len %u\n",
			r->type, (unsigned long long)r->sector, st, r->status, len);

	VFUZZ_CHECK(st <= VIRTIO_BLK_S_UNSUPP, "status byte 0x%02x", st);
	VFUZZ_CHECK(st == r->status, "type %u sector %llu: status %u, expected %u", r->type,
		    (unsigned long long)r->sector, st, r->status);
	VFUZZ_CHECK(len == r->written + 1, "type %u: used length %u, expected %u", r->type, len,
		    r->written + 1);
	if (st != VIRTIO_BLK_S_OK)
		return;
	if (r->type == VIRTIO_BLK_T_IN) {
		fblk_check_read_data(r);
	} else if (r->type == VIRTIO_BLK_T_OUT) {
		/* fblk_apply_write counts its bytes in written; a write has written 0. */
		uint64_t bytes = 0;

		for (unsigned int i = 0; i < r->nseg; i++)
			if (!r->seg[i].write)
				bytes += r->seg[i].len;
		r->written = (uint32_t)(bytes - 16);
		fblk_apply_write(r);
	} else if (r->type == VIRTIO_BLK_T_GET_ID) {
		for (unsigned int i = 0, n = 0; i < r->nseg && n < r->written; i++)
			for (uint32_t b = 0; r->seg[i].write && b < r->seg[i].len && n < r->written;
			     b++, n++)
				VFUZZ_CHECK(ram[r->seg[i].gpa + b] == serial[n], "GET_ID byte %u",
					    n);
	} else if (r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
		memset(shadow + r->dz.sector * 512, 0, (uint64_t)r->dz.num_sectors * 512);
	} else if (r->type == VIRTIO_BLK_T_DISCARD) {
		/* A memfd punches holes, which read back as zeroes. */
		memset(shadow + r->dz.sector * 512, 0, (uint64_t)r->dz.num_sectors * 512);
	}
}

static void fblk_check_image(void)
{
	struct stat sb;

	VFUZZ_CHECK(fstat(image_fd, &sb) == 0 && sb.st_size == DISK_BYTES,
		    "the image is %lld bytes, not %u", (long long)sb.st_size, DISK_BYTES);
	VFUZZ_CHECK(pread(image_fd, image_now, DISK_BYTES, 0) == DISK_BYTES, "image unreadable");
	if (!memcmp(image_now, shadow, DISK_BYTES))
		return;
	for (unsigned int i = 0; i < DISK_BYTES; i++)
		VFUZZ_CHECK(image_now[i] == shadow[i],
			    "image byte %u is 0x%02x, expected 0x%02x (a write went astray)", i,
			    image_now[i], shadow[i]);
}

/* Posts n requests, kicks once, waits for and checks their completions. */
static void fblk_run_batch(unsigned int n)
{
	unsigned int ok = 0;
	uint16_t first = posted;
	bool broken = false;

	for (unsigned int i = 0; i < n; i++) {
		fblk_predict(&reqs[i]);
		if (!fblk_post_request(&reqs[i]))
			break;
		ok++;
	}
	n = ok;
	/* The device stops at the first malformed chain. */
	wait_for.want = first;
	for (unsigned int i = 0; i < n && !broken; i++) {
		if (reqs[i].malformed)
			broken = true;
		else
			wait_for.want++;
	}
	wait_for.broken = broken;
	/* An interrupt at the last completion we wait for (with EVENT_IDX). */
	tdrv_set_used_event(&drv, (uint16_t)(wait_for.want - 1));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fblk_batch_settled, NULL, 5),
		    "the device stalled: used %u of %u (%s expected)", tdrv_used_idx(&drv),
		    wait_for.want, broken ? "a reset" : "no reset");
	/* Nothing else: no further completion, NEEDS_RESET only for a malformed chain. */
	VFUZZ_CHECK(broken == !!(tmmio_read(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET),
		    "NEEDS_RESET %s", broken ? "missing" : "for well-formed chains");
	for (uint16_t u = first; u != wait_for.want; u++) {
		struct virtq_used_elem e = tdrv_used_elem(&drv, u);
		struct req *r = &reqs[u - first];

		VFUZZ_CHECK(e.id == r->head, "used entry %u is head %u, expected %u", u, e.id,
			    r->head);
		fblk_check_completion(r, e.len);
	}
	fblk_check_image();
	if (broken) {
		fblk_bring_up();
	} else if (next_desc > QSIZE - MAX_BATCH * MAX_SEGS) {
		/* Descriptors are handed out in order: start over on a fresh ring. */
		fblk_bring_up();
	}
	next_buf = BUFS;
}

/* The closing check: a plain read of four sectors completes with the image's bytes. */
static void fblk_check_read_completes(void)
{
	struct req *r = &reqs[0];
	struct virtio_blk_req_hdr hdr = {.type = VIRTIO_BLK_T_IN, .sector = 5};
	uint64_t gpa;

	fblk_bring_up();
	next_buf = BUFS;
	memset(r, 0, sizeof(*r));
	if (!fblk_alloc_buf(16, &gpa))
		abort();
	memcpy(ram + gpa, &hdr, 16);
	fblk_add_seg(r, gpa, 16, false);
	if (!fblk_alloc_buf(2048, &gpa))
		abort();
	fblk_add_seg(r, gpa, 2048, true);
	if (!fblk_alloc_buf(1, &gpa))
		abort();
	fblk_add_seg(r, gpa, 1, true);
	fblk_run_batch(1);
	VFUZZ_CHECK(ram[r->status_gpa] == VIRTIO_BLK_S_OK, "the closing read failed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char path[64];
	static struct disk_config cfg;

	(void)argc;
	(void)argv;
	vfuzz_quiet_logs();
	trace = vfuzz_trace_stream();
	image_fd = vfuzz_memfd_image(DISK_BYTES, path, sizeof(path));
	cfg = (struct disk_config){
	    .path = path, .cache = DISK_CACHE_WRITEBACK, .engine = DISK_ENGINE_SYNC};
	for (unsigned int i = 0; i < DISK_BYTES; i++)
		image_initial[i] = vfuzz_image_byte(i);
	vm = fake_vm_create(RAM_SIZE);
	ram = guest_mem_ptr(&vm->mem, 0, RAM_SIZE);
	if (virtio_blk_create(vm, &cfg, 0, &blk))
		abort();
	dev = virtio_blk_device(blk);
	/* The serial is the image's file name, here the memfd's descriptor number. */
	memset(serial, 0, sizeof(serial));
	memcpy(serial, strrchr(path, '/') + 1, strlen(strrchr(path, '/') + 1));
	ram_used = RAM_SIZE;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	unsigned int batches = 0;
	uint8_t fbits;

	/* Stop the last input's I/O thread, then start from a clean slate. */
	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	memset(ram, 0, ram_used);
	ram_used = next_buf = BUFS;
	memcpy(shadow, image_initial, DISK_BYTES);
	if (pwrite(image_fd, shadow, DISK_BYTES, 0) != DISK_BYTES ||
	    ftruncate(image_fd, DISK_BYTES))
		abort();

	fbits = fuzz_u8(&in);
	features = F(VIRTIO_F_VERSION_1);
	if (fbits & 1)
		features |= F(VIRTIO_F_INDIRECT_DESC);
	if (fbits & 2)
		features |= F(VIRTIO_F_EVENT_IDX);
	if (fbits & 4)
		features |= F(VIRTIO_BLK_F_FLUSH);
	if (fbits & 8)
		features |= F(VIRTIO_BLK_F_DISCARD);
	if (fbits & 16)
		features |= F(VIRTIO_BLK_F_WRITE_ZEROES);
	fblk_bring_up();
	while (!fuzz_input_done(&in) && batches++ < 64) {
		unsigned int n = 1 + fuzz_u8(&in) % MAX_BATCH;

		for (unsigned int i = 0; i < n; i++)
			fblk_build_request(&in, &reqs[i]);
		fblk_run_batch(n);
	}
	fblk_check_read_completes();
	return 0;
}
