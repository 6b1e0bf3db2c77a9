#include "iothread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cpu_list.h"
#include "log.h"
#include "threads.h"

#define IOTHREAD_MAX_WATCHES 9 /* the stop eventfd + 8 (queue kicks, taps) */
#define IOTHREAD_MAX_HOOKS   4
#define IOTHREAD_MAX_TIMERS  2
#define CQE_BATCH	     64

enum watch_state { WATCH_IDLE, WATCH_READING, WATCH_POLLING };

struct watch {
	struct iothread_op op; /* first: the op pointer is the watch */
	struct iothread *t;
	int fd;
	bool readable;	/* iothread_watch_readable(): a one-shot poll, else an eventfd */
	uint64_t value; /* the eventfd counter lands here */
	enum watch_state state;
	iothread_fn fn;
	void *opaque;
};

struct timer {
	struct iothread_op op; /* first: the op pointer is the timer */
	struct iothread *t;
	/* The deadline, read by the kernel when the timeout (or its update)
	 * is submitted, which may be after the arming call returned. */
	struct __kernel_timespec ts;
	uint64_t due_ns; /* while armed */
	bool armed;
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
	struct iothread_op cancel_op;
	iothread_poll_fn poll_fn;
	void *poll_opaque;
	uint64_t poll_min_ns, poll_max_ns;
	uint64_t poll_ns; /* current window, I/O thread only */
	atomic_ulong loops, completions, submitted, eventfd_signals, sleeps, poll_hits, poll_misses;
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
		io_uring_prep_read(sqe, w->fd, &w->value, sizeof(w->value), 0);
	else
		io_uring_prep_poll_add(sqe, w->fd, POLLIN);
	w->state = state;
}

/* Cancel every armed watch and timer: stop waits for all of them. */
static void iothread_cancel_watches(struct iothread *t)
{
	for (unsigned int i = 0; i < t->nr_watches; i++) {
		struct watch *w = &t->watches[i];
		struct io_uring_sqe *sqe;

		if (w->state == WATCH_IDLE)
			continue;
		sqe = iothread_get_sqe(t, &t->cancel_op);
		if (sqe)
			io_uring_prep_cancel(sqe, &w->op, 0);
	}
	for (unsigned int i = 0; i < t->nr_timers; i++) {
		struct io_uring_sqe *sqe;

		if (!t->timers[i].armed)
			continue;
		sqe = iothread_get_sqe(t, &t->cancel_op);
		if (sqe)
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->timers[i].op, 0);
	}
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
		if (res < 0)
			log_error("%s: polling fd %d: %s; no longer watched", t->name, w->fd,
				  strerror(-res));
		else
			w->fn(w->opaque);
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

int iothread_watch_eventfd(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	struct watch *w;

	if (t->running || t->nr_watches >= IOTHREAD_MAX_WATCHES || fd < 0 || !fn)
		return -EINVAL;
	w = &t->watches[t->nr_watches++];
	*w = (struct watch){
	    .op.done = iothread_watch_done, .t = t, .fd = fd, .fn = fn, .opaque = opaque};
	return 0;
}

int iothread_watch_readable(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	struct watch *w;

	if (t->running || t->nr_watches >= IOTHREAD_MAX_WATCHES || fd < 0 || !fn)
		return -EINVAL;
	w = &t->watches[t->nr_watches];
	*w = (struct watch){.op.done = iothread_watch_done,
			    .t = t,
			    .fd = fd,
			    .readable = true,
			    .fn = fn,
			    .opaque = opaque};
	return (int)t->nr_watches++;
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

static void iothread_timer_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct timer *tm = (struct timer *)op;

	(void)flags;
	tm->armed = false;
	/* -ETIME: the deadline passed.  -ECANCELED: stop removed it. */
	if (tm->t->stopping || res == -ECANCELED)
		return;
	tm->fn(tm->opaque);
}

int iothread_add_timer(struct iothread *t, iothread_fn fn, void *opaque)
{
	if (t->running || t->nr_timers >= IOTHREAD_MAX_TIMERS || !fn)
		return -EINVAL;
	t->timers[t->nr_timers] =
	    (struct timer){.op.done = iothread_timer_done, .t = t, .fn = fn, .opaque = opaque};
	return (int)t->nr_timers++;
}

