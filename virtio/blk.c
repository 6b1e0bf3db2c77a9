/*
 * virtio-blk: each chain is parsed (header, then a helper per request type;
 * a refusal carries its reason), submitted to the host disk backend
 * (devices/block/disk.h), and completed with a status byte on the used
 * ring.  The device keeps the FLUSH barrier; the backend does the I/O.
 */
#include "virtio/blk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "counters.h"
#include "devices/block/disk.h"
#include "iov.h"
#include "iothread.h"
#include "log.h"
#include "util.h"
#include "virtio/free_slots.h"
#include "virtio/mmio.h"
#include "vm.h"
#include "vm_config.h"

#define SECTOR		     VIRTIO_BLK_SECTOR_SIZE
#define HDR_BYTES	     sizeof(struct virtio_blk_req_hdr)
#define MAX_LOGGED_IO_ERRORS 10

/*
 * Busy-poll window of the I/O thread before it sleeps (see
 * iothread_set_poll).  The floor is long enough for a polling driver to
 * answer a completion with the next request: a few microseconds when its
 * vCPU is running, while a missed answer costs it a kick, 45-100 us of vCPU
 * time on kvm_pvm (docs/virtio.md).  A vCPU descheduled for milliseconds
 * makes its kicks late, which shrinks the window; with a 4 us floor it
 * stayed there and the driver kicked after every batch.  The ceiling is
 * short enough that an idle disk costs little.
 */
#define BLK_POLL_MIN_NS 20000
#define BLK_POLL_MAX_NS 50000

/* Not a request type: what a request whose header could not be read has. */
#define BLK_T_NONE UINT32_MAX

/*
 * Why parsing refused a request, and the status it is answered with.  Each
 * is counted: --stats rejected_<name>=N, appended in this order.
 */
#define BLK_REJECTIONS(X)                                                                          \
	X(short_header, VIRTIO_BLK_S_IOERR)	 /* fewer than 16 device-readable bytes */         \
	X(unsupported_type, VIRTIO_BLK_S_UNSUPP) /* GET_LIFETIME, SECURE_ERASE, unknown */         \
	X(read_only, VIRTIO_BLK_S_IOERR)	 /* OUT, DISCARD or WRITE_ZEROES on a ro disk */   \
	X(bad_length, VIRTIO_BLK_S_IOERR)	/* IN/OUT data not whole sectors, or over 4 GiB */ \
	X(out_of_range, VIRTIO_BLK_S_IOERR)	/* past the capacity (overflow-safe) */            \
	X(not_negotiated, VIRTIO_BLK_S_UNSUPP)	/* DISCARD/WRITE_ZEROES without the feature */     \
	X(bad_segments, VIRTIO_BLK_S_IOERR)	/* not exactly one DISCARD/WRITE_ZEROES segment */ \
	X(reserved_flags, VIRTIO_BLK_S_UNSUPP)	/* segment flags the type does not define */       \
	X(too_many_sectors, VIRTIO_BLK_S_IOERR) /* over max_discard/write_zeroes_sectors */        \
	X(too_large, VIRTIO_BLK_S_IOERR)	/* IN/OUT over VIRTIO_BLK_MAX_REQUEST_BYTES */     \
	X(too_many_segments, VIRTIO_BLK_S_IOERR) /* IN/OUT over seg_max data buffers */            \
	X(segment_too_large, VIRTIO_BLK_S_IOERR) /* an IN/OUT data buffer over size_max */

/* What parsing decided: on to the disk, answered OK here, or refused (why). */
enum blk_reason {
	BLK_SUBMIT,
	BLK_ANSWERED, /* GET_ID, an empty transfer or range: OK without host I/O */
#define BLK_REJECTION_ENUM(name, status) BLK_REJECT_##name,
	BLK_REJECTIONS(BLK_REJECTION_ENUM)
#undef BLK_REJECTION_ENUM
};

#define BLK_FIRST_REJECTION		   BLK_REJECT_short_header
#define BLK_REJECTION_STATUS(name, status) status,
/* Indexed by reason - BLK_FIRST_REJECTION, as is every table below. */
static const uint8_t blk_rejection_status[] = {BLK_REJECTIONS(BLK_REJECTION_STATUS)};
#define BLK_NR_REJECTIONS ARRAY_SIZE(blk_rejection_status)

