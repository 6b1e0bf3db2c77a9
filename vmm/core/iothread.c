#include "iothread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cpu_list.h"
#include "log.h"
#include "threads.h"
#include "util.h"

#define IOTHREAD_MAX_TIMERS  2
#define IOTHREAD_MAX_WATCHES 9 /* the stop eventfd + 8 (queue kicks, taps) */
/* The watched fds + what devices register (a disk, a tap). */
#define IOTHREAD_MAX_FILES (IOTHREAD_MAX_WATCHES + 5)
#define IOTHREAD_MAX_HOOKS 4
#define CQE_BATCH	   64

enum watch_state { WATCH_IDLE, WATCH_READING, WATCH_POLLING };

struct watch {
	struct iothread_op op; /* first: the op pointer is the watch */
	struct iothread *t;
	int fd;
	int file;      /* fd's index in the ring's file table */
	bool readable; /* iothread_watch_readable/hangup(): a one-shot poll, else an eventfd */
	unsigned int poll_events; /* what the one-shot poll waits for */
	bool arm_at_start;	  /* a hang-up watch: the thread arms it as it starts */
	uint64_t value;		  /* the eventfd counter lands here */
	enum watch_state state;
	iothread_fn fn;
	void *opaque;
};

/*
 * A timer is one io_uring timeout at a time.  Moving an armed timer's
 * deadline earlier cancels the timeout (ASYNC_CANCEL) and submits the new
 * one when the cancellation completes: TIMEOUT_REMOVE (which could update
 * it in place) is refused with -EINVAL on a ring that requires
 * IOSQE_FIXED_FILE.
 */
enum timer_state {
	TIMER_IDLE,
	TIMER_ARMED,  /* the timeout for due_ns is in flight */
	TIMER_MOVING, /* its cancellation too; then the timeout for due_ns */
};

struct timer {
	struct iothread_op op; /* first: the op pointer is the timer */
	struct iothread *t;
	/* The deadline, read by the kernel when the timeout is submitted,
	 * which may be after the arming call returned. */
	struct __kernel_timespec ts;
	uint64_t due_ns; /* unless idle */
	enum timer_state state;
	iothread_fn fn;
	void *opaque;
};

/* Where an I/O thread runs: iothread_set_default_affinity(). */
struct iothread_placement {
	bool set;
	cpu_set_t cpus;
	iothread_fn on_error;
	void *opaque;
};

/* Copied into each thread at creation. */
static struct iothread_placement iothread_default_placement;

struct iothread {
	char name[32];
	struct io_uring ring;
	pthread_t thread;
	bool running;
	bool stopping; /* I/O thread only */
	int stop_fd;
	unsigned int inflight; /* I/O thread only */
	struct watch watches[IOTHREAD_MAX_WATCHES];
	unsigned int nr_watches;
	struct {
		iothread_fn fn;
		void *opaque;
	} hooks[IOTHREAD_MAX_HOOKS];
	unsigned int nr_hooks;
	struct timer timers[IOTHREAD_MAX_TIMERS];
	unsigned int nr_timers;
	/* The restrictions, handed to the kernel by iothread_seal(). */
	int files[IOTHREAD_MAX_FILES];
	unsigned int nr_files;
	bool files_registered;
	uint64_t allowed_ops[4]; /* bit per IORING_OP_* (a u8 in the SQE) */
	bool sealed;
	struct iothread_op cancel_op;
	iothread_poll_fn poll_fn;
	void *poll_opaque;
	uint64_t poll_min_ns, poll_max_ns;
	uint64_t poll_ns;    /* current window, I/O thread only */
	bool woken_by_watch; /* I/O thread: a watch's fn ran since the last sleep */
	bool poll_ended;     /* I/O thread: iothread_end_poll_window() in this window */
	atomic_ulong loops, completions, submitted, eventfd_signals, sleeps, poll_hits, poll_misses;
	atomic_ulong poll_window_ns; /* poll_ns, for the stats reader */
	struct iothread_placement placement;
};

