/*
 * The test scaffolding itself (helpers.h): a suite built from lists holds
 * every listed test, in its tcase, around its fixture.  Checked by running
 * such a suite in a nested runner and reading its results.
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* Set by the fixture; each inner test runs in its own child, starting from 0. */
static unsigned int fixture_runs;

static void count_setup(void)
{
	fixture_runs++;
}

START_TEST(inner_with_fixture)
{
	ck_assert_uint_eq(fixture_runs, 1);
}
END_TEST

START_TEST(inner_without_fixture)
{
	ck_assert_uint_eq(fixture_runs, 0);
}
END_TEST

START_TEST(inner_fail)
{
	ck_abort_msg("inner failure");
}
END_TEST

START_TEST(inner_loop)
{
	ck_assert_int_lt(_i, 3);
}
END_TEST

/*
 * Check nests one runner inside a test, and only in fork mode: without
 * fork the inner runs would take over the outer test's failure handling.
 */
static bool nesting_possible(void)
{
	const char *fork_env = getenv("CK_FORK");

	return !fork_env || strcmp(fork_env, "no") != 0;
}

static SRunner *run_nested(Suite *s)
{
	SRunner *r = srunner_create(s);

	srunner_set_fork_status(r, CK_FORK);
	srunner_set_log(r, "/dev/null"); /* not the outer run's log files */
	srunner_set_xml(r, "/dev/null");
	srunner_set_tap(r, "/dev/null");
	srunner_run(r, "inner", NULL, CK_SILENT); /* by name: CK_RUN_SUITE is the outer's */
	return r;
}

START_TEST(suite_holds_every_listed_test)
{
	SRunner *r;

	if (!nesting_possible())
		return;
	r = run_nested(unit_suite("inner", NULL, NULL,
				  UNIT_TESTS(inner_without_fixture, inner_fail, inner_fail)));
	ck_assert_int_eq(srunner_ntests_run(r), 3);
	ck_assert_int_eq(srunner_ntests_failed(r), 2);
	srunner_free(r);
}
END_TEST

START_TEST(tcase_runs_its_fixture_around_each_test)
{
	Suite *s;
	SRunner *r;

	if (!nesting_possible())
		return;
	s = suite_create("inner");
	unit_tcase(s, "with-fixture", count_setup, NULL,
		   UNIT_TESTS(inner_with_fixture, inner_with_fixture));
	unit_tcase(s, "without", NULL, NULL, UNIT_TESTS(inner_without_fixture));
	r = run_nested(s);
	ck_assert_int_eq(srunner_ntests_run(r), 3);
	ck_assert_int_eq(srunner_ntests_failed(r), 0);
	srunner_free(r);
}
END_TEST

START_TEST(loop_tests_run_once_per_index)
{
	Suite *s;
	TCase *tc;
	SRunner *r;

	if (!nesting_possible())
		return;
	s = suite_create("inner");
	tc = unit_tcase(s, "loops", NULL, NULL, UNIT_TESTS(inner_fail));
	unit_loop_tests(tc, 3, UNIT_TESTS(inner_loop, inner_loop));
	r = run_nested(s);
	ck_assert_int_eq(srunner_ntests_run(r), 7);
	ck_assert_int_eq(srunner_ntests_failed(r), 1);
	srunner_free(r);
}
END_TEST

/* fd is a private, writable file at path, which starts with prefix; removes it. */
static void check_temp_file(int fd, const char *path, const char *prefix)
{
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(strncmp(path, prefix, strlen(prefix)), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
}

START_TEST(temp_file_is_private_and_named)
{
	char path[64];
	int fd = unit_temp_file("helpers", path, sizeof(path));

	check_temp_file(fd, path, "/tmp/minivmm-helpers-");
	fd = unit_temp_file_in("/var/tmp", "helpers", path, sizeof(path));
	check_temp_file(fd, path, "/var/tmp/minivmm-helpers-");
}
END_TEST

Suite *helpers_suite(void)
{
	Suite *s = suite_create("helpers");
	TCase *tc = unit_tcase(
	    s, "helpers", NULL, NULL,
	    UNIT_TESTS(suite_holds_every_listed_test, tcase_runs_its_fixture_around_each_test,
		       loop_tests_run_once_per_index, temp_file_is_private_and_named));

	/* The nested runners fork a process per inner test: under ASan on a busy
	 * 2-CPU host, seven of them took longer than Check's default 4 s. */
	tcase_set_timeout(tc, 60);
	return s;
}
