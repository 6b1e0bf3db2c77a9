/*
 * An I/O thread driven by one io_uring: the data path of a device
 * (virtio-blk, virtio-net, the e1000's receive side) runs here, off the
 * vCPU threads.
 *
 * The loop: submit every queued SQE and wait for at least one completion
 * (one io_uring_enter), run the completion callbacks of everything that
 * completed, then run the batch hooks (where devices publish used rings and
 * raise at most one interrupt per batch), and repeat.
 *
 * Eventfds (virtqueue kicks) are read through the ring, so a kick costs no
 * extra system call.  Readable watches (an io_uring poll on a tap) and
 * timers (an io_uring timeout) are armed from inside the thread, one shot
 * at a time.  Any other operation is queued with iothread_get_sqe() from
 * inside the thread (callbacks and hooks).
 *
 * Lifecycle: create, add watches and hooks, start; stop() (from any other
 * thread) waits until every operation in flight has completed and the
 * thread has exited, after which start() may be called again.  The ring,
 * the watches and the timers survive stop/start (readable watches and
 * timers come back unarmed).
 *
 * Least privilege: io_uring performs its operations inside the kernel,
 * where seccomp does not see them, so each ring is locked down to what its
 * device needs.  The ring is created disabled; before the first start a
 * device registers the files it will use (iothread_register_file) and the
 * operations it will submit (iothread_allow_op).  iothread_seal() (or the
 * first start) hands the kernel the file table and the restrictions and
 * enables the ring: from then on every SQE must name a registered file by
 * its index (IOSQE_FIXED_FILE, iothread_sqe_fixed) and use an allowed
 * opcode, else it completes with -EACCES; the only register operation left
 * is unregistering the files (on destroy).  The thread's own files (the
 * watched fds) and operations (READ, POLL_ADD, ASYNC_CANCEL, and TIMEOUT
 * once it has a timer) are registered and allowed automatically.
 */
#ifndef MINIVMM_IOTHREAD_H
#define MINIVMM_IOTHREAD_H

#include <liburing.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

struct iothread;

/*
 * An operation in flight: embed it in the request it belongs to.  done runs
 * in the I/O thread with the CQE's res and flags; for multishot operations
 * it runs once per CQE (IORING_CQE_F_MORE set on all but the last).
 */
struct iothread_op {
	void (*done)(struct iothread_op *op, int res, uint32_t cqe_flags);
};

typedef void (*iothread_fn)(void *opaque);

/*
 * ring_entries: submission queue size (power of two).  NULL with errno set
 * (EOPNOTSUPP, logged, where the kernel cannot restrict a ring: before
 * Linux 5.10).
 */
struct iothread *iothread_create(const char *name, unsigned int ring_entries);
void iothread_destroy(struct iothread *t); /* stops it first */

/*
 * Before the ring is sealed: fd joins the ring's file table.  Returns its
 * index (>= 0), the fd argument of every SQE on it (with
 * iothread_sqe_fixed()); the same fd registered twice has one index.
 * -EINVAL (bad fd), -EBUSY (sealed), -ENOSPC (table full).  The ring holds
 * its own reference to the file until iothread_destroy().
 */
int iothread_register_file(struct iothread *t, int fd);

/*
 * Before the ring is sealed: allow SQEs with this IORING_OP_* opcode.
 * 0, -EINVAL (not an opcode) or -EBUSY (sealed).
 */
int iothread_allow_op(struct iothread *t, unsigned int opcode);

/*
 * Register the files and the restrictions with the kernel and enable the
 * ring; after it nothing can be added (watches, timers, files, opcodes).
 * The first iothread_start() does it if nobody did; a device calls it at
 * the end of its set-up so that a refusal shows there and the
 * io_uring_register calls stay in the thread that creates devices.  0
 * (also when sealed already) or -errno, logged.
 */
int iothread_seal(struct iothread *t);

/*
 * Call after io_uring_prep_*() (which clears the flags) on every SQE: the
 * prep's fd argument is an index from iothread_register_file(); operations
 * without a file ignore it, but the ring requires the flag on all SQEs.
 */
static inline void iothread_sqe_fixed(struct io_uring_sqe *sqe)
{
	sqe->flags |= IOSQE_FIXED_FILE;
}

/* Before iothread_start(): call fn(opaque) in the thread whenever fd (an
 * eventfd) is signalled; the counter is consumed.  0 or -errno. */
int iothread_watch_eventfd(struct iothread *t, int fd, iothread_fn fn, void *opaque);

/*
 * Before iothread_start(): a watch on fd's readability (a tap, a socket),
 * off until armed.  Returns its id (>= 0) for iothread_arm_readable(), or
 * -EINVAL (running, no room, bad fd, no fn).
 */
int iothread_watch_readable(struct iothread *t, int fd, iothread_fn fn, void *opaque);

/*
 * Like iothread_watch_readable(), but fn runs only when the peer of socket
 * fd hangs up (POLLRDHUP; errors and POLLHUP are always reported): a watch
 * that does not wake for data another thread will read.  The thread arms it
 * itself as it starts (no iothread_arm_readable() from outside, which would
 * race with the thread's own submissions); it is one-shot like the others.
 */
int iothread_watch_hangup(struct iothread *t, int fd, iothread_fn fn, void *opaque);

