#include "virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm_config.h"
#include "log.h"
#include "util.h"
#include "iothread.h"
#include "virtio/mmio.h"
#include "vm.h"

#define SECTOR		     VIRTIO_BLK_SECTOR_SIZE
#define HDR_BYTES	     sizeof(struct virtio_blk_req_hdr)
#define MAX_LOGGED_IO_ERRORS 10

/*
 * Busy-poll window of the I/O thread before it sleeps (see
 * iothread_set_poll).  The floor is long enough for a polling driver to
 * answer a completion with the next request (a few microseconds when the
 * vCPU is running), the ceiling short enough that an idle disk costs little.
 */
#define BLK_POLL_MIN_NS 4000
#define BLK_POLL_MAX_NS 50000

struct virtio_blk;

struct blk_req {
	struct iothread_op op;
	struct virtio_blk *blk;
	struct blk_req *next_free;
	uint32_t type;
	uint8_t *status;   /* the chain's last writable byte */
	struct iovec *iov; /* data buffers, a window of elem.iov */
	unsigned int iovcnt;
	uint64_t offset;  /* bytes */
	uint64_t len;	  /* data bytes */
	uint32_t written; /* data bytes written into guest buffers */
	void *bounce;	  /* O_DIRECT copy of misaligned guest buffers */
	struct virtq_elem elem;
};

struct virtio_blk {
	struct virtio_device vdev;
	char name[32];
	char path[256];
	char serial[VIRTIO_BLK_ID_BYTES];
	int fd;
	bool read_only;
	bool direct;
	enum disk_engine engine;
	uint64_t capacity; /* sectors */
	uint32_t dio_mem_align;
	uint32_t dio_offset_align;
	struct virtio_blk_config config;
	struct iothread *io;

	/* I/O thread only. */
	struct blk_req *free_reqs;
	unsigned int inflight;
	/*
	 * A FLUSH is a full barrier: it starts once every earlier request has
	 * completed, and no later request is popped until it has completed.
	 * So every write the guest saw complete before the flush's
	 * completion is covered by its fdatasync.
	 */
	struct blk_req *parked_flush; /* waiting for earlier requests */
	bool flush_in_progress;
	struct blk_req reqs[VIRTQ_MAX_SIZE];

	atomic_ulong stat_reads, stat_writes, stat_flushes, stat_discards, stat_write_zeroes,
	    stat_get_id, stat_unsupp, stat_ioerr, stat_bytes_read, stat_bytes_written,
	    stat_requests, stat_bounced;
};

static struct virtio_blk *to_blk(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_blk, vdev);
}

struct virtio_device *virtio_blk_device(struct virtio_blk *blk)
{
	return &blk->vdev;
}

static struct virtq *request_queue(struct virtio_blk *blk)
{
	return &blk->vdev.queues[0].vq;
}