#define BLK_COUNTERS(X)                                                                            \
	X(requests)	       /* chains popped */                                                 \
	X(reads)	       /* IN with data, in range */                                        \
	X(writes)	       /* OUT with data, in range */                                       \
	X(flushes)	       /* FLUSH */                                                         \
	X(discards)	       /* negotiated DISCARD on a writable disk */                         \
	X(write_zeroes)	       /* negotiated WRITE_ZEROES on a writable disk */                    \
	X(get_id)	       /* GET_ID */                                                        \
	X(ioerr)	       /* answered IOERR (refused or failed on the host) */                \
	X(unsupp)	       /* answered UNSUPP */                                               \
	X(bytes_read)	       /* by completed reads */                                            \
	X(bytes_written)       /* by completed writes */                                           \
	X(inflight_peak_bytes) /* gauge: the most read/write data ever in flight at once */        \
	X(turns_cut)	       /* I/O-thread turns that yielded at BLK_TURN_BYTES_MAX */

struct blk_counters {
	BLK_COUNTERS(COUNTER_FIELD)
	counter_t rejected[BLK_NR_REJECTIONS]; /* by reason - BLK_FIRST_REJECTION */
};

#define BLK_COUNTER_DESC(name) COUNTER_DESC(struct blk_counters, name)
static const struct counter_desc blk_counter_descs[] = {BLK_COUNTERS(BLK_COUNTER_DESC)};