struct io_uring_sqe *iothread_get_sqe(struct iothread *t, struct iothread_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	if (!sqe) {
		/* Ring full: hand what is queued to the kernel now. */
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	t->inflight++;
	atomic_fetch_add_explicit(&t->submitted, 1, memory_order_relaxed);
	return sqe;
}

unsigned int iothread_inflight(const struct iothread *t)
{
	return t->inflight;
}

bool iothread_stopping(const struct iothread *t)
{
	return t->stopping;
}

uint64_t iothread_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void iothread_arm_watch(struct watch *w, enum watch_state state)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(w->t, &w->op);

	if (!sqe) {
		log_error("%s: io_uring refuses submissions; eventfd %d no longer watched",
			  w->t->name, w->fd);
		w->state = WATCH_IDLE;
		return;
	}
	if (state == WATCH_READING)
		io_uring_prep_read(sqe, w->file, &w->value, sizeof(w->value), 0);
	else
		io_uring_prep_poll_add(sqe, w->file, w->poll_events);
	iothread_sqe_fixed(sqe);
	w->state = state;
}

/* Cancel what op is doing (a watch's read or poll, a timeout): 0 or -EBUSY. */
static int iothread_cancel(struct iothread *t, struct iothread_op *op)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(t, &t->cancel_op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel(sqe, op, 0);
	iothread_sqe_fixed(sqe);
	return 0;
}

/* Cancel every armed watch and timer: stop waits for all of them. */
static void iothread_cancel_watches(struct iothread *t)
{
	for (unsigned int i = 0; i < t->nr_watches; i++)
		if (t->watches[i].state != WATCH_IDLE)
			iothread_cancel(t, &t->watches[i].op);
	/* A moving timer's cancellation is on its way already. */
	for (unsigned int i = 0; i < t->nr_timers; i++)
		if (t->timers[i].state == TIMER_ARMED)
			iothread_cancel(t, &t->timers[i].op);
}

static void iothread_watch_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct watch *w = (struct watch *)op;
	struct iothread *t = w->t;
	enum watch_state was = w->state;

	(void)flags;
	w->state = WATCH_IDLE;
	if (t->stopping || res == -ECANCELED)
		return;
	if (w->readable) {
		if (res < 0) {
			log_error("%s: polling fd %d: %s; no longer watched", t->name, w->fd,
				  strerror(-res));
		} else {
			t->woken_by_watch = true;
			w->fn(w->opaque);
		}
		return;
	}
	if (res == -EAGAIN) {
		/* O_NONBLOCK eventfd: wait for readiness, then read. */
		iothread_arm_watch(w, WATCH_POLLING);
		return;
	}
	if (res < 0) {
		log_error("%s: reading eventfd %d: %s", t->name, w->fd, strerror(-res));
		return;
	}
	if (was == WATCH_READING) {
		atomic_fetch_add_explicit(&t->eventfd_signals, 1, memory_order_relaxed);
		t->woken_by_watch = true;
		iothread_arm_watch(w, WATCH_READING);
		w->fn(w->opaque);
	} else {
		iothread_arm_watch(w, WATCH_READING);
	}
}

static void iothread_on_stop(void *opaque)
{
	struct iothread *t = opaque;

	t->stopping = true;
	iothread_cancel_watches(t);
}

static void iothread_noop_done(struct iothread_op *op, int res, uint32_t flags)
{
	(void)op;
	(void)res;
	(void)flags;
}

int iothread_register_file(struct iothread *t, int fd)
{
	if (fd < 0)
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	for (unsigned int i = 0; i < t->nr_files; i++)
		if (t->files[i] == fd)
			return (int)i;
	if (t->nr_files >= IOTHREAD_MAX_FILES)
		return -ENOSPC;
	t->files[t->nr_files] = fd;
	return (int)t->nr_files++;
}

int iothread_allow_op(struct iothread *t, unsigned int opcode)
{
	if (opcode >= IORING_OP_LAST || opcode >= 64 * ARRAY_SIZE(t->allowed_ops))
		return -EINVAL;
	if (t->sealed)
		return -EBUSY;
	t->allowed_ops[opcode / 64] |= 1ull << (opcode % 64);
	return 0;
}

