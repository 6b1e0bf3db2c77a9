/*
 * The disk backend's engine-independent half: opening the image, O_DIRECT
 * alignment and bounce buffers, the short-transfer policy and completion.
 * The engines are disk_sync.c and disk_uring.c.
 */
#include "devices/block/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "devices/block/disk_engine.h"
#include "iov.h"
#include "log.h"
#include "util.h"

#define DISK_COUNTER_DESC(name) COUNTER_DESC(struct disk_counters, name)
static const struct counter_desc disk_counter_descs[] = {DISK_COUNTERS(DISK_COUNTER_DESC)};

static bool disk_is_rw(const struct disk_request *r)
{
	return r->op == DISK_OP_READ || r->op == DISK_OP_WRITE;
}

/*
 * Bouncing in chunks: the bounce buffer holds the part of the request from
 * bounce_at to disk_bounce_end(), at most DISK_BOUNCE_CHUNK bytes; reads
 * and writes go to the file one chunk after the other.  A multiple of any
 * O_DIRECT alignment (disk_open checks), so every chunk starts aligned.
 */
static uint64_t disk_bounce_end(const struct disk_request *r)
{
	uint64_t end = r->bounce_at + DISK_BOUNCE_CHUNK;

	return end < r->len ? end : r->len;
}

/* A write's chunk from the caller's buffers into the bounce buffer. */
static void disk_bounce_fill(struct disk_request *r)
{
	if (r->op == DISK_OP_WRITE)
		iov_to_buf(r->iov, r->iovcnt, r->bounce_at, r->bounce,
			   disk_bounce_end(r) - r->bounce_at);
}

/* A read's chunk, whole (up to transferred), out to the caller's buffers. */
static void disk_bounce_drain(struct disk_request *r)
{
	if (r->op == DISK_OP_READ)
		iov_from_buf(r->iov, r->iovcnt, r->bounce_at, r->bounce,
			     r->transferred - r->bounce_at);
}

/* The chunk is done; the bounce buffer takes the next. */
static void disk_bounce_next_chunk(struct disk_request *r)
{
	disk_bounce_drain(r);
	r->bounce_at = r->transferred;
	disk_bounce_fill(r);
}

bool disk_rw_progress(struct disk_request *r, ssize_t res, int *result)
{
	if (res == -EINTR)
		return true;
	if (res < 0) {
		*result = (int)res;
		return false;
	}
	r->transferred += (uint64_t)res;
	if (r->transferred >= r->len) {
		*result = 0;
		return false;
	}
	if (res == 0) {
		*result = -EIO; /* end of file: the image shrank */
		return false;
	}
	/* A bounced request keeps its iovec for the copies: the window into
	 * the bounce buffer moves with transferred instead, and at the end of
	 * a chunk the buffer moves on to the next one. */
	if (!r->bounce)
		iov_skip(&r->iov, &r->iovcnt, (uint64_t)res);
	else if (r->transferred == disk_bounce_end(r))
		disk_bounce_next_chunk(r);
	return true;
}

void disk_rw_window(struct disk_request *r, struct iovec *one, struct iovec **iov,
		    unsigned int *cnt)
{
	if (r->bounce) {
		one->iov_base = (uint8_t *)r->bounce + (r->transferred - r->bounce_at);
		one->iov_len = disk_bounce_end(r) - r->transferred;
		*iov = one;
		*cnt = 1;
	} else {
		*iov = r->iov;
		*cnt = r->iovcnt;
	}
}

/*
 * WRITE_ZEROES without unmap is ZERO_RANGE.  A file system without it
 * (tmpfs, so also a memfd) gets the same result in two steps, each a
 * fallocate of its own: punch a hole, then allocate the range again.
 */
enum { DISK_ZERO_RANGE, DISK_ZERO_PUNCH, DISK_ZERO_ALLOCATE };

int disk_fallocate_mode(const struct disk_request *r)
{
	if (r->op == DISK_OP_DISCARD || r->unmap)
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	switch (r->zero_step) {
	case DISK_ZERO_RANGE:
		return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	case DISK_ZERO_PUNCH:
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	default:
		return FALLOC_FL_KEEP_SIZE;
	}
}

/* Whether r goes on with the next step of disk_fallocate_mode(). */
static bool disk_zeroing_continues(struct disk_request *r, int result)
{
	if (r->op != DISK_OP_WRITE_ZEROES || r->unmap)
		return false;
	if (r->zero_step == DISK_ZERO_RANGE && result == -EOPNOTSUPP)
		r->zero_step = DISK_ZERO_PUNCH;
	else if (r->zero_step == DISK_ZERO_PUNCH && result == 0)
		r->zero_step = DISK_ZERO_ALLOCATE;
	else
		return false;
	return true;
}