/* The reasons' name table: "rejected_<name>" and where its counter is. */
#define BLK_REJECTED_DESC(name, status)                                                            \
	{"rejected_" #name, offsetof(struct blk_counters, rejected) +                              \
				(BLK_REJECT_##name - BLK_FIRST_REJECTION) * sizeof(counter_t)},
static const struct counter_desc blk_rejected_descs[] = {BLK_REJECTIONS(BLK_REJECTED_DESC)};

struct virtio_blk;
struct blk_queue;

struct blk_req {
	struct disk_request io; /* the data window, offset and length live here */
	struct blk_queue *q;
	uint32_t type;
	uint8_t *status;     /* the chain's last writable byte */
	uint32_t written;    /* data bytes written into guest buffers */
	uint64_t data_bytes; /* read/write data, counted in inflight_bytes */
	struct virtq_elem elem;
};

struct virtio_blk {
	struct virtio_device vdev;
	char name[32];
	char path[256];
	char serial[VIRTIO_BLK_ID_BYTES];
	struct disk *disk;
	bool read_only;
	uint64_t capacity; /* sectors */
	struct virtio_blk_config config;

	unsigned int nr_queues;	  /* request queues, one I/O thread each */
	struct blk_queue *queues; /* nr_queues of them */
	counter_t inflight_bytes; /* read/write data in flight, all queues */

	struct blk_counters counters;
};

/*
 * One request queue, served by its own I/O thread: queue i by thread i.
 * Everything below blk is touched by that thread only.
 */
struct blk_queue {
	struct virtio_blk *blk;
	unsigned int index;    /* virtqueue index */
	struct iothread *io;   /* the thread serving it */
	int disk_queue;	       /* disk_use_iothread() for io */
	uint64_t inflight_max; /* this queue's share of BLK_INFLIGHT_BYTES_MAX */

	struct free_slots free; /* of reqs */
	unsigned int inflight;
	uint64_t inflight_bytes; /* read/write data in flight */
	uint64_t turn_bytes;	 /* read/write data started in this turn */
	int resume_timer;	 /* continues a turn cut at BLK_TURN_BYTES_MAX */
	bool in_disk_submit;	 /* inside disk_submit(): its completions are inline */
	bool news_for_driver;	 /* requests completed since the last pop */
	/*
	 * A FLUSH is a barrier on its queue: it starts once every earlier
	 * request of the queue has completed, and no later request is popped
	 * from the queue until it has completed.  So every write the guest
	 * saw complete on this queue before the flush's completion is covered
	 * by its fdatasync (which covers every completed write of the file,
	 * whatever its queue); requests of other queues are not ordered
	 * against it, as on a multi-queue disk they cannot be.
	 */
	struct blk_req *parked_flush; /* waiting for earlier requests */
	bool flush_in_progress;
	struct blk_req reqs[VIRTQ_MAX_SIZE];
};

static struct virtio_blk *to_blk(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_blk, vdev);
}

struct virtio_device *virtio_blk_device(struct virtio_blk *blk)
{
	return &blk->vdev;
}

static struct virtq *blk_request_queue(struct blk_queue *q)
{
	return &q->blk->vdev.queues[q->index].vq;
}

static void blk_submit(struct blk_queue *q, struct blk_req *req);

/* Publish q's completions; all queues share the device's one interrupt. */
static void blk_flush_and_signal(struct blk_queue *q)
{
	if (virtq_flush_used(blk_request_queue(q)))
		virtio_mmio_signal_used(&q->blk->vdev);
}

static void blk_complete(struct blk_req *req, uint8_t status)
{
	struct blk_queue *q = req->q;
	struct virtio_blk *blk = q->blk;

	if (status == VIRTIO_BLK_S_IOERR)
		counter_add(&blk->counters.ioerr, 1);
	else if (status == VIRTIO_BLK_S_UNSUPP)
		counter_add(&blk->counters.unsupp, 1);
	__atomic_store_n(req->status, status, __ATOMIC_RELAXED);
	virtq_push(blk_request_queue(q), req->elem.head, req->written + 1);
	q->news_for_driver = true;
	free_slots_push(&q->free, (unsigned int)(req - q->reqs));
	q->inflight--;
	q->inflight_bytes -= req->data_bytes;
	atomic_fetch_sub_explicit(&blk->inflight_bytes, req->data_bytes, memory_order_relaxed);
	if (req->type == VIRTIO_BLK_T_FLUSH)
		q->flush_in_progress = false;
	if (q->parked_flush && q->inflight == 1) {
		struct blk_req *flush = q->parked_flush;

		q->parked_flush = NULL;
		blk_submit(q, flush);
	}
	/* A request the disk completed inside disk_submit() (the sync
	 * engine, or an io_uring request refused before any I/O) is
	 * published at once, so the driver can refill the ring while the device works
	 * through the rest of the batch.  Completions from the ring are
	 * published together after their batch (blk_after_batch). */
	if (q->in_disk_submit)
		blk_flush_and_signal(q);
}

static void blk_log_io_error(struct virtio_blk *blk, const char *what, uint64_t offset, int err)
{
	if (counter_get(&blk->counters.ioerr) < MAX_LOGGED_IO_ERRORS)
		log_error("%s: %s at byte %" PRIu64 ": %s", blk->name, what, offset, strerror(err));
}

/* The disk's result -> status byte. */
static uint8_t blk_io_status(struct blk_req *req, int result)
{
	struct virtio_blk *blk = req->q->blk;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (result == 0) {
			if (req->type == VIRTIO_BLK_T_IN) {
				req->written = (uint32_t)req->io.len;
				counter_add(&blk->counters.bytes_read, req->io.len);
			} else {
				counter_add(&blk->counters.bytes_written, req->io.len);
			}
			return VIRTIO_BLK_S_OK;
		}
		blk_log_io_error(blk, req->type == VIRTIO_BLK_T_IN ? "read" : "write",
				 req->io.offset, -result);
		return VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_DISCARD:
		/* Discard is a hint: a file system without hole punching
		 * simply keeps the data. */
		if (result == -EOPNOTSUPP)
			return VIRTIO_BLK_S_OK;
		/* fall through */
	default:
		if (result == 0)
			return VIRTIO_BLK_S_OK;
		blk_log_io_error(blk, "flush/fallocate", req->io.offset, -result);
		return VIRTIO_BLK_S_IOERR;
	}
}

/* The disk finished a request (in the I/O thread, or inside disk_submit). */
static void blk_io_done(struct disk_request *io, int result)
{
	struct blk_req *req = container_of(io, struct blk_req, io);

	blk_complete(req, blk_io_status(req, result));
}

/* The device-wide peak gauge, raised from any queue's thread (atomic maximum). */
static void blk_raise_inflight_peak(struct virtio_blk *blk, unsigned long now)
{
	counter_t *peak = &blk->counters.inflight_peak_bytes;
	unsigned long seen = counter_get(peak);

	while (now > seen && !atomic_compare_exchange_weak_explicit(
				 peak, &seen, now, memory_order_relaxed, memory_order_relaxed))
		;
}

