#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

TCase *unit_tcase(Suite *s, const char *name, SFun setup, SFun teardown, const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
	return tc;
}

void unit_loop_tests(TCase *tc, int loops, const TTest *const *tests)
{
	for (; *tests; tests++)
		tcase_add_loop_test(tc, *tests, 0, loops);
}

Suite *unit_suite(const char *name, SFun setup, SFun teardown, const TTest *const *tests)
{
	Suite *s = suite_create(name);

	unit_tcase(s, name, setup, teardown, tests);
	return s;
}

int unit_temp_file_in(const char *dir, const char *tag, char *path, size_t size)
{
	int fd;

	ck_assert_int_lt(snprintf(path, size, "%s/minivmm-%s-XXXXXX", dir, tag), (int)size);
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s failed", path);
	return fd;
}

int unit_temp_file(const char *tag, char *path, size_t size)
{
	return unit_temp_file_in("/tmp", tag, path, size);
}

static int unit_saved_stderr = -1;
static int unit_captured_stderr = -1;

void unit_stderr_capture(void)
{
	char path[64];

	ck_assert_int_lt(unit_saved_stderr, 0);
	unit_captured_stderr = unit_temp_file("stderr", path, sizeof(path));
	unlink(path);
	fflush(stderr);
	unit_saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(unit_saved_stderr, 0);
	ck_assert_int_ge(dup2(unit_captured_stderr, STDERR_FILENO), 0);
}

unsigned int unit_stderr_lines(void)
{
	unsigned int lines = 0;
	char buf[4096];
	ssize_t n;

	ck_assert_int_ge(unit_saved_stderr, 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(unit_saved_stderr, STDERR_FILENO), 0);
	close(unit_saved_stderr);
	unit_saved_stderr = -1;
	ck_assert_int_eq(lseek(unit_captured_stderr, 0, SEEK_SET), 0);
	while ((n = read(unit_captured_stderr, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(unit_captured_stderr);
	unit_captured_stderr = -1;
	return lines;
}
