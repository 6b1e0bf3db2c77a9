/* TEST_ASSERT's failure reports, for both runtimes: the message, then test_exit(RT_EXIT_FAIL). */
#include <rt.h>

void rt_assert_failed(const char *file, int line, const char *expr)
{
	printf("assertion failed: %s:%d: %s\n", file, line, expr);
	test_exit(RT_EXIT_FAIL);
}

void rt_assert_eq_failed(const char *file, int line, const char *a, const char *b, uint64_t va,
			 uint64_t vb)
{
	printf("assertion failed: %s:%d: %s == %s (0x%lx != 0x%lx)\n", file, line, a, b, va, vb);
	test_exit(RT_EXIT_FAIL);
}
