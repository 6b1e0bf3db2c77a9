/*
 * What the x86 and arm64 test-guest runtimes (tests/guest/rt/rt.h,
 * tests/guest/arm64/rt/rt.h) declare alike: assertions, the console's
 * printf family and the string helpers, so the shared drivers and
 * rt/format.c, rt/string.c build against either.  Included by each rt.h.
 */
#ifndef RT_COMMON_H
#define RT_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
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

/* ---- the kernel command line (rt/cmdline_words.c; each runtime supplies cmdline()) ---- */

/* The command line is read up to its NUL or this many bytes. */
#define RT_CMDLINE_MAX 4096

const char *cmdline(void);
/*
 * The value of the last `key=value` word on the command line, copied to buf
 * (NUL-terminated, truncated to size).  Returns the value's full length, or
 * -1 if the key is absent.  A bare `key` word has the empty value.
 */
int cmdline_get(const char *key, char *buf, size_t size);
/* Parses the value as a number (decimal, or hex with 0x); false if absent or malformed. */
bool cmdline_get_u64(const char *key, uint64_t *val);
/*
 * For the benchmark guests' options: key=N within [min, max] into *val; an
 * absent key leaves *val as it is.  False, after printing "bench: KEY must
 * be a number from MIN to MAX", if the key is there but is not such a number.
 */
bool cmdline_get_u64_in(const char *key, uint64_t min, uint64_t max, uint64_t *val);
/* Calls fn for each whitespace-separated word (no quoting; test guests don't need it). */
void cmdline_for_each_word(void (*fn)(const char *w, size_t n, void *ctx), void *ctx);
/* Decimal or 0x hex; *end points past it; false on no digits or overflow. */
bool parse_number(const char *s, uint64_t *val, const char **end);
/* Linux's memparse: number with optional K/M/G suffix; *end points past it. */
bool parse_size(const char *s, uint64_t *val, const char **end);
/* The value of a hex digit (either case); 99, more than any base, for other characters. */
int digit_value(char c);

#endif
