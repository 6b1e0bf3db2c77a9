/*
 * The host disk backend: a raw image file behind one interface.  A caller
 * opens the image once, submits reads, writes, flushes, discards and
 * write-zeroes over iovecs, and gets one completion callback per request.
 * The backend knows no guest protocol: ranges, sector sizes of the guest
 * and status codes are the caller's.
 *
 * Engines (--disk ...,engine=; struct disk_config):
 *   io_uring  each request becomes an SQE on the ring of the caller's I/O
 *             thread (vmm/core/iothread.h), handed over once with
 *             disk_use_iothread() before the first request.  The SQE goes
 *             to the kernel with the thread's next io_uring_enter, together
 *             with everything else queued in that batch, and done runs in
 *             the I/O thread when its completion is reaped.  disk_submit()
 *             must be called from that I/O thread.
 *   sync      preadv/pwritev/fdatasync/fallocate on the calling thread; done
 *             runs before disk_submit() returns (disk_props()->inline_completion).
 *
 * Short transfers, one policy for both engines (disk.c, disk_rw_progress):
 * a read or write that moves fewer bytes than asked is not finished.  The
 * backend submits the remainder again, until the whole length is done, the
 * host reports an error, or an attempt moves nothing (end of file: the image
 * shrank under us); EINTR is retried.  The request then completes with 0
 * only if every byte moved, else with the error (-EIO at end of file), and
 * r->transferred says how far it got.  Why: a short count is not an error
 * (a signal, a request crossing RLIMIT_FSIZE or a full disk, a partly cached
 * range), and a block device has no partial success to report, so the
 * remainder either succeeds or yields the real error to report.
 *
 * O_DIRECT (cache=none): alignment comes from statx(STATX_DIOALIGN), 512
 * when the file system does not say.  A read or write whose buffers are not
 * aligned (address to mem_align, segment lengths to block_size) goes through
 * an aligned bounce buffer (counted as `bounced`); a misaligned offset or
 * length cannot be fixed by bouncing and fails in the kernel (-EINVAL).
 * The bounce memory is bounded whatever the request's size: see
 * DISK_BOUNCE_CHUNK below.
 */
#ifndef MINIVMM_DISK_H
#define MINIVMM_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "counters.h"
#include "iothread.h"
#include "vm_config.h"

#define DISK_SECTOR_SIZE 512
/* I/O threads one disk can be bound to (disk_use_iothread). */
#define DISK_MAX_QUEUES 8

struct disk;
struct disk_queue;

enum disk_op {
	DISK_OP_READ,
	DISK_OP_WRITE,
	DISK_OP_FLUSH,	      /* fdatasync */
	DISK_OP_DISCARD,      /* punch a hole (keeps the file size) */
	DISK_OP_WRITE_ZEROES, /* zero the range; with unmap, punch a hole */
};

struct disk_request {
	/* Set by the caller before disk_submit(). */
	enum disk_op op;
	bool unmap; /* WRITE_ZEROES: may deallocate instead of writing zeroes */
	/*
	 * READ/WRITE: the data buffers, len bytes in total (at most
	 * UINT32_MAX).  The backend owns the array until done runs: it may
	 * advance iov and iovcnt in place to continue a short transfer, so
	 * neither means anything afterwards.
	 */
	struct iovec *iov;
	unsigned int iovcnt;
	uint64_t offset; /* bytes */
	uint64_t len;	 /* bytes; the range for DISCARD and WRITE_ZEROES, unused by FLUSH */
	/*
	 * Nothing else is in flight or queued behind this request (a guest at
	 * queue depth 1).  The io_uring engine then does a buffered write at
	 * once on the calling thread: io_uring hands buffered writes on file
	 * systems without async buffered writes (ext4) to a kernel worker, a
	 * context switch per request that a lone request cannot overlap with
	 * anything.  Deeper queues keep the worker, which runs beside the I/O
	 * thread.  Counted as writes_inline.
	 */
	bool alone;
	/*
	 * Called exactly once per accepted request: result 0 (the whole
	 * request done) or -errno.  May run inside disk_submit().
	 */
	void (*done)(struct disk_request *r, int result);

	/* Set by the backend: READ/WRITE bytes moved (len on success). */
	uint64_t transferred;

	/* The backend's while the request is in flight. */
	struct iothread_op uring_op;
	struct disk *disk;
	struct disk_queue *queue;  /* the submitting thread's: its ring and bounce buffers */
	void *bounce;		   /* one chunk of the request (DISK_BOUNCE_CHUNK at most) */
	int bounce_slot;	   /* which buffer of the queue's pool */
	uint64_t bounce_at;	   /* where in the request the chunk starts */
	struct disk_request *next; /* waiting for a bounce buffer */
	uint8_t zero_step;	   /* WRITE_ZEROES without ZERO_RANGE: disk_fallocate_mode() */
};