/* A watch on fd (registered as a file): its index, or -errno. */
static int iothread_add_watch(struct iothread *t, int fd, bool readable, unsigned int poll_events,
			      iothread_fn fn, void *opaque)
{
	int file;

	if (t->running || t->sealed || t->nr_watches >= IOTHREAD_MAX_WATCHES || fd < 0 || !fn)
		return -EINVAL;
	file = iothread_register_file(t, fd);
	if (file < 0)
		return file;
	t->watches[t->nr_watches] = (struct watch){.op.done = iothread_watch_done,
						   .t = t,
						   .fd = fd,
						   .file = file,
						   .readable = readable,
						   .poll_events = poll_events,
						   .fn = fn,
						   .opaque = opaque};
	return (int)t->nr_watches++;
}

int iothread_watch_eventfd(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	int id = iothread_add_watch(t, fd, false, POLLIN, fn, opaque);

	return id < 0 ? id : 0;
}

int iothread_watch_readable(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	return iothread_add_watch(t, fd, true, POLLIN, fn, opaque);
}

int iothread_watch_hangup(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	int id = iothread_add_watch(t, fd, true, POLLRDHUP, fn, opaque);

	if (id >= 0)
		t->watches[id].arm_at_start = true;
	return id;
}

bool iothread_arm_readable(struct iothread *t, int id)
{
	struct watch *w;

	if (id < 0 || (unsigned int)id >= t->nr_watches || t->stopping)
		return false;
	w = &t->watches[id];
	if (!w->readable)
		return false;
	if (w->state == WATCH_IDLE)
		iothread_arm_watch(w, WATCH_POLLING);
	return w->state != WATCH_IDLE;
}

/* Submit the timeout for tm->due_ns; false if the ring refuses (logged). */
static bool iothread_submit_timeout(struct iothread *t, struct timer *tm)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(t, &tm->op);

	if (!sqe) {
		log_error("%s: io_uring refuses submissions; timer not armed", t->name);
		return false;
	}
	tm->ts.tv_sec = (long long)(tm->due_ns / 1000000000u);
	tm->ts.tv_nsec = (long long)(tm->due_ns % 1000000000u);
	io_uring_prep_timeout(sqe, &tm->ts, 0, IORING_TIMEOUT_ABS);
	iothread_sqe_fixed(sqe);
	return true;
}

static void iothread_timer_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct timer *tm = (struct timer *)op;
	enum timer_state was = tm->state;

	(void)flags;
	tm->state = TIMER_IDLE;
	if (tm->t->stopping)
		return;
	if (was == TIMER_MOVING && res == -ECANCELED) {
		/* Moved earlier: the timeout for the new deadline. */
		if (iothread_submit_timeout(tm->t, tm))
			tm->state = TIMER_ARMED;
		return;
	}
	/* -ETIME: the deadline passed (for a moving timer the old, later one,
	 * so the new one too).  Anything else ends the wait as well: fn
	 * re-checks what it waits for. */
	tm->fn(tm->opaque);
}

int iothread_add_timer(struct iothread *t, iothread_fn fn, void *opaque)
{
	if (t->running || t->sealed || t->nr_timers >= IOTHREAD_MAX_TIMERS || !fn)
		return -EINVAL;
	iothread_allow_op(t, IORING_OP_TIMEOUT);
	t->timers[t->nr_timers] =
	    (struct timer){.op.done = iothread_timer_done, .t = t, .fn = fn, .opaque = opaque};
	return (int)t->nr_timers++;
}

void iothread_arm_timer(struct iothread *t, int id, uint64_t delay_ns)
{
	uint64_t due = iothread_now_ns() + delay_ns;
	struct timer *tm;

	if (id < 0 || (unsigned int)id >= t->nr_timers || t->stopping)
		return;
	tm = &t->timers[id];
	if (tm->state != TIMER_IDLE && tm->due_ns <= due)
		return;
	tm->due_ns = due;
	switch (tm->state) {
	case TIMER_IDLE:
		if (iothread_submit_timeout(t, tm))
			tm->state = TIMER_ARMED;
		break;
	case TIMER_ARMED:
		/* If the cancellation cannot be queued, the later deadline
		 * stays: the ring is refusing everything anyway. */
		if (!iothread_cancel(t, &tm->op))
			tm->state = TIMER_MOVING;
		break;
	case TIMER_MOVING:
		break; /* the new timeout is submitted with the later due_ns */
	}
}

