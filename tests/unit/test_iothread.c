/*
 * The I/O thread: the busy-poll hook (argument checks, work found while
 * polling is submitted without sleeping, the about-to-sleep call comes
 * before every sleep, how the window adapts), one-shot readable watches and timers, and the
 * ring's restrictions (only registered files, only allowed opcodes).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "iothread.h"

struct poll_state {
	struct iothread *t;
	struct iothread_op nop;
	int nops_to_queue; /* I/O thread only */
	atomic_int nops_done;
	atomic_int sleep_calls;
	int sleep_fd; /* signalled at each about-to-sleep call once all nops are done */
};

static void nop_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct poll_state *s = (struct poll_state *)((char *)op - offsetof(struct poll_state, nop));

	(void)flags;
	if (res == 0)
		atomic_fetch_add(&s->nops_done, 1);
}

/* Finds one unit of work (a NOP) per call until nops_to_queue runs out. */
static bool poll_fn(void *opaque, bool about_to_sleep)
{
	struct poll_state *s = opaque;
	struct io_uring_sqe *sqe;
	uint64_t one = 1;

	if (about_to_sleep) {
		atomic_fetch_add(&s->sleep_calls, 1);
		if (atomic_load(&s->nops_done) == 3)
			ck_assert_int_eq(write(s->sleep_fd, &one, sizeof(one)), sizeof(one));
		return false;
	}
	if (s->nops_to_queue == 0)
		return false;
	s->nops_to_queue--;
	sqe = iothread_get_sqe(s->t, &s->nop);
	io_uring_prep_nop(sqe);
	iothread_sqe_fixed(sqe);
	return true;
}

static void no_op(void *opaque)
{
	(void)opaque;
}

static void kick(int fd)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
}

START_TEST(set_poll_rejects_bad_arguments)
{
	struct poll_state s = {0};
	struct iothread *t = iothread_create("test-io", 8);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(iothread_set_poll(t, NULL, &s, 0, 1000), -EINVAL);
	ck_assert_int_eq(iothread_set_poll(t, poll_fn, &s, 2000, 1000), -EINVAL);
	ck_assert_int_eq(iothread_set_poll(t, poll_fn, &s, 0, 0), -EINVAL);
	ck_assert_int_eq(iothread_set_poll(t, poll_fn, &s, 0, 1000), 0);
	ck_assert_int_eq(iothread_set_poll(t, poll_fn, &s, 0, 1000), -EINVAL); /* only one */
	iothread_destroy(t);

	t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(iothread_start(t), 0);
	ck_assert_int_eq(iothread_set_poll(t, poll_fn, &s, 0, 1000), -EINVAL); /* running */
	iothread_destroy(t);
}
END_TEST

START_TEST(work_found_while_polling_is_run_then_thread_sleeps)
{
	struct poll_state s = {.nops_to_queue = 3, .nop.done = nop_done};
	struct iothread_stats st;
	uint64_t v;

	s.sleep_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s.sleep_fd, 0);
	s.t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s.t);
	ck_assert_int_eq(iothread_allow_op(s.t, IORING_OP_NOP), 0);
	ck_assert_int_eq(iothread_add_batch_hook(s.t, no_op, NULL), 0);
	ck_assert_int_eq(iothread_set_poll(s.t, poll_fn, &s, 1000, 20000), 0);
	ck_assert_int_eq(iothread_start(s.t), 0);
	/* Blocks until the thread is about to sleep with all three done. */
	ck_assert_int_eq(read(s.sleep_fd, &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(atomic_load(&s.nops_done), 3);
	iothread_stop(s.t);
	iothread_get_stats(s.t, &st);
	ck_assert_uint_ge(st.poll_hits, 3); /* each NOP was found by a poll */
	ck_assert_int_ge(atomic_load(&s.sleep_calls), 1);
	ck_assert_uint_ge(st.sleeps, 1);
	/* A poll window ends in a sleep only after the about-to-sleep call. */
	ck_assert_uint_ge((unsigned long)atomic_load(&s.sleep_calls), st.poll_misses);
	ck_assert_uint_ge(st.completions, 3);
	iothread_destroy(s.t);
	close(s.sleep_fd);
}
END_TEST

/*
 * The poll window's adaptation.  The test thread paces the I/O thread: it
 * waits for each about-to-sleep call (the thread is going to sleep), then
 * waits SLOW_MS, far longer than any window, before it ends the sleep,
 * either with a device operation's completion (a byte into the pipe the
 * thread reads) or with a kick (an eventfd watch).
 */
#define WINDOW_MIN_NS 1000
#define WINDOW_MAX_NS 20000
#define SLOW_MS	      5

struct window_state {
	struct iothread *t;
	struct iothread_op read_op;
	int pipe_file;	     /* the pipe's read end in the ring's file table */
	char byte;	     /* where the reads land */
	bool read_in_flight; /* I/O thread only */
	atomic_int reads_to_queue;
	atomic_int reads_done;
	int sleeping_fd; /* signalled at each about-to-sleep call */
};

static void window_read_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct window_state *s =
	    (struct window_state *)((char *)op - offsetof(struct window_state, read_op));

	(void)flags;
	ck_assert_int_eq(res, 1);
	s->read_in_flight = false;
	atomic_fetch_add(&s->reads_done, 1);
}