static void count(atomic_ulong *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void submit_uring(struct virtio_blk *blk, struct blk_req *req, uint32_t flags);

static void flush_and_signal(struct virtio_blk *blk)
{
	if (virtq_flush_used(request_queue(blk)))
		virtio_mmio_signal_used(&blk->vdev);
}

static void complete(struct blk_req *req, uint8_t status)
{
	struct virtio_blk *blk = req->blk;

	if (req->bounce) {
		if (status == VIRTIO_BLK_S_OK && req->type == VIRTIO_BLK_T_IN)
			iov_from_buf(req->iov, req->iovcnt, 0, req->bounce, req->len);
		free(req->bounce);
		req->bounce = NULL;
	}
	if (status == VIRTIO_BLK_S_IOERR)
		count(&blk->stat_ioerr, 1);
	else if (status == VIRTIO_BLK_S_UNSUPP)
		count(&blk->stat_unsupp, 1);
	__atomic_store_n(req->status, status, __ATOMIC_RELAXED);
	virtq_push(request_queue(blk), req->elem.head, req->written + 1);
	req->next_free = blk->free_reqs;
	blk->free_reqs = req;
	blk->inflight--;
	if (req->type == VIRTIO_BLK_T_FLUSH)
		blk->flush_in_progress = false;
	if (blk->parked_flush && blk->inflight == 1) {
		struct blk_req *flush = blk->parked_flush;

		blk->parked_flush = NULL;
		submit_uring(blk, flush, 0);
	}
	/* The synchronous engine publishes each request at once so the
	 * driver can refill the ring while the device keeps working. */
	if (blk->engine == DISK_ENGINE_SYNC)
		flush_and_signal(blk);
}

static void log_io_error(struct virtio_blk *blk, const char *what, uint64_t offset, int err)
{
	if (atomic_load(&blk->stat_ioerr) < MAX_LOGGED_IO_ERRORS)
		log_error("%s: %s at byte %" PRIu64 ": %s", blk->name, what, offset, strerror(err));
}

/* Result of the host operation -> status byte. */
static uint8_t io_status(struct blk_req *req, int64_t res)
{
	struct virtio_blk *blk = req->blk;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (res == (int64_t)req->len) {
			if (req->type == VIRTIO_BLK_T_IN) {
				req->written = (uint32_t)req->len;
				count(&blk->stat_bytes_read, req->len);
			} else {
				count(&blk->stat_bytes_written, req->len);
			}
			return VIRTIO_BLK_S_OK;
		}
		log_io_error(blk, req->type == VIRTIO_BLK_T_IN ? "read" : "write", req->offset,
			     res < 0 ? (int)-res : EIO);
		return VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_DISCARD:
		/* Discard is a hint: a file system without hole punching
		 * simply keeps the data. */
		if (res == -EOPNOTSUPP)
			return VIRTIO_BLK_S_OK;
		/* fall through */
	default:
		if (res == 0)
			return VIRTIO_BLK_S_OK;
		log_io_error(blk, "flush/fallocate", req->offset, (int)-res);
		return VIRTIO_BLK_S_IOERR;
	}
}

static void io_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct blk_req *req = (struct blk_req *)op;

	(void)flags;
	complete(req, io_status(req, res));
}

static int fallocate_mode(const struct blk_req *req, uint32_t flags)
{
	if (req->type == VIRTIO_BLK_T_DISCARD || (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
}

/* Whole transfer with the plain system calls, retrying short transfers. */
static int64_t sync_rw(struct virtio_blk *blk, struct blk_req *req)
{
	struct iovec one = {.iov_base = req->bounce, .iov_len = req->len};
	struct iovec *iov = req->bounce ? &one : req->iov;
	unsigned int cnt = req->bounce ? 1 : req->iovcnt;
	uint64_t done = 0;

	while (done < req->len) {
		struct iovec rest[VIRTQ_MAX_SIZE];
		unsigned int n = iov_tail(rest, iov, cnt, done);
		ssize_t r;

		if (req->type == VIRTIO_BLK_T_IN)
			r = preadv(blk->fd, rest, (int)n, (off_t)(req->offset + done));
		else
			r = pwritev(blk->fd, rest, (int)n, (off_t)(req->offset + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break; /* end of file: the file shrank under us */
		done += (uint64_t)r;
	}
	return (int64_t)done;
}

static void submit_sync(struct virtio_blk *blk, struct blk_req *req, uint32_t flags)
{
	int64_t res;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		res = sync_rw(blk, req);
		break;
	case VIRTIO_BLK_T_FLUSH:
		res = fdatasync(blk->fd) ? -errno : 0;
		break;
	default:
		res = fallocate(blk->fd, fallocate_mode(req, flags), (off_t)req->offset,
				(off_t)req->len)
			  ? -errno
			  : 0;
		break;
	}
	complete(req, io_status(req, res));
}

static void submit_uring(struct virtio_blk *blk, struct blk_req *req, uint32_t flags)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(blk->io, &req->op);

	if (!sqe) {
		complete(req, VIRTIO_BLK_S_IOERR);
		return;
	}
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		if (req->bounce)
			io_uring_prep_read(sqe, blk->fd, req->bounce, (unsigned int)req->len,
					   req->offset);
		else
			io_uring_prep_readv(sqe, blk->fd, req->iov, req->iovcnt, req->offset);
		break;
	case VIRTIO_BLK_T_OUT:
		if (req->bounce)
			io_uring_prep_write(sqe, blk->fd, req->bounce, (unsigned int)req->len,
					    req->offset);
		else
			io_uring_prep_writev(sqe, blk->fd, req->iov, req->iovcnt, req->offset);
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* Not IOSQE_IO_DRAIN: that would also wait for the eventfd
		 * reads that stay pending on this ring.  The barrier is
		 * kept by the device (see parked_flush). */
		io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, blk->fd, fallocate_mode(req, flags), req->offset,
					req->len);
		break;
	}
}

