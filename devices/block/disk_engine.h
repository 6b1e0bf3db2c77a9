/*
 * Inside the disk backend: what an engine implements and what disk.c
 * gives every engine (the short-transfer policy, bounce buffers, the
 * completion).  Only devices/block/ and its unit test include this.
 */
#ifndef MINIVMM_DISK_ENGINE_H
#define MINIVMM_DISK_ENGINE_H

#include <sys/types.h>

#include "devices/block/disk.h"

struct disk_engine_ops {
	const char *name;
	bool inline_completion; /* submit runs the request to its end */
	bool needs_iothread;	/* submits on the request's queue's ring */
	/* disk_use_iothread(): register what the engine uses on q->io's ring
	 * (the file, the opcodes) and set q->io_file.  0 or -errno. */
	int (*use_iothread)(struct disk *d, struct disk_queue *q);
	/* Start r (disk_submit() has checked it and set up any bounce
	 * buffer): 0, or -errno without having called disk_complete(). */
	int (*submit)(struct disk *d, struct disk_request *r);
};

extern const struct disk_engine_ops disk_sync_engine;
extern const struct disk_engine_ops disk_uring_engine;

/*
 * What one I/O thread's requests use: its ring, and its share of the bounce
 * pool.  Touched only by the thread that submits and completes the queue's
 * requests, so queues need no lock between them.
 */
struct disk_queue {
	struct iothread *io; /* disk_use_iothread(): the io_uring engine's ring */
	int io_file;	     /* fd's index in io's file table (iothread_register_file) */
	/* The bounce buffers (allocated on first use), which are in use, and
	 * the bounced requests waiting for one, oldest first. */
	void *bounce_slot[DISK_BOUNCE_SLOTS];
	bool bounce_busy[DISK_BOUNCE_SLOTS];
	struct disk_request *waiting, **waiting_tail;
	bool starting_waiting; /* disk_start_waiting() is running */
};

struct disk {
	int fd;
	const struct disk_engine_ops *engine;
	struct disk_props props;
	struct disk_counters counters;
	/* queues[0] exists from disk_open() (a caller that never binds a
	 * thread uses it); nr_bound threads have been bound, queue i to the
	 * i-th.  bounce_slots: each queue's share of the pool. */
	struct disk_queue queues[DISK_MAX_QUEUES];
	unsigned int nr_bound;
	int bounce_slots;
};

/*
 * The short-transfer policy (see disk.h).  Account res, the result of one
 * read or write attempt (bytes or -errno), in r.  true: submit again for the
 * rest.  false: r is over and *result is what done gets.
 */
bool disk_rw_progress(struct disk_request *r, ssize_t res, int *result);

/*
 * The buffers of the next read or write attempt: the rest of the bounce
 * buffer's chunk (described in *one) or the caller's iovec.
 */
void disk_rw_window(struct disk_request *r, struct iovec *one, struct iovec **iov,
		    unsigned int *cnt);

/*
 * A READ or WRITE done with preadv/pwritev on the calling thread, short
 * transfers continued: the result done gets.  The sync engine's, and the
 * io_uring engine's for a lone buffered write (disk_request.alone).
 */
int disk_sync_rw(struct disk *d, struct disk_request *r);

/* fallocate mode of a DISCARD or WRITE_ZEROES. */
int disk_fallocate_mode(const struct disk_request *r);

/*
 * r is over: copy a bounced read's last chunk back, free the bounce buffer,
 * call done, then start requests that were waiting for bounce memory.
 */
void disk_complete(struct disk_request *r, int result);

#endif