static bool window_poll(void *opaque, bool about_to_sleep)
{
	struct window_state *s = opaque;
	struct io_uring_sqe *sqe;

	if (about_to_sleep) {
		kick(s->sleeping_fd);
		return false;
	}
	if (s->read_in_flight || atomic_load(&s->reads_to_queue) == 0)
		return false;
	atomic_fetch_sub(&s->reads_to_queue, 1);
	sqe = iothread_get_sqe(s->t, &s->read_op);
	io_uring_prep_read(sqe, s->pipe_file, &s->byte, 1, 0);
	iothread_sqe_fixed(sqe);
	s->read_in_flight = true;
	return true;
}

/* Block until the I/O thread is about to sleep. */
static void wait_sleeping(struct window_state *s)
{
	uint64_t v;

	ck_assert_int_eq(read(s->sleeping_fd, &v, sizeof(v)), sizeof(v));
}

static unsigned long window_ns(struct window_state *s)
{
	struct iothread_stats st;

	iothread_get_stats(s->t, &st);
	return st.poll_window_ns;
}

/*
 * A device operation that takes milliseconds (a disk read) keeps the
 * thread asleep far longer than the window, but says nothing about how
 * soon the guest answers: the window stays where it is (here at its
 * maximum, where it starts), where four halvings would take it to 1250 ns.
 */
START_TEST(slow_device_operations_leave_the_poll_window_alone)
{
	struct window_state s = {.read_op.done = window_read_done};
	int pipefd[2];

	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	s.sleeping_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s.sleeping_fd, 0);
	s.t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s.t);
	s.pipe_file = iothread_register_file(s.t, pipefd[0]);
	ck_assert_int_ge(s.pipe_file, 0);
	ck_assert_int_eq(iothread_set_poll(s.t, window_poll, &s, WINDOW_MIN_NS, WINDOW_MAX_NS), 0);
	atomic_store(&s.reads_to_queue, 4);
	ck_assert_int_eq(iothread_start(s.t), 0);
	for (int i = 0; i < 4; i++) {
		wait_sleeping(&s); /* read i is in flight */
		poll(NULL, 0, SLOW_MS);
		ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
	}
	wait_sleeping(&s);
	ck_assert_int_eq(atomic_load(&s.reads_done), 4);
	ck_assert_uint_eq(window_ns(&s), WINDOW_MAX_NS);
	iothread_destroy(s.t);
	close(pipefd[0]);
	close(pipefd[1]);
	close(s.sleeping_fd);
}
END_TEST

/* Kicks that come long after the window closed (an idle guest) shrink it to its minimum. */
START_TEST(late_kicks_shrink_the_poll_window)
{
	struct window_state s = {.read_op.done = window_read_done};
	int kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ck_assert_int_ge(kick_fd, 0);
	s.sleeping_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s.sleeping_fd, 0);
	s.t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s.t);
	ck_assert_int_eq(iothread_watch_eventfd(s.t, kick_fd, no_op, NULL), 0);
	ck_assert_int_eq(iothread_set_poll(s.t, window_poll, &s, WINDOW_MIN_NS, WINDOW_MAX_NS), 0);
	ck_assert_int_eq(iothread_start(s.t), 0);
	/* 20000 -> 10000 -> 5000 -> 2500 -> 1250 -> 1000 (the minimum). */
	for (int i = 0; i < 5; i++) {
		wait_sleeping(&s);
		poll(NULL, 0, SLOW_MS);
		kick(kick_fd);
	}
	wait_sleeping(&s);
	ck_assert_uint_eq(window_ns(&s), WINDOW_MIN_NS);
	iothread_destroy(s.t);
	close(kick_fd);
	close(s.sleeping_fd);
}
END_TEST

