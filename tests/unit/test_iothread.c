/*
 * The I/O thread's busy-poll hook: argument checks, work found while
 * polling is submitted without sleeping, and the about-to-sleep call comes
 * before every sleep.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
	io_uring_prep_nop(iothread_get_sqe(s->t, &s->nop));
	return true;
}

static void no_op(void *opaque)
{
	(void)opaque;
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

Suite *iothread_suite(void)
{
	Suite *suite = suite_create("iothread");
	TCase *tc = tcase_create("poll");

	tcase_add_test(tc, set_poll_rejects_bad_arguments);
	tcase_add_test(tc, work_found_while_polling_is_run_then_thread_sleeps);
	suite_add_tcase(suite, tc);
	return suite;
}