static void blk_submit(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;
	bool outer = q->in_disk_submit; /* a parked flush starts inside a completion */
	int ret;

	if (req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_OUT) {
		req->data_bytes = req->io.len;
		q->inflight_bytes += req->data_bytes;
		q->turn_bytes += req->data_bytes;
		blk_raise_inflight_peak(blk, atomic_fetch_add_explicit(&blk->inflight_bytes,
								       req->data_bytes,
								       memory_order_relaxed) +
						 req->data_bytes);
	}
	q->in_disk_submit = true;
	ret = disk_submit_on(blk->disk, q->disk_queue, &req->io);
	q->in_disk_submit = outer;
	/* Refused before any I/O: no memory for a bounce buffer, or a ring
	 * that takes no more SQEs. */
	if (ret)
		blk_complete(req, VIRTIO_BLK_S_IOERR);
}

static bool blk_in_capacity(const struct virtio_blk *blk, uint64_t sector, uint64_t sectors)
{
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

/* The data buffers: the writable ones of IN and GET_ID (less the status
 * byte), the readable ones after the header otherwise. */
static void blk_data_window(struct blk_req *req)
{
	struct virtq_elem *e = &req->elem;
	struct disk_request *io = &req->io;

	if (req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_GET_ID) {
		io->iov = &e->iov[e->nr_out];
		io->iovcnt = e->nr_in;
		io->len = e->in_bytes - 1;
	} else {
		io->iov = e->iov;
		io->iovcnt = e->nr_out;
		io->len = e->out_bytes - HDR_BYTES;
		iov_skip(&io->iov, &io->iovcnt, HDR_BYTES);
	}
}

/*
 * The advertised size_max and seg_max, and the request maximum they imply,
 * enforced: a driver may describe any amount of data with few, overlapping
 * buffers, and what the host does per request (bounce buffers, one I/O per
 * request) must stay bounded whatever it sends.
 */
static enum blk_reason blk_check_limits(const struct disk_request *io)
{
	if (io->len > VIRTIO_BLK_MAX_REQUEST_BYTES)
		return BLK_REJECT_too_large;
	if (io->iovcnt > VIRTIO_BLK_SEG_MAX)
		return BLK_REJECT_too_many_segments;
	for (unsigned int i = 0; i < io->iovcnt; i++)
		if (io->iov[i].iov_len > VIRTIO_BLK_SIZE_MAX)
			return BLK_REJECT_segment_too_large;
	return BLK_SUBMIT;
}

static enum blk_reason blk_parse_rw(struct virtio_blk *blk, struct blk_req *req, uint64_t sector)
{
	bool write = req->type == VIRTIO_BLK_T_OUT;
	struct disk_request *io = &req->io;
	enum blk_reason why;

	if (write && blk->read_only)
		return BLK_REJECT_read_only;
	if (io->len % SECTOR || io->len > UINT32_MAX)
		return BLK_REJECT_bad_length;
	why = blk_check_limits(io);
	if (why != BLK_SUBMIT)
		return why;
	if (!blk_in_capacity(blk, sector, io->len / SECTOR))
		return BLK_REJECT_out_of_range;
	if (io->len == 0)
		return BLK_ANSWERED;
	counter_add(write ? &blk->counters.writes : &blk->counters.reads, 1);
	io->op = write ? DISK_OP_WRITE : DISK_OP_READ;
	io->offset = sector * SECTOR;
	return BLK_SUBMIT;
}

static enum blk_reason blk_parse_flush(struct virtio_blk *blk, struct blk_req *req)
{
	counter_add(&blk->counters.flushes, 1);
	req->io.op = DISK_OP_FLUSH;
	req->io.offset = 0;
	return BLK_SUBMIT;
}

static enum blk_reason blk_parse_get_id(struct virtio_blk *blk, struct blk_req *req)
{
	struct disk_request *io = &req->io;
	size_t n = io->len < VIRTIO_BLK_ID_BYTES ? io->len : VIRTIO_BLK_ID_BYTES;

	counter_add(&blk->counters.get_id, 1);
	req->written = (uint32_t)iov_from_buf(io->iov, io->iovcnt, 0, blk->serial, n);
	return BLK_ANSWERED;
}

/* DISCARD and WRITE_ZEROES: one segment per request (max_*_seg = 1). */
static enum blk_reason blk_parse_discard(struct virtio_blk *blk, struct blk_req *req)
{
	struct virtio_blk_discard_write_zeroes seg;
	struct disk_request *io = &req->io;
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint32_t max =
	    discard ? blk->config.max_discard_sectors : blk->config.max_write_zeroes_sectors;
	uint32_t flags = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

	if (!virtio_has_feature(&blk->vdev,
				discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
		return BLK_REJECT_not_negotiated;
	if (blk->read_only)
		return BLK_REJECT_read_only;
	counter_add(discard ? &blk->counters.discards : &blk->counters.write_zeroes, 1);
	if (io->len != sizeof(seg))
		return BLK_REJECT_bad_segments;
	iov_to_buf(io->iov, io->iovcnt, 0, &seg, sizeof(seg));
	if (seg.flags & ~flags)
		return BLK_REJECT_reserved_flags;
	if (seg.num_sectors > max)
		return BLK_REJECT_too_many_sectors;
	if (!blk_in_capacity(blk, seg.sector, seg.num_sectors))
		return BLK_REJECT_out_of_range;
	if (seg.num_sectors == 0)
		return BLK_ANSWERED;
	io->op = discard ? DISK_OP_DISCARD : DISK_OP_WRITE_ZEROES;
	io->unmap = seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	io->offset = seg.sector * SECTOR;
	io->len = (uint64_t)seg.num_sectors * SECTOR;
	return BLK_SUBMIT;
}

/* Read the header, pick the data window, check the request for its type. */
static enum blk_reason blk_parse(struct virtio_blk *blk, struct blk_req *req)
{
	struct virtio_blk_req_hdr hdr;

	req->type = BLK_T_NONE;
	if (req->elem.out_bytes < HDR_BYTES)
		return BLK_REJECT_short_header;
	iov_to_buf(req->elem.iov, req->elem.nr_out, 0, &hdr, sizeof(hdr));
	req->type = hdr.type;
	blk_data_window(req);
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return blk_parse_rw(blk, req, hdr.sector);
	case VIRTIO_BLK_T_FLUSH:
		return blk_parse_flush(blk, req);
	case VIRTIO_BLK_T_GET_ID:
		return blk_parse_get_id(blk, req);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_parse_discard(blk, req);
	default:
		return BLK_REJECT_unsupported_type;
	}
}

static void blk_start_request(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;
	struct virtq_elem *e = &req->elem;
	struct iovec *last;
	enum blk_reason why;

	q->inflight++;
	counter_add(&blk->counters.requests, 1);
	req->written = 0;
	req->data_bytes = 0;
	/* Carve the status byte off the end of the writable buffers. */
	last = &e->iov[e->nr_out + e->nr_in - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		e->nr_in--;
	why = blk_parse(blk, req);
	if (why == BLK_ANSWERED) {
		blk_complete(req, VIRTIO_BLK_S_OK);
		return;
	}
	if (why != BLK_SUBMIT) {
		counter_add(&blk->counters.rejected[why - BLK_FIRST_REJECTION], 1);
		blk_complete(req, blk_rejection_status[why - BLK_FIRST_REJECTION]);
		return;
	}
	if (req->type == VIRTIO_BLK_T_FLUSH) {
		q->flush_in_progress = true;
		if (q->inflight > 1) {
			q->parked_flush = req;
			return;
		}
	}
	blk_submit(q, req);
}

static bool blk_queue_usable(struct blk_queue *q)
{
	return blk_request_queue(q)->ready && !virtio_mmio_needs_reset(&q->blk->vdev) &&
	       !iothread_stopping(q->io);
}

/* Ready to take another chain off the ring. */
static bool blk_can_pop(const struct blk_queue *q)
{
	return q->free.count && !q->flush_in_progress && q->inflight_bytes < q->inflight_max &&
	       q->turn_bytes < BLK_TURN_BYTES_MAX;
}

/*
 * Pop and start every available request; true if any was popped.  Kicks
 * stay disabled while the device is busy (it looks at the ring after every
 * batch of completions and polls it before sleeping); blk_poll_queue()
 * re-enables them when the thread goes to sleep idle.
 */
static bool blk_process_queue(struct blk_queue *q)
{
	struct virtio_blk *blk = q->blk;
	struct virtq *vq = blk_request_queue(q);
	bool popped = false;

	if (!blk_queue_usable(q))
		return false;
	q->turn_bytes = 0;
	while (blk_can_pop(q)) {
		struct blk_req *req = &q->reqs[free_slots_top(&q->free)];
		int ret = virtio_queue_pop(&blk->vdev, q->index, &req->elem);

		if (ret <= 0)
			break;
		if (req->elem.nr_in == 0 || req->elem.in_bytes == 0) {
			/* Nowhere to put a status: nothing sane to answer. */
			virtio_queue_break(&blk->vdev, q->index,
					   "request without a writable status byte");
			break;
		}
		free_slots_pop(&q->free);
		req->io.done = blk_io_done;
		/* A guest at queue depth 1 (disk_request.alone). */
		req->io.alone = !q->inflight && !virtq_has_avail(vq);
		req->q = q;
		virtq_disable_notify(vq);
		q->news_for_driver = false;
		blk_start_request(q, req);
		popped = true;
	}
	/* Cut short with nothing in flight to wake the thread (the sync
	 * engine): continue on the next turn, after the thread has looked at
	 * everything else, a stop request included. */
	if (q->turn_bytes >= BLK_TURN_BYTES_MAX && !q->inflight) {
		counter_add(&blk->counters.turns_cut, 1);
		iothread_arm_timer(q->io, q->resume_timer, 0);
	}
	return popped;
}

static void blk_resume_turn(void *opaque)
{
	struct blk_queue *q = opaque;

	if (blk_process_queue(q))
		blk_flush_and_signal(q);
}

static void blk_on_kick(void *opaque)
{
	blk_process_queue(opaque);
}

/* Per thread; thread i serves queue i only. */
static void blk_after_batch(void *opaque)
{
	struct blk_queue *q = opaque;

	/* Completions first, so the driver can refill while we pop. */
	blk_flush_and_signal(q);
	if (blk_process_queue(q))
		blk_flush_and_signal(q); /* requests answered without host I/O */
}

/*
 * The I/O thread's poll function.  While polling: a driver that polls its
 * used ring answers a completion with new requests within microseconds, so
 * the window runs in full after the device completed something; but with
 * requests in flight and nothing completed since the last pop, the driver
 * has nothing to answer and the thread would only spin until the disk
 * completes: it ends the window (iothread_end_poll_window) and sleeps.
 * Before it sleeps, ask for a kick only if nothing is in flight: otherwise
 * a completion wakes the thread, which then sees new chains anyway, and a
 * kick costs the guest a trapped MMIO write (tens of microseconds on
 * kvm_pvm hosts; see docs/virtio.md).  After asking, look once more: a
 * chain that arrived before the request was visible would get no kick.
 */
static bool blk_poll_queue(void *opaque, bool about_to_sleep)
{
	struct blk_queue *q = opaque;
	struct virtq *vq = blk_request_queue(q);

	if (!blk_queue_usable(q))
		return false;
	if (!about_to_sleep) {
		if (virtq_has_avail(vq) && blk_can_pop(q) && blk_process_queue(q))
			return true;
		if (q->inflight && !q->news_for_driver)
			iothread_end_poll_window(q->io);
		return false;
	}
	if (q->inflight || !blk_can_pop(q) || !virtq_enable_notify(vq))
		return false;
	return blk_process_queue(q);
}

/* With every I/O thread stopped (creation, activate after a reset). */
static void blk_reset_requests(struct virtio_blk *blk)
{
	atomic_store_explicit(&blk->inflight_bytes, 0, memory_order_relaxed);
	for (unsigned int n = 0; n < blk->nr_queues; n++) {
		struct blk_queue *q = &blk->queues[n];

		q->inflight = 0;
		q->inflight_bytes = 0;
		q->turn_bytes = 0;
		q->parked_flush = NULL;
		q->flush_in_progress = false;
		q->news_for_driver = false;
		free_slots_reset(&q->free);
	}
}

/* DRIVER_OK; the transport then starts the I/O threads and kicks the queues
 * (and at reset stops the threads, waiting for every request in flight).
 * Queue 0 must be ready; a driver may leave further queues unused. */
static int blk_activate(struct virtio_device *dev)
{
	struct virtio_blk *blk = to_blk(dev);

	if (!blk_request_queue(&blk->queues[0])->ready) {
		log_error("%s: DRIVER_OK with the request queue not ready", blk->name);
		return -EINVAL;
	}
	blk_reset_requests(blk);
	return 0;
}

static const struct virtio_device_ops blk_ops = {
    .activate = blk_activate,
};

/* One line; keys only ever appended (scripts parse it). */
static void blk_report_stats(void *opaque, struct json_object *obj)
{
	struct virtio_blk *blk = opaque;
	const struct disk_props *disk = disk_props(blk->disk);
	struct json_object *counters = json_object_new_object();
	struct json_object *rejected = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string("virtio-blk"));
	json_object_object_add(obj, "engine", json_object_new_string(disk->engine));
	json_object_object_add(obj, "cache", json_object_new_string(disk->cache));
	counters_to_json(counters, &blk->counters, blk_counter_descs,
			 ARRAY_SIZE(blk_counter_descs));
	disk_report_counters(blk->disk, counters);
	json_object_object_add(obj, "counters", counters);
	/* The rejection counters are named rejected_<reason>: key them by reason. */
	for (size_t i = 0; i < ARRAY_SIZE(blk_rejected_descs); i++)
		json_object_object_add(
		    rejected, blk_rejected_descs[i].name + strlen("rejected_"),
		    json_object_new_uint64(counters_value(&blk->counters, &blk_rejected_descs[i])));
	json_object_object_add(obj, "rejected", rejected);
	virtio_mmio_report_iothreads(&blk->vdev, obj);
}

static void blk_build_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;

	memset(c, 0, sizeof(*c));
	c->capacity = blk->capacity;
	c->size_max = VIRTIO_BLK_SIZE_MAX;
	c->seg_max = VIRTIO_BLK_SEG_MAX;
	/* With O_DIRECT the direct-I/O offset alignment, so that Linux issues
	 * requests the disk can take without failing. */
	c->blk_size = disk_props(blk->disk)->block_size;
	c->num_queues = (uint16_t)blk->nr_queues;
	c->max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	c->max_discard_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
	c->discard_sector_alignment = VIRTIO_BLK_DISCARD_ALIGNMENT;
	c->max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	c->max_write_zeroes_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
	c->write_zeroes_may_unmap = 1;
}

static void blk_make_serial(struct virtio_blk *blk, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* Exactly 20 bytes, zero padded; no terminator when it is full. */
	memset(blk->serial, 0, sizeof(blk->serial));
	memcpy(blk->serial, base, strnlen(base, sizeof(blk->serial)));
}

/* Open the image and describe it in config space; 0 or -errno after logging. */
static int blk_open_disk(struct virtio_blk *blk, const struct disk_config *cfg)
{
	const struct disk_props *props;

	blk->disk = disk_open(cfg);
	if (!blk->disk)
		return -errno;
	props = disk_props(blk->disk);
	blk->capacity = props->size / SECTOR;
	blk_make_serial(blk, cfg->path);
	blk_build_config(blk);
	return 0;
}

/* Queue i's share of BLK_INFLIGHT_BYTES_MAX: the device never holds more. */
static void blk_init_queue(struct virtio_blk *blk, unsigned int i)
{
	struct blk_queue *q = &blk->queues[i];

	q->blk = blk;
	q->index = i;
	q->inflight_max = BLK_INFLIGHT_BYTES_MAX / blk->nr_queues;
	q->io = virtio_queue_iothread(&blk->vdev, i);
}

/*
 * The transport with one I/O thread per request queue (queue i on thread
 * i), each with its resume timer and its own registration of the image on
 * the thread's ring (the io_uring engine); then the rings are locked down
 * to what the device uses (iothread_seal).  0 or -errno (logged), with
 * nothing left to undo.
 */
static int blk_init_transport(struct virtio_blk *blk, struct vm *vm)
{
	struct virtio_io_desc desc = {
	    /* Enough SQEs for a full queue of requests in one submission. */
	    .ring_entries = 2 * VIRTQ_MAX_SIZE, .opaque = blk,
	    .after_batch = blk_after_batch,	.poll = blk_poll_queue,
	    .poll_min_ns = BLK_POLL_MIN_NS,	.poll_max_ns = BLK_POLL_MAX_NS,
	    .nr_threads = blk->nr_queues,
	};
	int ret;

	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		desc.kick[i] = blk_on_kick;
		desc.queue_thread[i] = (uint8_t)i;
		desc.kick_opaque[i] = &blk->queues[i];
		desc.thread_opaque[i] = &blk->queues[i];
	}
	ret = virtio_mmio_init_with_iothread(&blk->vdev, vm, &desc);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < blk->nr_queues && !ret; i++) {
		struct blk_queue *q = &blk->queues[i];

		blk_init_queue(blk, i);
		q->resume_timer = iothread_add_timer(q->io, blk_resume_turn, q);
		if (q->resume_timer < 0) {
			ret = q->resume_timer;
			break;
		}
		q->disk_queue = disk_use_iothread(blk->disk, q->io);
		if (q->disk_queue < 0)
			ret = q->disk_queue;
	}
	if (!ret)
		ret = virtio_mmio_seal_iothreads(&blk->vdev);
	if (ret)
		virtio_mmio_destroy(&blk->vdev);
	return ret;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned int index,
		      struct virtio_blk **out)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	const struct disk_props *props;
	int ret;

	if (!blk) {
		log_error("--disk %s: out of memory", cfg->path);
		return -ENOMEM;
	}
	snprintf(blk->name, sizeof(blk->name), "virtio-blk.%u", index);
	snprintf(blk->path, sizeof(blk->path), "%s", cfg->path);
	blk->read_only = cfg->read_only;
	/* 0 in a hand-built config means 1; the parser keeps it in range. */
	blk->nr_queues = cfg->queues ? cfg->queues : 1;
	if (blk->nr_queues > VIRTIO_BLK_MAX_QUEUES || blk->nr_queues > DISK_MAX_QUEUES) {
		log_error("--disk %s: queues=%u is more than %d", cfg->path, cfg->queues,
			  VIRTIO_BLK_MAX_QUEUES);
		free(blk);
		return -EINVAL;
	}
	blk->queues = calloc(blk->nr_queues, sizeof(*blk->queues));
	if (!blk->queues) {
		log_error("--disk %s: out of memory", cfg->path);
		free(blk);
		return -ENOMEM;
	}
	ret = blk_open_disk(blk, cfg);
	if (ret)
		goto fail;

	blk->vdev.name = blk->name;
	blk->vdev.device_id = VIRTIO_ID_BLOCK;
	blk->vdev.device_features = BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
				    BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
				    BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH);
	if (blk->read_only)
		blk->vdev.device_features |= BIT(VIRTIO_BLK_F_RO);
	else
		blk->vdev.device_features |=
		    BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (blk->nr_queues > 1)
		blk->vdev.device_features |= BIT(VIRTIO_BLK_F_MQ);
	blk->vdev.nr_queues = blk->nr_queues;
	blk->vdev.queue_num_max = VIRTQ_MAX_SIZE;
	blk->vdev.config = &blk->config;
	blk->vdev.config_size = sizeof(blk->config);
	blk->vdev.ops = &blk_ops;
	ret = blk_init_transport(blk, vm);
	if (ret)
		goto fail;
	blk_reset_requests(blk);
	vm_register_stats(vm, blk->name, blk_report_stats, blk);
	props = disk_props(blk->disk);
	log_debug("%s: %s, %" PRIu64 " sectors%s, cache=%s, engine=%s", blk->name, cfg->path,
		  blk->capacity, blk->read_only ? ", read-only" : "", props->cache, props->engine);
	if (out)
		*out = blk;
	return 0;

fail:
	disk_close(blk->disk);
	free(blk->queues);
	free(blk);
	return ret;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_mmio_destroy(&blk->vdev); /* stops and destroys the I/O threads */
	disk_close(blk->disk);
	free(blk->queues);
	free(blk);
}