/*
 * In the I/O thread: call the watch's fn(opaque) once, when its fd is next
 * readable (or has an error or hang-up to report; fn finds out by reading).
 * One-shot: fn arms it again to keep watching, so a device that has no room
 * for what the fd holds simply leaves it unarmed.  Arming an armed watch,
 * or arming while stopping, does nothing.  Stop cancels an armed watch.
 * Returns whether the watch is armed: false while stopping, for a bad id,
 * or when the ring takes no more submissions (logged).
 */
bool iothread_arm_readable(struct iothread *t, int id);

/*
 * Before iothread_start(): a one-shot timer, off until armed.  Returns its
 * id (>= 0) for iothread_arm_timer(), or -EINVAL (running, no room, no fn).
 */
int iothread_add_timer(struct iothread *t, iothread_fn fn, void *opaque);

/* The clock timers run on (CLOCK_MONOTONIC), in ns. */
uint64_t iothread_now_ns(void);

/*
 * In the I/O thread: call the timer's fn(opaque) once, delay_ns from now
 * (CLOCK_MONOTONIC).  If it is armed already it fires at the earlier of the
 * two times: it is a "wake me by then", and fn re-checks whatever it
 * waits for and arms again if that is not due yet.  Stop cancels it.
 */
void iothread_arm_timer(struct iothread *t, int id, uint64_t delay_ns);

/* Before iothread_start(): call fn(opaque) after every batch of completions. */
int iothread_add_batch_hook(struct iothread *t, iothread_fn fn, void *opaque);

/*
 * Before iothread_start(): busy-poll before sleeping.  Instead of sleeping
 * for completions at once, the thread first calls fn(opaque, false)
 * repeatedly for up to a poll window, stopping early when a completion
 * arrives or fn returns true (it found work and queued it).  When the window
 * ends without either, fn(opaque, true) runs once: the device re-arms its
 * notifications and returns true if work arrived meanwhile (then the thread
 * does not sleep).  The window adapts between min_ns and max_ns, starting
 * at max_ns: it grows when a sleep turns out shorter than max_ns (a longer
 * poll would have avoided it); it shrinks when a sleep longer than max_ns
 * is ended by a watch (an eventfd kick, a readable fd: the guest or peer
 * was idle).  Long sleeps that only the device's own operations end (a slow
 * disk) leave it alone.  Never polls while stopping.  One poll function per
 * thread; 0 or -EINVAL.
 */
typedef bool (*iothread_poll_fn)(void *opaque, bool about_to_sleep);
int iothread_set_poll(struct iothread *t, iothread_poll_fn fn, void *opaque, unsigned int min_ns,
		      unsigned int max_ns);

/*
 * In the poll function (fn(opaque, false)): end the current window after
 * this call (the about-to-sleep call follows).  For a device that is
 * waiting for its own I/O and has told the guest nothing new since it last
 * found work: the guest has nothing to answer, so polling would only burn
 * CPU until the completion wakes the thread anyway, and a thread that spins
 * there looks CPU-bound to the scheduler, which then makes it wait for its
 * CPU after every wake-up.  The window's length and adaptation are
 * unaffected.
 */
void iothread_end_poll_window(struct iothread *t);

/*
 * The host CPUs of every I/O thread created from now on; NULL (the
 * default): not placed, threads keep the affinity they inherit.  Each
 * thread moves itself there each time it starts, before it takes any work
 * or names itself.  If the kernel refuses (the CPUs left the process's
 * cpuset meanwhile), the thread logs it, calls on_error(opaque) (which is
 * to stop the VM) and runs unplaced.  Not thread-safe: the machine layer
 * calls it once, before creating the devices.
 */
void iothread_set_default_affinity(const cpu_set_t *cpus, iothread_fn on_error, void *opaque);

/* Seals the ring first if needed (iothread_seal).  0 or -errno. */
int iothread_start(struct iothread *t);

/* Ask the thread to stop, wait for all operations in flight, join it. */
void iothread_stop(struct iothread *t);

/* In the I/O thread: true once stop was requested (don't start new work). */
bool iothread_stopping(const struct iothread *t);

/*
 * In the I/O thread: an SQE whose completion calls op->done.  Submits what
 * is queued when the ring is full, so it only fails (NULL) if the kernel
 * refuses to take SQEs.
 */
struct io_uring_sqe *iothread_get_sqe(struct iothread *t, struct iothread_op *op);

/* Operations submitted or queued and not yet completed (I/O thread only). */
unsigned int iothread_inflight(const struct iothread *t);

/* Counters for --stats. */
struct iothread_stats {
	unsigned long loops; /* io_uring_enter round trips */
	unsigned long completions;
	unsigned long submitted;
	unsigned long eventfd_signals; /* eventfd reads that returned a count */
	unsigned long sleeps;	       /* loops that blocked in io_uring_enter */
	unsigned long poll_hits;       /* poll windows that found work or a completion */
	unsigned long poll_misses;     /* poll windows that ended in a sleep */
	unsigned long poll_window_ns;  /* gauge: the current poll window (0: no poll fn) */
};
void iothread_get_stats(const struct iothread *t, struct iothread_stats *out);

struct json_object;

/* The counters above as an "io_thread" object in a device's --stats report. */
void iothread_report_stats(const struct iothread *t, struct json_object *device);

/*
 * st as that "io_thread" object in device; without the poll_window_ns gauge
 * when with_gauges is false (a sum over several threads has none).
 */
void iothread_stats_to_json(const struct iothread_stats *st, bool with_gauges,
			    struct json_object *device);

#endif
