/*
 * minivmm's own threads, for per-thread CPU accounting in --stats.
 *
 * Each thread registers itself when it starts and records its final usage
 * when it ends, so that the report still shows the vCPU threads, which are
 * joined before the last report is written.  Usage comes from the thread's
 * /proc/self/task/TID entries: schedstat for CPU time in nanoseconds (exact),
 * stat for the user/system split (in clock ticks), status for context
 * switches.
 */
#ifndef MINIVMM_THREADS_H
#define MINIVMM_THREADS_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum thread_role { THREAD_MAIN, THREAD_VCPU, THREAD_IO, THREAD_CONSOLE };

#define THREADS_MAX 128

struct thread_usage {
	char name[16];
	enum thread_role role;
	pid_t tid;
	bool exited;	  /* figures are the final ones, read as the thread ended */
	bool valid;	  /* false if /proc could not be read */
	uint64_t cpu_ns;  /* on-CPU time (schedstat) */
	uint64_t user_us; /* user/system split, at clock-tick resolution */
	uint64_t system_us;
	uint64_t voluntary_switches;
	uint64_t involuntary_switches;
	int last_cpu;	   /* CPU it last ran on */
	cpu_set_t allowed; /* CPUs it may run on */
};

/*
 * Name the calling thread (shown by top -H and perf), register it, then run
 * the start hook, if one is set.
 */
void threads_register_self(const char *name, enum thread_role role);

/*
 * What every thread registering from now on runs last in
 * threads_register_self(), in that thread (the machine layer installs its
 * seccomp filter there).  NULL: nothing.  Set it before the threads start.
 */
typedef void (*threads_start_hook)(const char *name, enum thread_role role);
void threads_set_start_hook(threads_start_hook hook);

/* Record the calling thread's final usage; call just before it returns. */
void threads_exit_self(void);

/*
 * Usage of every registered thread (live ones read now, ended ones as they
 * ended), in registration order.  Returns how many were written to out.
 */
unsigned int threads_snapshot(struct thread_usage *out, unsigned int max);

/* Read one thread's usage from /proc/self/task/TID.  false if it cannot. */
bool threads_read_usage(pid_t tid, struct thread_usage *u);

const char *thread_role_name(enum thread_role role);

/* Forget every registration (tests). */
void threads_reset(void);

#endif
