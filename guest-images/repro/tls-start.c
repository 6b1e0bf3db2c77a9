/*
 * tls-start: the program the process-start reproducer execs back to back
 * (guest-images/repro/, docs/compat.md).  A static glibc program whose first
 * libc call, strtol(), reads the locale pointer from thread-local storage
 * that glibc's start-up has just set up.  On the affected hosts a fresh
 * process now and then finds that TLS reading back as zeros and dies with
 * "segfault at 0" or "at 8" before main() returns.
 *
 *   tls-start [NUMBER]   exit 0 if NUMBER (default 7) parses to 7 and the
 *                        initialised TLS variable has its value; 3 if that
 *                        variable reads back as anything else (TLS lost
 *                        without a crash)
 *   tls-start --crash    dies of SIGSEGV (self-test of the reproducer:
 *                        boot with repro.arg=--crash)
 *   tls-start --check    long-lived checker: re-reads its TLS every
 *                        REPRO_CHECK_MS (environment, default 200) ms until
 *                        SIGTERM, then prints one REPRO-CHECKER line; exit 0
 *                        if the TLS never changed, 4 otherwise
 */
#define _GNU_SOURCE
#include <locale.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MARKER 0x6d696e69766d6dL /* "minivmm" */

/* Initialised (.tdata): glibc's start-up copies it into the new TLS block. */
static __thread volatile long tls_marker = MARKER;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int check(void)
{
	struct timespec pause = {0, 200 * 1000000L};
	const char *ms = getenv("REPRO_CHECK_MS");
	locale_t loc = uselocale((locale_t)0); /* the TLS locale pointer */
	unsigned long checks = 0, bad = 0;
	int first_cpu = sched_getcpu(), cpu, moves = 0;

	if (ms)
		pause.tv_nsec = strtol(ms, NULL, 10) % 1000 * 1000000L;
	signal(SIGTERM, on_term);
	while (!stop) {
		checks++;
		if (tls_marker != MARKER || uselocale((locale_t)0) != loc)
			bad++;
		cpu = sched_getcpu();
		if (cpu != first_cpu) {
			moves++;
			first_cpu = cpu;
		}
		nanosleep(&pause, NULL);
	}
	printf("REPRO-CHECKER pid=%d cpu=%d checks=%lu bad=%lu cpu_moves=%d\n", (int)getpid(),
	       sched_getcpu(), checks, bad, moves);
	fflush(stdout);
	return bad ? 4 : 0;
}

int main(int argc, char **argv)
{
	long v = strtol(argc > 1 ? argv[1] : "7", NULL, 10);

	if (argc > 1 && strcmp(argv[1], "--check") == 0)
		return check();
	if (argc > 1 && strcmp(argv[1], "--crash") == 0)
		raise(SIGSEGV); /* the reproducer's self-test: a death it must report */
	if (tls_marker != MARKER)
		return 3;
	return v == 7 ? 0 : 2;
}