/* What an open disk is; constant after disk_open(). */
struct disk_props {
	uint64_t size;		/* bytes, as found at open (at least one sector) */
	uint32_t mem_align;	/* O_DIRECT buffer address alignment */
	uint32_t block_size;	/* offsets and lengths: the O_DIRECT offset alignment, else 512 */
	bool read_only;		/* opened O_RDONLY */
	bool direct;		/* cache=none: O_DIRECT */
	bool inline_completion; /* done runs inside disk_submit() (the sync engine) */
	const char *engine;	/* "io_uring" or "sync" */
	const char *cache;	/* "none" or "writeback" */
};

/*
 * Bounce memory is bounded (cache=none, misaligned buffers), whatever the
 * request's size: a disk has a pool of DISK_BOUNCE_SLOTS buffers of
 * DISK_BOUNCE_CHUNK bytes (allocated on first use, kept until close),
 * split between the I/O threads it is bound to (each thread's queue gets
 * DISK_BOUNCE_SLOTS / threads of them, at least one, so the pool is
 * max(DISK_BOUNCE_POOL_BYTES, threads * DISK_BOUNCE_CHUNK)).  A
 * thread only ever touches its own share, so no lock is needed.  A bounced
 * request holds one buffer from start to completion and moves its data
 * through it one chunk after the other; when all of its queue's are in use
 * it waits (counted as bounce_waits) until an earlier one completes.
 */
#define DISK_BOUNCE_CHUNK      (1u << 20)
#define DISK_BOUNCE_POOL_BYTES (4u << 20)
#define DISK_BOUNCE_SLOTS      ((int)(DISK_BOUNCE_POOL_BYTES / DISK_BOUNCE_CHUNK))

/*
 * bounced: requests copied through a bounce buffer.  bounce_bytes: bounce
 * buffers in use now; bounce_peak_bytes: the most ever in use at once
 * (gauges; also what the pool has allocated).
 */
#define DISK_COUNTERS(X)                                                                           \
	X(bounced) X(bounce_waits) X(bounce_bytes) X(bounce_peak_bytes) X(writes_inline)
struct disk_counters {
	DISK_COUNTERS(COUNTER_FIELD)
};

/*
 * Open cfg->path as cfg asks (read-only, O_DIRECT, engine).  NULL with
 * errno set after logging one line "--disk PATH: why" (missing file,
 * O_DIRECT unsupported, smaller than a sector, ...).
 */
struct disk *disk_open(const struct disk_config *cfg);

/*
 * Bind an I/O thread: its ring carries the io_uring engine's requests of
 * one queue, and their completions run there; called before the thread's
 * ring is sealed (iothread_seal(), at the latest its first start): the
 * io_uring engine registers the image and its opcodes with the ring (the
 * sync engine does not use the thread).  Called once per thread, up to
 * DISK_MAX_QUEUES times, before the first request: the n-th call binds
 * queue n (0, 1, ...), which disk_submit_on() then takes; disk_submit() is
 * queue 0.  Separate from disk_open() so that a caller can open, and fail
 * on, the image before it claims anything else.  The queue index (0 for
 * the first thread), or -errno (logged) and that queue's requests fail
 * with -EINVAL.
 */
int disk_use_iothread(struct disk *d, struct iothread *io);

/* Close the file.  No request may be in flight (stop the I/O thread first). */
void disk_close(struct disk *d);

/*
 * Start r.  0: done will run exactly once (perhaps already has; a request
 * waiting for bounce memory starts when an earlier one completes, and fails
 * there with -ENOMEM or -EBUSY if it cannot).  -errno: refused before any
 * I/O (an unknown op or a transfer over UINT32_MAX bytes -EINVAL, an
 * io_uring disk without an I/O thread -EINVAL, no memory for a bounce
 * buffer -ENOMEM, the ring refused an SQE -EBUSY); done will not run.
 */
int disk_submit(struct disk *d, struct disk_request *r);

/*
 * disk_submit() on queue q (a disk_use_iothread() result), from the thread
 * bound to it: the request goes to that thread's ring and uses its share
 * of the bounce pool.  An unbound q is -EINVAL.
 */
int disk_submit_on(struct disk *d, int q, struct disk_request *r);

const struct disk_props *disk_props(const struct disk *d);
const struct disk_counters *disk_counters(const struct disk *d);

struct json_object;

/* Add each DISK_COUNTERS entry to a --stats "counters" object. */
void disk_report_counters(const struct disk *d, struct json_object *counters);

#endif