static void disk_release_bounce(struct disk *d, struct disk_request *r);
static void disk_start_waiting(struct disk *d, struct disk_queue *q);

void disk_complete(struct disk_request *r, int result)
{
	struct disk *d = r->disk;
	struct disk_queue *q = r->queue;

	/* Refused before any I/O: complete with that error. */
	if (disk_zeroing_continues(r, result) && !(result = d->engine->submit(d, r)))
		return;
	if (r->bounce) {
		if (result == 0)
			disk_bounce_drain(r); /* the last chunk */
		disk_release_bounce(d, r);
	}
	r->done(r, result);
	if (q->waiting)
		disk_start_waiting(d, q);
}

/*
 * O_DIRECT needs buffer addresses aligned to mem_align and segment lengths
 * to the offset alignment (block_size); a request whose buffers are not
 * gets a bounce buffer.  Offsets are the caller's to align.
 */
static bool disk_needs_bounce(const struct disk *d, const struct disk_request *r)
{
	if (!d->props.direct)
		return false;
	for (unsigned int i = 0; i < r->iovcnt; i++)
		if (((uintptr_t)r->iov[i].iov_base & (d->props.mem_align - 1)) ||
		    (r->iov[i].iov_len & (d->props.block_size - 1)))
			return true;
	return false;
}

/*
 * The pool: DISK_BOUNCE_SLOTS buffers of one chunk, each allocated when
 * first needed and kept until disk_close().  Not malloc/free per request:
 * glibc did not reuse a freed 1 MiB aligned block for the next aligned
 * request, and the I/O thread's heap grew by about a chunk per bounced
 * request (tests/integration/virtio_blk_memory.sh).
 */
static int disk_free_bounce_slot(const struct disk *d, const struct disk_queue *q)
{
	for (int i = 0; i < d->bounce_slots; i++)
		if (!q->bounce_busy[i])
			return i;
	return -1;
}

/* Give r a bounce buffer and fill its first chunk; false: no memory. */
static bool disk_setup_bounce(struct disk *d, struct disk_request *r)
{
	struct disk_queue *q = r->queue;
	int i = disk_free_bounce_slot(d, q);
	unsigned long held, peak;

	if (i < 0)
		return false;
	if (!q->bounce_slot[i] &&
	    posix_memalign(&q->bounce_slot[i], d->props.mem_align, DISK_BOUNCE_CHUNK)) {
		q->bounce_slot[i] = NULL;
		return false;
	}
	q->bounce_busy[i] = true;
	r->bounce = q->bounce_slot[i];
	r->bounce_slot = i;
	r->bounce_at = 0;
	disk_bounce_fill(r);
	counter_add(&d->counters.bounced, 1);
	/* Gauges, shared by the disk's threads: the peak is raised to the
	 * value this thread's addition produced, with an atomic maximum. */
	held = atomic_fetch_add_explicit(&d->counters.bounce_bytes, DISK_BOUNCE_CHUNK,
					 memory_order_relaxed) +
	       DISK_BOUNCE_CHUNK;
	peak = counter_get(&d->counters.bounce_peak_bytes);
	while (held > peak &&
	       !atomic_compare_exchange_weak_explicit(&d->counters.bounce_peak_bytes, &peak, held,
						      memory_order_relaxed, memory_order_relaxed))
		;
	return true;
}

static void disk_release_bounce(struct disk *d, struct disk_request *r)
{
	(void)d;
	r->queue->bounce_busy[r->bounce_slot] = false;
	r->bounce = NULL;
	atomic_fetch_sub_explicit(&d->counters.bounce_bytes, DISK_BOUNCE_CHUNK,
				  memory_order_relaxed);
}

/* r waits for a bounce buffer, behind those already waiting. */
static void disk_wait_for_bounce(struct disk *d, struct disk_request *r)
{
	struct disk_queue *q = r->queue;

	r->next = NULL;
	*q->waiting_tail = r;
	q->waiting_tail = &r->next;
	counter_add(&d->counters.bounce_waits, 1);
}

/*
 * A bounce buffer came back: start waiting requests, oldest first, while a
 * buffer is free.  One that cannot start completes with the error (its
 * done runs: it was accepted).  Not re-entered from those completions:
 * the outer loop carries on.
 */
static void disk_start_waiting(struct disk *d, struct disk_queue *q)
{
	struct disk_request *r;

	if (q->starting_waiting)
		return;
	q->starting_waiting = true;
	while ((r = q->waiting) && disk_free_bounce_slot(d, q) >= 0) {
		int ret = -ENOMEM;

		q->waiting = r->next;
		if (!q->waiting)
			q->waiting_tail = &q->waiting;
		if (disk_setup_bounce(d, r))
			ret = d->engine->submit(d, r);
		if (ret)
			disk_complete(r, ret);
	}
	q->starting_waiting = false;
}