static atomic_long brief_polls; /* fn(opaque, false) calls before the first sleep */

/* Ends every window at its first call. */
static bool brief_poll(void *opaque, bool about_to_sleep)
{
	struct window_state *s = opaque;

	if (about_to_sleep) {
		kick(s->sleeping_fd);
		return false;
	}
	atomic_fetch_add(&brief_polls, 1);
	iothread_end_poll_window(s->t);
	return false;
}

/*
 * A poll function that ends the window is called once before the thread
 * sleeps, not for the whole window (here 4 s: tens of millions of calls).
 */
START_TEST(end_poll_window_sleeps_after_one_call)
{
	struct window_state s = {0};
	long polls;

	atomic_store(&brief_polls, 0);
	s.sleeping_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s.sleeping_fd, 0);
	s.t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s.t);
	ck_assert_int_eq(iothread_set_poll(s.t, brief_poll, &s, 1000, 4000000000u), 0);
	ck_assert_int_eq(iothread_start(s.t), 0);
	wait_sleeping(&s);
	polls = atomic_load(&brief_polls);
	ck_assert_int_eq(polls, 1);
	/* The window itself did not change. */
	ck_assert_uint_eq(window_ns(&s), 4000000000u);
	iothread_destroy(s.t);
	close(s.sleeping_fd);
}
END_TEST

/* ---- readable watches and timers ---- */

/*
 * Driven from the I/O thread: each signal on kick_fd runs on_kick, which
 * arms what the test asked for (arming is for the I/O thread only).
 */
struct arm_state {
	struct iothread *t;
	int kick_fd, done_fd;
	int watch, timer;
	/* Set by the test between kicks, read by the I/O thread. */
	atomic_int arm_watch_times; /* on_kick arms the watch this often */
	atomic_ullong delays_ns[2]; /* on_kick arms the timer with each non-zero delay */
	atomic_int fired;	    /* readable or timer callbacks */
	int sock;		    /* the watched socket's end, drained by on_readable */
};

static void arm_on_kick(void *opaque)
{
	struct arm_state *s = opaque;

	for (int i = 0; i < atomic_load(&s->arm_watch_times); i++)
		iothread_arm_readable(s->t, s->watch);
	for (int i = 0; i < 2; i++) {
		uint64_t delay = atomic_load(&s->delays_ns[i]);

		if (delay)
			iothread_arm_timer(s->t, s->timer, delay);
	}
}

static void signal_done(struct arm_state *s)
{
	uint64_t one = 1;

	atomic_fetch_add(&s->fired, 1);
	ck_assert_int_eq(write(s->done_fd, &one, sizeof(one)), sizeof(one));
}

static void on_readable(void *opaque)
{
	struct arm_state *s = opaque;
	char c;

	ck_assert_int_eq(read(s->sock, &c, 1), 1);
	signal_done(s);
}

static void on_timer(void *opaque)
{
	signal_done(opaque);
}

static uint64_t elapsed_ns(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000000u + (uint64_t)now.tv_nsec -
	       (uint64_t)since->tv_nsec;
}

/* Wait for a callback (done_fd), at most timeout_ms; false on timeout. */
static bool wait_done(struct arm_state *s, int timeout_ms)
{
	struct pollfd p = {.fd = s->done_fd, .events = POLLIN};
	uint64_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	ck_assert_int_eq(read(s->done_fd, &v, sizeof(v)), sizeof(v));
	return true;
}

static void arm_setup(struct arm_state *s, int watched_fd)
{
	s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->done_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s->kick_fd, 0);
	ck_assert_int_ge(s->done_fd, 0);
	s->t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s->t);
	ck_assert_int_eq(iothread_watch_eventfd(s->t, s->kick_fd, arm_on_kick, s), 0);
	s->watch = iothread_watch_readable(s->t, watched_fd, on_readable, s);
	ck_assert_int_ge(s->watch, 0);
	s->timer = iothread_add_timer(s->t, on_timer, s);
	ck_assert_int_ge(s->timer, 0);
	ck_assert_int_eq(iothread_start(s->t), 0);
}

static void arm_teardown(struct arm_state *s)
{
	iothread_destroy(s->t);
	close(s->kick_fd);
	close(s->done_fd);
}

/*
 * Kicks the thread to arm what the test set, gives it 10 ms to do so, and
 * stops it: the stop must not wait for what is armed, so it returns well
 * within 2 s.
 */