/*
 * O_DIRECT needs buffers, lengths and offsets aligned to the file's
 * direct-I/O alignment (memory addresses to dio_mem_align, segment lengths,
 * offsets and sizes to the logical block size).  Guest buffers that are not
 * aligned get a bounce buffer;
 * offsets and lengths are multiples of blk_size, which the config space
 * advertises as the direct-I/O offset alignment.
 */
static bool needs_bounce(const struct virtio_blk *blk, const struct blk_req *req)
{
	if (!blk->direct)
		return false;
	for (unsigned int i = 0; i < req->iovcnt; i++)
		if (((uintptr_t)req->iov[i].iov_base & (blk->dio_mem_align - 1)) ||
		    (req->iov[i].iov_len & (blk->dio_offset_align - 1)))
			return true;
	return false;
}

static bool setup_bounce(struct virtio_blk *blk, struct blk_req *req)
{
	size_t size = (req->len + blk->dio_mem_align - 1) & ~((size_t)blk->dio_mem_align - 1);

	if (posix_memalign(&req->bounce, blk->dio_mem_align, size ? size : blk->dio_mem_align)) {
		req->bounce = NULL;
		return false;
	}
	if (req->type == VIRTIO_BLK_T_OUT)
		iov_to_buf(req->iov, req->iovcnt, 0, req->bounce, req->len);
	count(&blk->stat_bounced, 1);
	return true;
}

/* Drop the first n bytes of an iovec window (the request header). */
static void iov_skip(struct blk_req *req, uint64_t n)
{
	while (req->iovcnt && n >= req->iov[0].iov_len) {
		n -= req->iov[0].iov_len;
		req->iov++;
		req->iovcnt--;
	}
	if (req->iovcnt && n) {
		req->iov[0].iov_base = (uint8_t *)req->iov[0].iov_base + n;
		req->iov[0].iov_len -= n;
	}
}