int disk_submit(struct disk *d, struct disk_request *r)
{
	return disk_submit_on(d, 0, r);
}

int disk_submit_on(struct disk *d, int queue, struct disk_request *r)
{
	struct disk_queue *q;
	int ret;

	/* Queue 0 exists unbound (the sync engine needs no thread). */
	if (queue < 0 || queue >= (d->nr_bound ? (int)d->nr_bound : 1))
		return -EINVAL;
	q = &d->queues[queue];
	if ((unsigned int)r->op > DISK_OP_WRITE_ZEROES || (disk_is_rw(r) && r->len > UINT32_MAX) ||
	    (d->engine->needs_iothread && !q->io))
		return -EINVAL;
	r->disk = d;
	r->queue = q;
	r->transferred = 0;
	r->bounce = NULL;
	r->bounce_at = 0;
	r->zero_step = DISK_ZERO_RANGE;
	if (disk_is_rw(r) && disk_needs_bounce(d, r)) {
		/*
		 * No buffer free, or others waiting for one: wait for a
		 * completion to give one back.  The sync engine never has
		 * to: each request is over, its buffer back in the pool,
		 * before the next can be submitted.
		 */
		if (!d->engine->inline_completion &&
		    (q->waiting || disk_free_bounce_slot(d, q) < 0)) {
			disk_wait_for_bounce(d, r);
			return 0;
		}
		if (!disk_setup_bounce(d, r))
			return -ENOMEM;
	}
	ret = d->engine->submit(d, r);
	if (ret && r->bounce)
		/* Refused before any I/O: done will not run, r is the caller's. */
		disk_release_bounce(d, r);
	return ret;
}

static void disk_probe_dio_alignment(struct disk *d)
{
	struct statx stx;
	uint32_t offset_align = DISK_SECTOR_SIZE;

	d->props.mem_align = DISK_SECTOR_SIZE;
	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		if (stx.stx_dio_mem_align)
			d->props.mem_align = stx.stx_dio_mem_align;
		if (stx.stx_dio_offset_align > DISK_SECTOR_SIZE)
			offset_align = stx.stx_dio_offset_align;
	}
	d->props.block_size = d->props.direct ? offset_align : DISK_SECTOR_SIZE;
}

/* Size the open image; 0 or -errno after logging. */
static int disk_find_size(struct disk *d, const char *path)
{
	off_t size = lseek(d->fd, 0, SEEK_END);

	if (size < 0) {
		int err = errno;

		log_error("--disk %s: cannot find its size: %s", path, strerror(err));
		return -err;
	}
	if (size < DISK_SECTOR_SIZE) {
		log_error("--disk %s: smaller than one %d-byte sector", path, DISK_SECTOR_SIZE);
		return -EINVAL;
	}
	if (size % DISK_SECTOR_SIZE)
		log_info("--disk %s: size is not a multiple of %d; the last %lld bytes are not "
			 "visible to the guest",
			 path, DISK_SECTOR_SIZE, (long long)(size % DISK_SECTOR_SIZE));
	d->props.size = (uint64_t)size;
	return 0;
}

#define DISK_LOCK_WAIT_MS  300 /* how long a conflicting lock is retried */
#define DISK_LOCK_RETRY_MS 5

/*
 * Lock the image for as long as it is open: a writable disk takes a write
 * lock (no one else may use the image), a read-only disk a read lock
 * (other readers may share, writers may not).  An OFD lock, not flock() or
 * a POSIX lock: it belongs to the open file description that does the I/O
 * (O_DIRECT or not), conflicts with other descriptions of the same file in
 * this process too (two --disk options naming one image), and goes away
 * with that description or with disk_close().  0 or -errno after logging;
 * a file system without locks (ENOLCK, EINVAL) is used unlocked, with a
 * warning.
 */