static void arm_then_stop_at_once(struct arm_state *s)
{
	struct timespec t0;

	kick(s->kick_fd);
	poll(NULL, 0, 10);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	iothread_stop(s->t);
	ck_assert_uint_lt(elapsed_ns(&t0), 2000000000u);
}

START_TEST(watch_and_timer_reject_bad_arguments)
{
	struct iothread *t = iothread_create("test-io", 8);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(iothread_watch_readable(t, -1, no_op, NULL), -EINVAL);
	ck_assert_int_eq(iothread_watch_readable(t, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(iothread_add_timer(t, NULL, NULL), -EINVAL);
	/* Ids count from 0 per kind (the stop eventfd is watch 0). */
	ck_assert_int_eq(iothread_watch_readable(t, 0, no_op, NULL), 1);
	ck_assert_int_eq(iothread_add_timer(t, no_op, NULL), 0);
	ck_assert_int_eq(iothread_add_timer(t, no_op, NULL), 1);
	ck_assert_int_eq(iothread_add_timer(t, no_op, NULL), -EINVAL); /* full */
	ck_assert_int_eq(iothread_start(t), 0);
	ck_assert_int_eq(iothread_watch_readable(t, 0, no_op, NULL), -EINVAL); /* running */
	ck_assert_int_eq(iothread_add_timer(t, no_op, NULL), -EINVAL);
	iothread_destroy(t);
}
END_TEST

/* One call per arming, however often it is armed; stop cancels an armed watch. */
START_TEST(readable_watch_is_one_shot)
{
	struct arm_state s = {.arm_watch_times = 2};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	s.sock = sv[0];
	arm_setup(&s, sv[0]);
	kick(s.kick_fd);
	ck_assert_int_eq(write(sv[1], "a", 1), 1);
	ck_assert(wait_done(&s, 10000));
	/* Not armed again: a second datagram waits, unseen. */
	ck_assert_int_eq(write(sv[1], "b", 1), 1);
	ck_assert(!wait_done(&s, 50));
	ck_assert_int_eq(atomic_load(&s.fired), 1);
	/* Armed while readable: fires at once. */
	kick(s.kick_fd);
	ck_assert(wait_done(&s, 10000));
	ck_assert(!wait_done(&s, 50)); /* armed twice, called once */
	ck_assert_int_eq(atomic_load(&s.fired), 2);
	/* Armed with nothing to read: stop does not wait for data. */
	atomic_store(&s.arm_watch_times, 1);
	arm_then_stop_at_once(&s);
	ck_assert_int_eq(atomic_load(&s.fired), 2);
	arm_teardown(&s);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void on_hangup(void *opaque)
{
	kick(*(int *)opaque);
}

/* A hang-up watch is armed by the thread itself, ignores data, and fires on the peer's close. */
START_TEST(hangup_watch_fires_on_close_not_on_data)
{
	struct iothread *t = iothread_create("test-io", 8);
	int done = eventfd(0, EFD_CLOEXEC), sv[2];
	struct pollfd p = {.fd = done, .events = POLLIN};

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_ge(iothread_watch_hangup(t, sv[0], on_hangup, &done), 0);
	ck_assert_int_eq(iothread_start(t), 0);
	/* Data for another reader does not wake the watch. */
	ck_assert_int_eq(write(sv[1], "reply", 5), 5);
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	/* No arming from this thread: the close alone is seen. */
	close(sv[1]);
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	iothread_destroy(t);
	close(sv[0]);
	close(done);
}
END_TEST

START_TEST(timer_fires_once_when_due)
{
	struct arm_state s = {.delays_ns = {5000000}};
	struct timespec t0;

	arm_setup(&s, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kick(s.kick_fd);
	ck_assert(wait_done(&s, 10000));
	ck_assert_uint_ge(elapsed_ns(&t0), 5000000);
	ck_assert(!wait_done(&s, 30));
	ck_assert_int_eq(atomic_load(&s.fired), 1);
	arm_teardown(&s);
}
END_TEST

/* Arming an armed timer keeps the earlier deadline, whichever comes first. */
START_TEST(timer_keeps_the_earlier_deadline)
{
	struct arm_state s = {.delays_ns = {60000000000ull, 2000000}};
	struct timespec t0;

	arm_setup(&s, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kick(s.kick_fd); /* 60 s, then 2 ms: moved earlier */
	ck_assert(wait_done(&s, 10000));
	ck_assert_uint_ge(elapsed_ns(&t0), 2000000);
	atomic_store(&s.delays_ns[0], 3000000);
	atomic_store(&s.delays_ns[1], 60000000000ull);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kick(s.kick_fd); /* 3 ms, then 60 s: stays at 3 ms */
	ck_assert(wait_done(&s, 10000));
	ck_assert_uint_ge(elapsed_ns(&t0), 3000000);
	ck_assert_int_eq(atomic_load(&s.fired), 2);
	arm_teardown(&s);
}
END_TEST

/* Stop cancels an armed timer instead of waiting for it. */
START_TEST(stop_cancels_an_armed_timer)
{
	struct arm_state s = {.delays_ns = {60000000000ull}};

	arm_setup(&s, 0);
	arm_then_stop_at_once(&s);
	ck_assert_int_eq(atomic_load(&s.fired), 0);
	/* After a restart the timer works again. */
	atomic_store(&s.delays_ns[0], 1000000);
	ck_assert_int_eq(iothread_start(s.t), 0);
	kick(s.kick_fd);
	ck_assert(wait_done(&s, 10000));
	arm_teardown(&s);
}
END_TEST

/* ---- restrictions ---- */

enum restrict_probe {
	PROBE_ALLOWED,	    /* WRITE (allowed) on the registered eventfd */
	PROBE_NOT_ALLOWED,  /* NOP: never allowed */
	PROBE_RAW_FD,	    /* WRITE on the eventfd's own fd, no IOSQE_FIXED_FILE */
	PROBE_UNREGISTERED, /* WRITE, fixed, on an index nothing was registered at */
	PROBE_OTHER_FILE,   /* WRITE on a file nobody registered (a pipe), by its fd */
	NR_PROBES
};

struct restrict_probe_op {
	struct iothread_op op;
	struct restrict_state *s;
	atomic_int res;
};

struct restrict_state {
	struct iothread *t;
	int kick_fd, done_fd;
	int target_fd, target_index; /* the eventfd the device registered */
	int pipe_fd;		     /* open, but never registered */
	uint64_t value;
	struct restrict_probe_op probes[NR_PROBES];
	atomic_int completed;
};

static void restrict_probe_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct restrict_probe_op *p = (struct restrict_probe_op *)op;
	uint64_t one = 1;

	(void)flags;
	atomic_store(&p->res, res);
	if (atomic_fetch_add(&p->s->completed, 1) + 1 == NR_PROBES)
		ck_assert_int_eq(write(p->s->done_fd, &one, sizeof(one)), sizeof(one));
}

/* In the I/O thread: queue one SQE of each kind. */
static void restrict_queue_probes(void *opaque)
{
	struct restrict_state *s = opaque;

	for (int i = 0; i < NR_PROBES; i++) {
		struct io_uring_sqe *sqe = iothread_get_sqe(s->t, &s->probes[i].op);

		ck_assert_ptr_nonnull(sqe);
		switch (i) {
		case PROBE_ALLOWED:
			io_uring_prep_write(sqe, s->target_index, &s->value, sizeof(s->value), 0);
			iothread_sqe_fixed(sqe);
			break;
		case PROBE_NOT_ALLOWED:
			io_uring_prep_nop(sqe);
			iothread_sqe_fixed(sqe);
			break;
		case PROBE_RAW_FD:
			io_uring_prep_write(sqe, s->target_fd, &s->value, sizeof(s->value), 0);
			break;
		case PROBE_UNREGISTERED:
			io_uring_prep_write(sqe, 15, &s->value, sizeof(s->value), 0);
			iothread_sqe_fixed(sqe);
			break;
		default:
			io_uring_prep_write(sqe, s->pipe_fd, &s->value, sizeof(s->value), 0);
			break;
		}
	}
}

/* Kick the thread, wait for every probe, check each result. */
static void restrict_run_probes(struct restrict_state *s)
{
	struct pollfd p = {.fd = s->done_fd, .events = POLLIN};
	int res[NR_PROBES];
	uint64_t v;

	atomic_store(&s->completed, 0);
	for (int i = 0; i < NR_PROBES; i++)
		atomic_store(&s->probes[i].res, 1);
	kick(s->kick_fd);
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(read(s->done_fd, &v, sizeof(v)), sizeof(v));
	for (int i = 0; i < NR_PROBES; i++)
		res[i] = atomic_load(&s->probes[i].res);
	ck_assert_int_eq(res[PROBE_ALLOWED], sizeof(uint64_t));
	ck_assert_int_eq(res[PROBE_NOT_ALLOWED], -EACCES);
	ck_assert_int_eq(res[PROBE_RAW_FD], -EACCES);
	ck_assert_int_lt(res[PROBE_UNREGISTERED], 0);
	ck_assert_int_eq(res[PROBE_OTHER_FILE], -EACCES);
	/* Only the allowed write reached the eventfd. */
	ck_assert_int_eq(read(s->target_fd, &v, sizeof(v)), sizeof(v));
	ck_assert_uint_eq(v, 7);
}

/*
 * A device that registered one file and allowed WRITE: its writes work,
 * everything else is refused by the kernel, before and after a restart.
 */
START_TEST(ring_runs_only_allowed_ops_on_registered_files)
{
	struct restrict_state s = {.value = 7};
	int pipefd[2];

	s.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.done_fd = eventfd(0, EFD_CLOEXEC);
	s.target_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	s.pipe_fd = pipefd[1];
	for (int i = 0; i < NR_PROBES; i++) {
		s.probes[i].op.done = restrict_probe_done;
		s.probes[i].s = &s;
	}
	s.t = iothread_create("test-io", 8);
	ck_assert_ptr_nonnull(s.t);
	ck_assert_int_eq(iothread_watch_eventfd(s.t, s.kick_fd, restrict_queue_probes, &s), 0);
	s.target_index = iothread_register_file(s.t, s.target_fd);
	ck_assert_int_ge(s.target_index, 0);
	ck_assert_int_eq(iothread_allow_op(s.t, IORING_OP_WRITE), 0);
	ck_assert_int_eq(iothread_start(s.t), 0);
	restrict_run_probes(&s);
	iothread_stop(s.t);
	ck_assert_int_eq(iothread_start(s.t), 0);
	restrict_run_probes(&s);
	iothread_destroy(s.t);
	close(s.kick_fd);
	close(s.done_fd);
	close(s.target_fd);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

START_TEST(files_and_ops_are_declared_before_sealing)
{
	struct iothread *t = iothread_create("test-io", 8);
	int fd = eventfd(0, EFD_CLOEXEC), index;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(iothread_register_file(t, -1), -EINVAL);
	index = iothread_register_file(t, fd);
	ck_assert_int_ge(index, 0);
	ck_assert_int_eq(iothread_register_file(t, fd), index); /* one index per fd */
	ck_assert_int_eq(iothread_allow_op(t, IORING_OP_LAST), -EINVAL);
	ck_assert_int_eq(iothread_allow_op(t, IORING_OP_WRITEV), 0);
	ck_assert_int_eq(iothread_seal(t), 0);
	ck_assert_int_eq(iothread_seal(t), 0); /* once is enough */
	ck_assert_int_eq(iothread_register_file(t, 1), -EBUSY);
	ck_assert_int_eq(iothread_allow_op(t, IORING_OP_READV), -EBUSY);
	ck_assert_int_eq(iothread_watch_eventfd(t, fd, no_op, NULL), -EINVAL);
	ck_assert_int_eq(iothread_add_timer(t, no_op, NULL), -EINVAL);
	ck_assert_int_eq(iothread_start(t), 0);
	iothread_destroy(t);
	close(fd);
}
END_TEST

/* A file that cannot be registered (closed before sealing): start fails, cleanly. */
START_TEST(sealing_refused_fails_the_start)
{
	struct iothread *t = iothread_create("test-io", 8);
	int fd = eventfd(0, EFD_CLOEXEC);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_ge(iothread_register_file(t, fd), 0);
	close(fd);
	ck_assert_int_lt(iothread_start(t), 0);
	iothread_destroy(t);
}
END_TEST

Suite *iothread_suite(void)
{
	Suite *s = suite_create("iothread");

	unit_tcase(s, "poll", NULL, NULL,
		   UNIT_TESTS(set_poll_rejects_bad_arguments,
			      work_found_while_polling_is_run_then_thread_sleeps,
			      slow_device_operations_leave_the_poll_window_alone,
			      late_kicks_shrink_the_poll_window,
			      end_poll_window_sleeps_after_one_call));
	unit_tcase(s, "watches and timers", NULL, NULL,
		   UNIT_TESTS(watch_and_timer_reject_bad_arguments, readable_watch_is_one_shot,
			      hangup_watch_fires_on_close_not_on_data, timer_fires_once_when_due,
			      timer_keeps_the_earlier_deadline, stop_cancels_an_armed_timer));
	unit_tcase(s, "restrictions", NULL, NULL,
		   UNIT_TESTS(ring_runs_only_allowed_ops_on_registered_files,
			      files_and_ops_are_declared_before_sealing,
			      sealing_refused_fails_the_start));
	return s;
}