int iothread_add_batch_hook(struct iothread *t, iothread_fn fn, void *opaque)
{
	if (t->running || t->nr_hooks >= IOTHREAD_MAX_HOOKS || !fn)
		return -EINVAL;
	t->hooks[t->nr_hooks].fn = fn;
	t->hooks[t->nr_hooks].opaque = opaque;
	t->nr_hooks++;
	return 0;
}

struct cqe_copy {
	struct iothread_op *op;
	int res;
	uint32_t flags;
};

/* Copy the completions out first: callbacks may queue new SQEs, and the
 * CQ ring slots are released before any of them runs. */
static unsigned int iothread_reap(struct iothread *t, struct cqe_copy *out)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	unsigned int n = io_uring_peek_batch_cqe(&t->ring, cqes, CQE_BATCH);

	for (unsigned int i = 0; i < n; i++) {
		out[i].op = io_uring_cqe_get_data(cqes[i]);
		out[i].res = cqes[i]->res;
		out[i].flags = cqes[i]->flags;
	}
	io_uring_cq_advance(&t->ring, n);
	return n;
}

/*
 * A completion is ready, or one is waiting for this thread to enter the
 * kernel: with COOP_TASKRUN the kernel posts block I/O completions only on
 * the thread's next kernel entry, and TASKRUN_FLAG says when one is due.
 */
