#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool log_verbose;

/* The last error line, for log_last_error(); any thread may log one. */
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[1024 + 256]; /* log_line's text and log_errno's suffix */

static void log_remember_error(const char *text, const char *suffix)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(last_error, sizeof(last_error), "%s%s", text, suffix);
	pthread_mutex_unlock(&last_error_lock);
}

void log_last_error(char *buf, size_t size)
{
	if (!size)
		return;
	pthread_mutex_lock(&last_error_lock);
	snprintf(buf, size, "%s", last_error);
	pthread_mutex_unlock(&last_error_lock);
}

/* Formats and prints one line; remember: it is an error for log_last_error(). */
static void log_line(const char *prefix, const char *suffix, bool remember, const char *fmt,
		     va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One fprintf call keeps lines from different threads whole. */
	fprintf(stderr, "minivmm: %s%s%s\n", prefix, buf, suffix);
	if (remember)
		log_remember_error(buf, suffix);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("", "", false, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_line("", "", false, fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("error: ", "", true, fmt, ap);
	va_end(ap);
}

void log_errno(const char *fmt, ...)
{
	char suffix[256];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	log_line("error: ", suffix, true, fmt, ap);
	va_end(ap);
}

void log_guest_error(struct log_budget *budget, const char *fmt, ...)
{
	unsigned int n = atomic_load_explicit(&budget->used, memory_order_relaxed);
	va_list ap;

	/* Stop counting past the budget, so that the count cannot wrap. */
	if (n <= LOG_GUEST_ERRORS)
		n = atomic_fetch_add_explicit(&budget->used, 1, memory_order_relaxed);
	if (n >= LOG_GUEST_ERRORS && !log_verbose)
		return;
	va_start(ap, fmt);
	log_line(n < LOG_GUEST_ERRORS ? "error: " : "", "", false, fmt, ap);
	va_end(ap);
	if (n + 1 == LOG_GUEST_ERRORS)
		log_info("(further errors like these from this device: with --verbose only)");
}
