/*
 * What the x86 and arm64 test-guest runtimes (tests/guest/rt/rt.h,
 * tests/guest/arm64/rt/rt.h) declare alike: assertions, the console's
 * printf family and the string helpers, so the shared drivers and
 * rt/format.c, rt/string.c build against either.  Included by each rt.h.
 */
#ifndef RT_COMMON_H
#define RT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			rt_assert_failed(__FILE__, __LINE__, #cond);                               \
	} while (0)

/* Compares as uint64_t and prints both values when they differ. */
#define TEST_ASSERT_EQ(a, b)                                                                       \
	do {                                                                                       \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                   \
		if (a_ != b_)                                                                      \
			rt_assert_eq_failed(__FILE__, __LINE__, #a, #b, a_, b_);                   \
	} while (0)

__attribute__((noreturn)) void rt_assert_failed(const char *file, int line, const char *expr);
__attribute__((noreturn)) void rt_assert_eq_failed(const char *file, int line, const char *a,
						   const char *b, uint64_t va, uint64_t vb);

/* ---- console (polled) ---- */

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* One byte from the console UART (the host's input), polled; -1 after timeout_ms. */
int console_getc(uint64_t timeout_ms);
void puts_raw(const char *s);

/* ---- string helpers (the compiler may also emit calls to the mem* ones) ---- */

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
