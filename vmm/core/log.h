/* Logging: one line per message on stderr, prefixed with "minivmm: ". */
#ifndef MINIVMM_LOG_H
#define MINIVMM_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

extern bool log_verbose;

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like log_error, with ": strerror(errno)" appended. */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Errors a guest can cause as often as it likes (a refused register write):
 * the first LOG_GUEST_ERRORS lines through one budget are errors, then one
 * line says the rest go to debug level, so a guest cannot flood stderr.
 * A budget starts zeroed; one per device.
 */
#define LOG_GUEST_ERRORS 10
struct log_budget {
	atomic_uint used;
};
void log_guest_error(struct log_budget *budget, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The text of the last log_error/log_errno line (without "minivmm: error: "),
 * or "" if none: the reason minivmm's final line gives for an error
 * (vm_describe_stop).  Guest-caused errors (log_guest_error) do not count:
 * they never stop minivmm.  Always NUL-terminates buf.
 */
void log_last_error(char *buf, size_t size);

#endif