static bool iothread_completion_pending(struct iothread *t)
{
	return io_uring_cq_ready(&t->ring) ||
	       (IO_URING_READ_ONCE(*t->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

static void iothread_set_window(struct iothread *t, uint64_t ns)
{
	t->poll_ns = ns;
	atomic_store_explicit(&t->poll_window_ns, ns, memory_order_relaxed);
}

static void iothread_grow_poll_window(struct iothread *t)
{
	uint64_t grown = t->poll_ns ? 2 * t->poll_ns : 1000;

	iothread_set_window(t, grown > t->poll_max_ns ? t->poll_max_ns : grown);
}

static void iothread_shrink_poll_window(struct iothread *t)
{
	iothread_set_window(t, t->poll_ns / 2 < t->poll_min_ns ? t->poll_min_ns : t->poll_ns / 2);
}

/*
 * Busy-poll the device and the completion queue for up to the current
 * window.  Returns true if the thread must not sleep: work was found or a
 * completion is pending.  A guest driver that polls its used ring answers
 * a completion within microseconds; catching that here saves it a kick (a
 * trapped MMIO write) and saves this thread a sleep and wake-up.
 */
static bool iothread_poll_before_sleep(struct iothread *t)
{
	uint64_t start = iothread_now_ns(), now = start;

	t->poll_ended = false;
	/* Queued SQEs go to the kernel before the window starts. */
	if (io_uring_sq_ready(&t->ring))
		io_uring_submit(&t->ring);
	do {
		if (iothread_completion_pending(t))
			goto hit;
		if (t->poll_fn(t->poll_opaque, false))
			goto hit;
		cpu_relax();
		now = iothread_now_ns();
	} while (!t->poll_ended && now - start < t->poll_ns);
	if (t->poll_fn(t->poll_opaque, true) || iothread_completion_pending(t))
		goto hit;
	atomic_fetch_add_explicit(&t->poll_misses, 1, memory_order_relaxed);
	return false;
hit:
	atomic_fetch_add_explicit(&t->poll_hits, 1, memory_order_relaxed);
	return true;
}

/*
 * Adapt the poll window to a sleep of slept_ns, once its completions have
 * run.  A sleep that ended within poll_max_ns is one a longer window would
 * have avoided: grow.  A longer one shrinks the window only if a watch
 * ended it (a kick, a readable tap): the guest or the peer was idle that
 * long.  A long sleep that only the device's own operations ended (a disk
 * read in flight for hundreds of microseconds) says nothing about how soon
 * the guest answers, and must not shrink the window that catches its next
 * request: that is what left a virtio-blk guest kicking after every batch
 * (docs/virtio.md).
 */
static void iothread_adapt_poll_window(struct iothread *t, uint64_t slept_ns, bool by_watch)
{
	if (slept_ns < t->poll_max_ns)
		iothread_grow_poll_window(t);
	else if (by_watch)
		iothread_shrink_poll_window(t);
}

/*
 * Hand the queued SQEs to the kernel and wait for at least one completion,
 * unless busy-polling found work (then only submit).  *slept_ns: how long
 * it waited (0 if it did not sleep).  0, or the -errno of io_uring_enter.
 */
static int iothread_submit_and_wait(struct iothread *t, uint64_t *slept_ns)
{
	uint64_t start;
	int ret;

	*slept_ns = 0;
	if (t->poll_fn && !t->stopping && iothread_poll_before_sleep(t)) {
		/* Submit, and run pending completion work without waiting. */
		ret = io_uring_submit_and_get_events(&t->ring);
		return ret < 0 ? ret : 0;
	}
	start = t->poll_fn ? iothread_now_ns() : 0;
	ret = io_uring_submit_and_wait(&t->ring, 1);
	atomic_fetch_add_explicit(&t->sleeps, 1, memory_order_relaxed);
	if (t->poll_fn) {
		uint64_t slept = iothread_now_ns() - start;

		*slept_ns = slept ? slept : 1;
	}
	return ret < 0 ? ret : 0;
}

/* Run the callbacks of everything that completed, then the batch hooks. */
static void iothread_run_completions(struct iothread *t)
{
	struct cqe_copy done[CQE_BATCH];
	unsigned int n;

	while ((n = iothread_reap(t, done)) > 0) {
		atomic_fetch_add_explicit(&t->completions, n, memory_order_relaxed);
		for (unsigned int i = 0; i < n; i++) {
			if (!(done[i].flags & IORING_CQE_F_MORE))
				t->inflight--;
			if (done[i].op)
				done[i].op->done(done[i].op, done[i].res, done[i].flags);
		}
	}
	for (unsigned int i = 0; i < t->nr_hooks; i++)
		t->hooks[i].fn(t->hooks[i].opaque);
}

/*
 * Move the calling I/O thread to its CPUs.  First thing at start: nothing
 * runs unplaced, and whoever finds the thread by its name finds it placed.
 */
static void iothread_place_self(struct iothread *t)
{
	const struct iothread_placement *p = &t->placement;
	char list[CPU_LIST_MAX];
	int err;

	if (!p->set)
		return;
	cpu_list_format(&p->cpus, list, sizeof(list));
	err = pthread_setaffinity_np(pthread_self(), sizeof(p->cpus), &p->cpus);
	if (!err) {
		log_debug("%s: I/O thread runs on host CPUs %s", t->name, list);
		return;
	}
	log_error("%s: cannot run the I/O thread on host CPUs %s: %s", t->name, list,
		  strerror(err));
	if (p->on_error)
		p->on_error(p->opaque);
}

static void *iothread_main(void *arg)
{
	struct iothread *t = arg;

	iothread_place_self(t);
	/* Named after its device: visible in top -H, perf and --stats. */
	threads_register_self(t->name, THREAD_IO);
	t->stopping = false;
	iothread_set_window(t, t->poll_max_ns);
	for (unsigned int i = 0; i < t->nr_watches; i++)
		if (!t->watches[i].readable)
			iothread_arm_watch(&t->watches[i], WATCH_READING);
		else if (t->watches[i].arm_at_start)
			iothread_arm_watch(&t->watches[i], WATCH_POLLING);
	while (!t->stopping || t->inflight) {
		uint64_t slept_ns;
		int ret = iothread_submit_and_wait(t, &slept_ns);

		if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
			log_error("%s: io_uring_enter: %s", t->name, strerror(-ret));
			break;
		}
		atomic_fetch_add_explicit(&t->loops, 1, memory_order_relaxed);
		t->woken_by_watch = false;
		iothread_run_completions(t);
		if (slept_ns)
			iothread_adapt_poll_window(t, slept_ns, t->woken_by_watch);
	}
	threads_exit_self();
	return NULL;
}

/*
 * The ring starts disabled (R_DISABLED) so that restrictions can be
 * registered before anything runs on it.  0 or -errno; -EOPNOTSUPP, logged,
 * where the kernel cannot restrict rings.
 */
static int iothread_init_ring(struct iothread *t, unsigned int ring_entries)
{
	/* COOP_TASKRUN: completions are processed when this thread enters
	 * the kernel anyway, no need for interrupting IPIs.  SUBMIT_ALL: an
	 * SQE the restrictions refuse does not hold back the rest of the
	 * batch.  Those three need 5.19; R_DISABLED alone 5.10. */
	static const unsigned int flags[] = {
	    IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	    IORING_SETUP_R_DISABLED,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	for (unsigned int i = 0; i < ARRAY_SIZE(flags) && ret == -EINVAL; i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flags[i];
		ret = io_uring_queue_init_params(ring_entries, &t->ring, &p);
	}
	if (ret != -EINVAL)
		return ret;
	/*
	 * Without R_DISABLED (before Linux 5.10) the ring cannot be
	 * restricted.  Refuse rather than run unrestricted: the restrictions
	 * are what keeps a compromised device model from using the ring for
	 * operations and files seccomp would refuse it.
	 */
	memset(&p, 0, sizeof(p));
	ret = io_uring_queue_init_params(ring_entries, &t->ring, &p);
	if (ret < 0)
		return ret;
	io_uring_queue_exit(&t->ring);
	log_error("%s: this kernel cannot restrict an io_uring (IORING_SETUP_R_DISABLED needs "
		  "Linux 5.10 or later)",
		  t->name);
	return -EOPNOTSUPP;
}

struct iothread *iothread_create(const char *name, unsigned int ring_entries)
{
	struct iothread *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->cancel_op.done = iothread_noop_done;
	t->placement = iothread_default_placement;
	ret = iothread_init_ring(t, ring_entries);
	if (ret < 0) {
		free(t);
		errno = -ret;
		return NULL;
	}
	/* What the thread itself submits: watches read eventfds and poll
	 * (readable watches, an O_NONBLOCK eventfd), stop cancels. */
	iothread_allow_op(t, IORING_OP_READ);
	iothread_allow_op(t, IORING_OP_POLL_ADD);
	iothread_allow_op(t, IORING_OP_ASYNC_CANCEL);
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (t->stop_fd < 0) {
		int err = errno;

		io_uring_queue_exit(&t->ring);
		free(t);
		errno = err;
		return NULL;
	}
	iothread_watch_eventfd(t, t->stop_fd, iothread_on_stop, t);
	return t;
}

int iothread_set_poll(struct iothread *t, iothread_poll_fn fn, void *opaque, unsigned int min_ns,
		      unsigned int max_ns)
{
	if (t->running || t->poll_fn || !fn || min_ns > max_ns || max_ns == 0)
		return -EINVAL;
	t->poll_fn = fn;
	t->poll_opaque = opaque;
	t->poll_min_ns = min_ns;
	t->poll_max_ns = max_ns;
	return 0;
}

void iothread_end_poll_window(struct iothread *t)
{
	t->poll_ended = true;
}

void iothread_set_default_affinity(const cpu_set_t *cpus, iothread_fn on_error, void *opaque)
{
	iothread_default_placement = (struct iothread_placement){
	    .set = cpus != NULL, .on_error = on_error, .opaque = opaque};
	if (cpus)
		iothread_default_placement.cpus = *cpus;
}

/* io_uring_register(2) for what liburing 2.3 (Debian 12) declares but does
 * not export: io_uring_register_restrictions, io_uring_enable_rings. */
static int iothread_ring_register(struct iothread *t, unsigned int opcode, void *arg,
				  unsigned int nr_args)
{
	return syscall(__NR_io_uring_register, t->ring.ring_fd, opcode, arg, nr_args) < 0 ? -errno
											  : 0;
}

int iothread_seal(struct iothread *t)
{
	struct io_uring_restriction res[64 * ARRAY_SIZE(t->allowed_ops) + 2];
	unsigned int n = 0;
	int ret;

	if (t->sealed)
		return 0;
	if (t->nr_files && !t->files_registered) {
		ret = io_uring_register_files(&t->ring, t->files, t->nr_files);
		if (ret < 0) {
			log_error("%s: cannot register the io_uring's files: %s", t->name,
				  strerror(-ret));
			return ret;
		}
		t->files_registered = true;
	}
	memset(res, 0, sizeof(res));
	for (unsigned int op = 0; op < 64 * ARRAY_SIZE(t->allowed_ops); op++)
		if (t->allowed_ops[op / 64] & (1ull << (op % 64))) {
			res[n].opcode = IORING_RESTRICTION_SQE_OP;
			res[n++].sqe_op = (uint8_t)op;
		}
	/* Every SQE names a registered file (fd-less opcodes accept the flag). */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/* Dropping the files is the one register operation left (destroy). */
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_UNREGISTER_FILES;
	ret = iothread_ring_register(t, IORING_REGISTER_RESTRICTIONS, res, n);
	if (!ret)
		ret = iothread_ring_register(t, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret) {
		log_error("%s: cannot restrict the io_uring: %s", t->name, strerror(-ret));
		return ret;
	}
	t->sealed = true;
	return 0;
}

int iothread_start(struct iothread *t)
{
	int ret;

	if (t->running)
		return 0;
	ret = iothread_seal(t);
	if (ret)
		return ret;
	ret = pthread_create(&t->thread, NULL, iothread_main, t);
	if (ret)
		return -ret;
	t->running = true;
	return 0;
}

void iothread_stop(struct iothread *t)
{
	uint64_t one = 1;

	if (!t->running)
		return;
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		log_errno("%s: cannot signal the I/O thread", t->name);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void iothread_destroy(struct iothread *t)
{
	if (!t)
		return;
	iothread_stop(t);
	/* Now, not whenever the kernel tears the ring down: the files (a
	 * tap, a locked disk image) are free again when destroy returns. */
	if (t->files_registered)
		io_uring_unregister_files(&t->ring);
	io_uring_queue_exit(&t->ring);
	close(t->stop_fd);
	free(t);
}

void iothread_get_stats(const struct iothread *t, struct iothread_stats *out)
{
	struct iothread *m = (struct iothread *)t;

	out->loops = atomic_load(&m->loops);
	out->completions = atomic_load(&m->completions);
	out->submitted = atomic_load(&m->submitted);
	out->eventfd_signals = atomic_load(&m->eventfd_signals);
	out->sleeps = atomic_load(&m->sleeps);
	out->poll_hits = atomic_load(&m->poll_hits);
	out->poll_misses = atomic_load(&m->poll_misses);
	out->poll_window_ns = atomic_load(&m->poll_window_ns);
}

void iothread_stats_to_json(const struct iothread_stats *st, bool with_gauges,
			    struct json_object *device)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "loops", json_object_new_uint64(st->loops));
	json_object_object_add(o, "completions", json_object_new_uint64(st->completions));
	json_object_object_add(o, "submitted", json_object_new_uint64(st->submitted));
	json_object_object_add(o, "eventfd_signals", json_object_new_uint64(st->eventfd_signals));
	json_object_object_add(o, "sleeps", json_object_new_uint64(st->sleeps));
	json_object_object_add(o, "poll_hits", json_object_new_uint64(st->poll_hits));
	json_object_object_add(o, "poll_misses", json_object_new_uint64(st->poll_misses));
	if (with_gauges)
		json_object_object_add(o, "poll_window_ns",
				       json_object_new_uint64(st->poll_window_ns));
	json_object_object_add(device, "io_thread", o);
}

void iothread_report_stats(const struct iothread *t, struct json_object *device)
{
	struct iothread_stats st;

	iothread_get_stats(t, &st);
	iothread_stats_to_json(&st, true, device);
}