static bool in_capacity(const struct virtio_blk *blk, uint64_t sector, uint64_t sectors)
{
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

/* Parse and check one request; returns a status if it completes here,
 * or -1 if it goes to the host. */
static int prepare(struct virtio_blk *blk, struct blk_req *req, uint32_t *fa_flags)
{
	struct virtq_elem *e = &req->elem;
	struct virtio_blk_req_hdr hdr;

	if (e->out_bytes < HDR_BYTES)
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(e->iov, e->nr_out, 0, &hdr, sizeof(hdr));
	req->type = hdr.type;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_GET_ID:
		req->iov = &e->iov[e->nr_out];
		req->iovcnt = e->nr_in;
		req->len = e->in_bytes - 1;
		break;
	default:
		req->iov = e->iov;
		req->iovcnt = e->nr_out;
		req->len = e->out_bytes - HDR_BYTES;
		iov_skip(req, HDR_BYTES);
		break;
	}

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (hdr.type == VIRTIO_BLK_T_OUT && blk->read_only)
			return VIRTIO_BLK_S_IOERR;
		if (req->len % SECTOR || req->len > UINT32_MAX ||
		    !in_capacity(blk, hdr.sector, req->len / SECTOR))
			return VIRTIO_BLK_S_IOERR;
		req->offset = hdr.sector * SECTOR;
		if (req->len == 0)
			return VIRTIO_BLK_S_OK;
		if (hdr.type == VIRTIO_BLK_T_IN)
			count(&blk->stat_reads, 1);
		else
			count(&blk->stat_writes, 1);
		if (needs_bounce(blk, req) && !setup_bounce(blk, req))
			return VIRTIO_BLK_S_IOERR;
		return -1;
	case VIRTIO_BLK_T_FLUSH:
		count(&blk->stat_flushes, 1);
		req->offset = 0;
		return -1;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = req->len < VIRTIO_BLK_ID_BYTES ? req->len : VIRTIO_BLK_ID_BYTES;

		count(&blk->stat_get_id, 1);
		req->written = (uint32_t)iov_from_buf(req->iov, req->iovcnt, 0, blk->serial, n);
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		struct virtio_blk_discard_write_zeroes seg;
		bool discard = hdr.type == VIRTIO_BLK_T_DISCARD;
		uint32_t max = discard ? blk->config.max_discard_sectors
				       : blk->config.max_write_zeroes_sectors;

		if (!(blk->vdev.driver_features &
		      BIT(discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)))
			return VIRTIO_BLK_S_UNSUPP;
		if (blk->read_only)
			return VIRTIO_BLK_S_IOERR;
		count(discard ? &blk->stat_discards : &blk->stat_write_zeroes, 1);
		/* One segment per request (max_*_seg = 1). */
		if (req->len != sizeof(seg))
			return VIRTIO_BLK_S_IOERR;
		iov_to_buf(req->iov, req->iovcnt, 0, &seg, sizeof(seg));
		if (seg.flags & ~(uint32_t)(discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return VIRTIO_BLK_S_UNSUPP;
		if (seg.num_sectors > max || !in_capacity(blk, seg.sector, seg.num_sectors))
			return VIRTIO_BLK_S_IOERR;
		if (seg.num_sectors == 0)
			return VIRTIO_BLK_S_OK;
		req->offset = seg.sector * SECTOR;
		req->len = (uint64_t)seg.num_sectors * SECTOR;
		*fa_flags = seg.flags;
		return -1;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void start_request(struct virtio_blk *blk, struct blk_req *req)
{
	struct virtq_elem *e = &req->elem;
	struct iovec *last;
	uint32_t fa_flags = 0;
	int status;

	blk->inflight++;
	count(&blk->stat_requests, 1);
	req->written = 0;
	req->bounce = NULL;
	/* Carve the status byte off the end of the writable buffers. */
	last = &e->iov[e->nr_out + e->nr_in - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		e->nr_in--;
	status = prepare(blk, req, &fa_flags);
	if (status >= 0) {
		complete(req, (uint8_t)status);
		return;
	}
	if (blk->engine == DISK_ENGINE_SYNC) {
		submit_sync(blk, req, fa_flags);
		return;
	}
	if (req->type == VIRTIO_BLK_T_FLUSH) {
		blk->flush_in_progress = true;
		if (blk->inflight > 1) {
			blk->parked_flush = req;
			return;
		}
	}
	submit_uring(blk, req, fa_flags);
}

static bool queue_usable(struct virtio_blk *blk)
{
	return request_queue(blk)->ready && !virtio_mmio_needs_reset(&blk->vdev) &&
	       !iothread_stopping(blk->io);
}

/* Ready to take another chain off the ring. */
static bool can_pop(const struct virtio_blk *blk)
{
	return blk->free_reqs && !blk->flush_in_progress;
}

/*
 * Pop and start every available request; true if any was popped.  Kicks
 * stay disabled while the device is busy (it looks at the ring after every
 * batch of completions and polls it before sleeping); poll_queue()
 * re-enables them when the thread goes to sleep idle.
 */
static bool process_queue(struct virtio_blk *blk)
{
	struct virtq *vq = request_queue(blk);
	bool popped = false;

	if (!queue_usable(blk))
		return false;
	while (can_pop(blk)) {
		struct blk_req *req = blk->free_reqs;
		int ret = virtq_pop(vq, &req->elem);

		if (ret < 0) {
			virtio_mmio_set_needs_reset(&blk->vdev, vq->error);
			break;
		}
		if (ret == 0)
			break;
		if (req->elem.nr_in == 0 || req->elem.in_bytes == 0) {
			/* Nowhere to put a status: nothing sane to answer. */
			vq->broken = true;
			virtio_mmio_set_needs_reset(&blk->vdev,
						    "request without a writable status byte");
			break;
		}
		blk->free_reqs = req->next_free;
		virtq_disable_notify(vq);
		start_request(blk, req);
		popped = true;
	}
	return popped;
}

static void on_kick(void *opaque)
{
	process_queue(opaque);
}

static void after_batch(void *opaque)
{
	struct virtio_blk *blk = opaque;

	/* Completions first, so the driver can refill while we pop. */
	flush_and_signal(blk);
	if (process_queue(blk))
		flush_and_signal(blk); /* requests answered without host I/O */
}

/*
 * The I/O thread's poll function.  Before it sleeps, ask for a kick only if
 * nothing is in flight: otherwise a completion wakes the thread, which then
 * sees new chains anyway, and a kick costs the guest a trapped MMIO write
 * (tens of microseconds on kvm_pvm hosts; see docs/virtio.md).  After
 * asking, look once more: a chain that arrived before the request was
 * visible would get no kick.
 */
static bool poll_queue(void *opaque, bool about_to_sleep)
{
	struct virtio_blk *blk = opaque;
	struct virtq *vq = request_queue(blk);

	if (!queue_usable(blk))
		return false;
	if (!about_to_sleep)
		return virtq_has_avail(vq) && can_pop(blk) && process_queue(blk);
	if (blk->inflight || !can_pop(blk) || !virtq_enable_notify(vq))
		return false;
	return process_queue(blk);
}

static void reset_requests(struct virtio_blk *blk)
{
	blk->free_reqs = NULL;
	blk->inflight = 0;
	blk->parked_flush = NULL;
	blk->flush_in_progress = false;
	for (unsigned int i = VIRTQ_MAX_SIZE; i-- > 0;) {
		blk->reqs[i].op.done = io_done;
		blk->reqs[i].blk = blk;
		blk->reqs[i].next_free = blk->free_reqs;
		blk->free_reqs = &blk->reqs[i];
	}
}

static int activate(struct virtio_device *dev)
{
	struct virtio_blk *blk = to_blk(dev);
	int ret;

	if (!request_queue(blk)->ready) {
		log_error("%s: DRIVER_OK with the request queue not ready", blk->name);
		return -EINVAL;
	}
	reset_requests(blk);
	ret = iothread_start(blk->io);
	if (ret)
		log_error("%s: cannot start the I/O thread: %s", blk->name, strerror(-ret));
	return ret;
}

static void reset(struct virtio_device *dev)
{
	struct virtio_blk *blk = to_blk(dev);

	/* Returns once every request in flight has completed. */
	iothread_stop(blk->io);
}

static const struct virtio_device_ops blk_ops = {
    .activate = activate,
    .reset = reset,
};

static void print_stats(void *opaque, FILE *out)
{
	struct virtio_blk *blk = opaque;
	struct iothread_stats io;

	iothread_get_stats(blk->io, &io);
	fprintf(out,
		"%s: requests=%lu reads=%lu writes=%lu flushes=%lu discards=%lu "
		"write_zeroes=%lu get_id=%lu ioerr=%lu unsupp=%lu bytes_read=%lu "
		"bytes_written=%lu bounced=%lu kicks=%lu io_loops=%lu io_sleeps=%lu poll_hits=%lu "
		"poll_misses=%lu engine=%s cache=%s\n",
		blk->name, atomic_load(&blk->stat_requests), atomic_load(&blk->stat_reads),
		atomic_load(&blk->stat_writes), atomic_load(&blk->stat_flushes),
		atomic_load(&blk->stat_discards), atomic_load(&blk->stat_write_zeroes),
		atomic_load(&blk->stat_get_id), atomic_load(&blk->stat_ioerr),
		atomic_load(&blk->stat_unsupp), atomic_load(&blk->stat_bytes_read),
		atomic_load(&blk->stat_bytes_written), atomic_load(&blk->stat_bounced),
		io.eventfd_signals, io.loops, io.sleeps, io.poll_hits, io.poll_misses,
		blk->engine == DISK_ENGINE_SYNC ? "sync" : "io_uring",
		blk->direct ? "none" : "writeback");
}

static void probe_direct_io_alignment(struct virtio_blk *blk)
{
	struct statx stx;

	blk->dio_mem_align = SECTOR;
	blk->dio_offset_align = SECTOR;
	if (statx(blk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		if (stx.stx_dio_mem_align)
			blk->dio_mem_align = stx.stx_dio_mem_align;
		if (stx.stx_dio_offset_align > SECTOR)
			blk->dio_offset_align = stx.stx_dio_offset_align;
	}
}

static void build_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;

	memset(c, 0, sizeof(*c));
	c->capacity = blk->capacity;
	c->seg_max = VIRTIO_BLK_SEG_MAX;
	c->blk_size = blk->direct ? blk->dio_offset_align : SECTOR;
	c->num_queues = 1;
	c->max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	c->max_discard_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
	c->discard_sector_alignment = VIRTIO_BLK_DISCARD_ALIGNMENT;
	c->max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	c->max_write_zeroes_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
	c->write_zeroes_may_unmap = 1;
}

static void make_serial(struct virtio_blk *blk, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* Exactly 20 bytes, zero padded; no terminator when it is full. */
	memset(blk->serial, 0, sizeof(blk->serial));
	memcpy(blk->serial, base, strnlen(base, sizeof(blk->serial)));
}

static int open_disk(struct virtio_blk *blk, const struct disk_config *cfg)
{
	int flags = (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	off_t size;

	if (cfg->cache == DISK_CACHE_NONE)
		flags |= O_DIRECT;
	blk->fd = open(cfg->path, flags);
	if (blk->fd < 0) {
		int err = errno;

		if (err == EINVAL && (flags & O_DIRECT))
			log_error("--disk %s: cache=none needs O_DIRECT, which this file system "
				  "does not support",
				  cfg->path);
		else
			log_error("--disk %s: %s", cfg->path, strerror(err));
		return -err;
	}
	size = lseek(blk->fd, 0, SEEK_END);
	if (size < 0) {
		int err = errno;

		log_error("--disk %s: cannot find its size: %s", cfg->path, strerror(err));
		return -err;
	}
	if (size < SECTOR) {
		log_error("--disk %s: smaller than one %d-byte sector", cfg->path, SECTOR);
		return -EINVAL;
	}
	if (size % SECTOR)
		log_info("--disk %s: size is not a multiple of %d; the last %lld bytes are not "
			 "visible to the guest",
			 cfg->path, SECTOR, (long long)(size % SECTOR));
	blk->capacity = (uint64_t)size / SECTOR;
	return 0;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned int index,
		      struct virtio_blk **out)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	int ret;

	if (!blk) {
		log_error("--disk %s: out of memory", cfg->path);
		return -ENOMEM;
	}
	blk->fd = -1;
	snprintf(blk->name, sizeof(blk->name), "virtio-blk%u", index);
	snprintf(blk->path, sizeof(blk->path), "%s", cfg->path);
	blk->read_only = cfg->read_only;
	blk->direct = cfg->cache == DISK_CACHE_NONE;
	blk->engine = cfg->engine;
	ret = open_disk(blk, cfg);
	if (ret)
		goto fail;
	probe_direct_io_alignment(blk);
	make_serial(blk, cfg->path);
	build_config(blk);

	/* Enough SQEs for a full queue of requests in one submission. */
	blk->io = iothread_create(blk->name, 2 * VIRTQ_MAX_SIZE);
	if (!blk->io) {
		ret = -errno;
		log_error("%s: io_uring_queue_init: %s (the I/O thread needs io_uring)", blk->name,
			  strerror(errno));
		goto fail;
	}

	blk->vdev.name = blk->name;
	blk->vdev.device_id = VIRTIO_ID_BLOCK;
	blk->vdev.device_features = BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
				    BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
				    BIT(VIRTIO_BLK_F_FLUSH);
	if (blk->read_only)
		blk->vdev.device_features |= BIT(VIRTIO_BLK_F_RO);
	else
		blk->vdev.device_features |=
		    BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	blk->vdev.nr_queues = 1;
	blk->vdev.queue_num_max = VIRTQ_MAX_SIZE;
	blk->vdev.config = &blk->config;
	blk->vdev.config_size = sizeof(blk->config);
	blk->vdev.ops = &blk_ops;
	ret = virtio_mmio_init(&blk->vdev, vm);
	if (ret)
		goto fail_io;
	ret = iothread_watch_eventfd(blk->io, blk->vdev.queues[0].kick_fd, on_kick, blk);
	if (!ret)
		ret = iothread_add_batch_hook(blk->io, after_batch, blk);
	if (!ret)
		ret = iothread_set_poll(blk->io, poll_queue, blk, BLK_POLL_MIN_NS, BLK_POLL_MAX_NS);
	if (ret) {
		virtio_mmio_destroy(&blk->vdev);
		goto fail_io;
	}
	reset_requests(blk);
	vm_register_stats(vm, print_stats, blk);
	log_debug("%s: %s, %" PRIu64 " sectors%s, cache=%s, engine=%s", blk->name, cfg->path,
		  blk->capacity, blk->read_only ? ", read-only" : "",
		  blk->direct ? "none" : "writeback",
		  blk->engine == DISK_ENGINE_SYNC ? "sync" : "io_uring");
	if (out)
		*out = blk;
	return 0;

fail_io:
	iothread_destroy(blk->io);
fail:
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk);
	return ret;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_mmio_destroy(&blk->vdev);
	iothread_destroy(blk->io);
	close(blk->fd);
	free(blk);
}