static int disk_lock_image(struct disk *d, const struct disk_config *cfg)
{
	struct flock fl = {
	    .l_type = cfg->read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET, .l_start = 0};
	int tries = DISK_LOCK_WAIT_MS / DISK_LOCK_RETRY_MS;
	int ret;

	/*
	 * A conflict is retried for a moment before it counts: a minivmm
	 * killed with SIGKILL keeps its lock until the kernel's asynchronous
	 * io_uring teardown drops the last reference to the file, a few ms
	 * after the process is gone (measured: 11 of 20 restarts right after
	 * kill -9 found the image still locked).
	 */
	while ((ret = fcntl(d->fd, F_OFD_SETLK, &fl)) < 0 && (errno == EAGAIN || errno == EACCES) &&
	       tries-- > 0)
		nanosleep(&(struct timespec){0, DISK_LOCK_RETRY_MS * 1000000L}, NULL);
	if (ret == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES) {
		log_error("--disk %s: image is in use (locked by another process or an earlier "
			  "--disk); %s",
			  cfg->path,
			  cfg->read_only ? "a read-only disk shares it only with read-only users"
					 : "a writable disk needs the image to itself");
		return -EBUSY;
	}
	log_info("--disk %s: cannot lock the image (%s); using it without protection against "
		 "concurrent use",
		 cfg->path, strerror(errno));
	return 0;
}

/* Release the image lock before anything else can hold the file open
 * longer than we do (an io_uring ring tears down asynchronously). */
static void disk_unlock_image(struct disk *d)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0};

	fcntl(d->fd, F_OFD_SETLK, &fl);
}

/* 0 or -errno after logging. */
static int disk_open_file(struct disk *d, const struct disk_config *cfg)
{
	int flags = (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret;

	if (d->props.direct)
		flags |= O_DIRECT;
	d->fd = open(cfg->path, flags);
	if (d->fd < 0) {
		int err = errno;

		if (err == EINVAL && (flags & O_DIRECT))
			log_error("--disk %s: cache=none needs O_DIRECT, which this file system "
				  "does not support",
				  cfg->path);
		else
			log_error("--disk %s: %s", cfg->path, strerror(err));
		return -err;
	}
	ret = disk_lock_image(d, cfg);
	return ret ? ret : disk_find_size(d, cfg->path);
}

struct disk *disk_open(const struct disk_config *cfg)
{
	struct disk *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		log_error("--disk %s: out of memory", cfg->path);
		errno = ENOMEM;
		return NULL;
	}
	d->engine = cfg->engine == DISK_ENGINE_SYNC ? &disk_sync_engine : &disk_uring_engine;
	d->props.read_only = cfg->read_only;
	d->props.direct = cfg->cache == DISK_CACHE_NONE;
	d->props.inline_completion = d->engine->inline_completion;
	d->props.engine = d->engine->name;
	d->props.cache = d->props.direct ? "none" : "writeback";
	ret = disk_open_file(d, cfg);
	if (ret) {
		if (d->fd >= 0)
			close(d->fd);
		free(d);
		errno = -ret;
		return NULL;
	}
	disk_probe_dio_alignment(d);
	if (d->props.mem_align > DISK_BOUNCE_CHUNK || d->props.block_size > DISK_BOUNCE_CHUNK) {
		/* Bounce chunks must keep buffers and offsets aligned. */
		log_error("--disk %s: direct I/O alignment %u/%u is over %u bytes", cfg->path,
			  d->props.mem_align, d->props.block_size, DISK_BOUNCE_CHUNK);
		close(d->fd);
		free(d);
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; i < DISK_MAX_QUEUES; i++)
		d->queues[i].waiting_tail = &d->queues[i].waiting;
	d->bounce_slots = DISK_BOUNCE_SLOTS;
	return d;
}

int disk_use_iothread(struct disk *d, struct iothread *io)
{
	struct disk_queue *q;
	int ret;

	if (d->nr_bound >= DISK_MAX_QUEUES) {
		log_error("disk: more than %d I/O threads", DISK_MAX_QUEUES);
		return -EINVAL;
	}
	q = &d->queues[d->nr_bound];
	q->io = io;
	ret = d->engine->use_iothread ? d->engine->use_iothread(d, q) : 0;
	if (ret) {
		q->io = NULL;
		return ret;
	}
	d->nr_bound++;
	/* The pool split between the threads, at least a buffer each. */
	d->bounce_slots = DISK_BOUNCE_SLOTS / (int)d->nr_bound;
	if (d->bounce_slots < 1)
		d->bounce_slots = 1;
	return (int)d->nr_bound - 1;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	for (int q = 0; q < DISK_MAX_QUEUES; q++)
		for (int i = 0; i < DISK_BOUNCE_SLOTS; i++)
			free(d->queues[q].bounce_slot[i]);
	disk_unlock_image(d);
	close(d->fd);
	free(d);
}

const struct disk_props *disk_props(const struct disk *d)
{
	return &d->props;
}

const struct disk_counters *disk_counters(const struct disk *d)
{
	return &d->counters;
}

void disk_report_counters(const struct disk *d, struct json_object *counters)
{
	counters_to_json(counters, &d->counters, disk_counter_descs,
			 ARRAY_SIZE(disk_counter_descs));
}
