/*
 * Scaffolding the unit tests share: a suite is written as lists of tests
 * instead of a run of tcase_add_test() calls, and temporary files are made
 * in one way.  (The fake VM of device tests is fake_vm.h.)
 */
#ifndef MINIVMM_TEST_HELPERS_H
#define MINIVMM_TEST_HELPERS_H

#include <check.h>
#include <stddef.h>

/* A NULL-terminated list of START_TEST names: UNIT_TESTS(test_a, test_b). */
#define UNIT_TESTS(...) ((const TTest *const[]){__VA_ARGS__, NULL})

/*
 * Adds a tcase to s holding tests (a UNIT_TESTS list), each run once; with a
 * checked fixture (run around every test) unless setup and teardown are both
 * NULL.  Returns the tcase, for loop tests or a timeout.
 */
TCase *unit_tcase(Suite *s, const char *name, SFun setup, SFun teardown, const TTest *const *tests);

/* Adds each of tests as a loop test: run with _i = 0 .. loops - 1. */
void unit_loop_tests(TCase *tc, int loops, const TTest *const *tests);

/* The common suite: one tcase, named like the suite. */
Suite *unit_suite(const char *name, SFun setup, SFun teardown, const TTest *const *tests);

/*
 * Creates /tmp/minivmm-TAG-XXXXXX (the test fails if it cannot) and returns
 * its descriptor; the name goes to path (size bytes).  The caller unlinks it.
 */
int unit_temp_file(const char *tag, char *path, size_t size);

/* The same in dir, for a test that needs a particular file system. */
int unit_temp_file_in(const char *dir, const char *tag, char *path, size_t size);

/*
 * Sends stderr to a temporary file until unit_stderr_lines(), which puts it
 * back and returns how many lines were written meanwhile (for tests of what
 * a guest can make minivmm log).
 */
void unit_stderr_capture(void);
unsigned int unit_stderr_lines(void);

#endif