void iothread_arm_timer(struct iothread *t, int id, uint64_t delay_ns)
{
	uint64_t due = iothread_now_ns() + delay_ns;
	struct io_uring_sqe *sqe;
	struct timer *tm;

	if (id < 0 || (unsigned int)id >= t->nr_timers || t->stopping)
		return;
	tm = &t->timers[id];
	if (tm->armed && tm->due_ns <= due)
		return;
	/* An update completes on its own (cancel_op); the timeout itself on op. */
	sqe = iothread_get_sqe(t, tm->armed ? &t->cancel_op : &tm->op);
	if (!sqe) {
		log_error("%s: io_uring refuses submissions; timer not armed", t->name);
		return;
	}
	tm->ts.tv_sec = (long long)(due / 1000000000u);
	tm->ts.tv_nsec = (long long)(due % 1000000000u);
	if (tm->armed)
		io_uring_prep_timeout_update(sqe, &tm->ts, (uint64_t)(uintptr_t)&tm->op,
					     IORING_TIMEOUT_ABS);
	else
		io_uring_prep_timeout(sqe, &tm->ts, 0, IORING_TIMEOUT_ABS);
	tm->armed = true;
	tm->due_ns = due;
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

	/* Queued SQEs go to the kernel before the window starts. */
	if (io_uring_sq_ready(&t->ring))
		io_uring_submit(&t->ring);
	do {
		if (iothread_completion_pending(t) || t->poll_fn(t->poll_opaque, false)) {
			atomic_fetch_add_explicit(&t->poll_hits, 1, memory_order_relaxed);
			return true;
		}
		__builtin_ia32_pause();
		now = iothread_now_ns();
	} while (now - start < t->poll_ns);
	if (t->poll_fn(t->poll_opaque, true) || iothread_completion_pending(t)) {
		atomic_fetch_add_explicit(&t->poll_hits, 1, memory_order_relaxed);
		return true;
	}
	atomic_fetch_add_explicit(&t->poll_misses, 1, memory_order_relaxed);
	return false;
}

/* Adapt the poll window to how long the thread just slept. */
static void iothread_adapt_poll_window(struct iothread *t, uint64_t slept_ns)
{
	if (slept_ns < t->poll_max_ns) {
		uint64_t grown = t->poll_ns ? 2 * t->poll_ns : 1000;

		t->poll_ns = grown > t->poll_max_ns ? t->poll_max_ns : grown;
	} else {
		t->poll_ns = t->poll_ns / 2 < t->poll_min_ns ? t->poll_min_ns : t->poll_ns / 2;
	}
}

/*
 * Hand the queued SQEs to the kernel and wait for at least one completion,
 * unless busy-polling found work (then only submit).  0, or the -errno of
 * io_uring_enter.
 */
static int iothread_submit_and_wait(struct iothread *t)
{
	uint64_t start;
	int ret;

	if (t->poll_fn && !t->stopping && iothread_poll_before_sleep(t)) {
		/* Submit, and run pending completion work without waiting. */
		ret = io_uring_submit_and_get_events(&t->ring);
		return ret < 0 ? ret : 0;
	}
	start = t->poll_fn ? iothread_now_ns() : 0;
	ret = io_uring_submit_and_wait(&t->ring, 1);
	atomic_fetch_add_explicit(&t->sleeps, 1, memory_order_relaxed);
	if (t->poll_fn)
		iothread_adapt_poll_window(t, iothread_now_ns() - start);
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
	t->poll_ns = t->poll_max_ns;
	for (unsigned int i = 0; i < t->nr_watches; i++)
		if (!t->watches[i].readable)
			iothread_arm_watch(&t->watches[i], WATCH_READING);
	while (!t->stopping || t->inflight) {
		int ret = iothread_submit_and_wait(t);

		if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
			log_error("%s: io_uring_enter: %s", t->name, strerror(-ret));
			break;
		}
		atomic_fetch_add_explicit(&t->loops, 1, memory_order_relaxed);
		iothread_run_completions(t);
	}
	threads_exit_self();
	return NULL;
}

struct iothread *iothread_create(const char *name, unsigned int ring_entries)
{
	struct iothread *t = calloc(1, sizeof(*t));
	struct io_uring_params p;
	int ret;

	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->cancel_op.done = iothread_noop_done;
	t->placement = iothread_default_placement;
	/* COOP_TASKRUN: completions are processed when this thread enters
	 * the kernel anyway, no need for interrupting IPIs. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	ret = io_uring_queue_init_params(ring_entries, &t->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(ring_entries, &t->ring, &p);
	}
	if (ret < 0) {
		free(t);
		errno = -ret;
		return NULL;
	}
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

void iothread_set_default_affinity(const cpu_set_t *cpus, iothread_fn on_error, void *opaque)
{
	iothread_default_placement = (struct iothread_placement){
	    .set = cpus != NULL, .on_error = on_error, .opaque = opaque};
	if (cpus)
		iothread_default_placement.cpus = *cpus;
}

int iothread_start(struct iothread *t)
{
	int ret;

	if (t->running)
		return 0;
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
}

void iothread_report_stats(const struct iothread *t, struct json_object *device)
{
	struct iothread_stats st;
	struct json_object *o = json_object_new_object();

	iothread_get_stats(t, &st);
	json_object_object_add(o, "loops", json_object_new_uint64(st.loops));
	json_object_object_add(o, "completions", json_object_new_uint64(st.completions));
	json_object_object_add(o, "submitted", json_object_new_uint64(st.submitted));
	json_object_object_add(o, "eventfd_signals", json_object_new_uint64(st.eventfd_signals));
	json_object_object_add(o, "sleeps", json_object_new_uint64(st.sleeps));
	json_object_object_add(o, "poll_hits", json_object_new_uint64(st.poll_hits));
	json_object_object_add(o, "poll_misses", json_object_new_uint64(st.poll_misses));
	json_object_object_add(device, "io_thread", o);
}
