/*
 * Host CPU lists in the notation of taskset -c, cpuset.cpus and the
 * Cpus_allowed_list line of /proc/PID/status: "0", "0-3", "0,2-3".
 */
#ifndef MINIVMM_CPU_LIST_H
#define MINIVMM_CPU_LIST_H

#include <sched.h>
#include <stddef.h>

/* Room for any formatted list: the longest, pairs of CPUs with one-CPU gaps
 * ("0-1,3-4,..."), takes under 2,700 characters for CPU_SETSIZE 1024. */
#define CPU_LIST_MAX 4096

/*
 * Parse the len bytes at s (no NUL needed): comma-separated entries, each a
 * CPU number N or a range N-M (N <= M), all below CPU_SETSIZE; duplicates
 * are harmless.  0 with the set in out, or -1 with out untouched and why
 * holding one line naming the bad entry (an empty list, an empty entry,
 * something that is not a number or range, a backward range, a CPU number
 * of CPU_SETSIZE or more).
 */
int cpu_list_parse(const char *s, size_t len, cpu_set_t *out, char *why, size_t whylen);

/*
 * Format set as the shortest such list ("0,2-3"; "" for the empty set)
 * into buf, truncated to size.  Returns the full length, as snprintf does.
 */
size_t cpu_list_format(const cpu_set_t *set, char *buf, size_t size);

#endif
