#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

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
