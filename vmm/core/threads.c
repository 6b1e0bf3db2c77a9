#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "text_file.h"

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_usage threads[THREADS_MAX];
static unsigned int nr_threads;
static _Atomic(threads_start_hook) start_hook;

const char *thread_role_name(enum thread_role role)
{
	static const char *const names[] = {
	    [THREAD_MAIN] = "main",
	    [THREAD_VCPU] = "vcpu",
	    [THREAD_IO] = "io",
	    [THREAD_CONSOLE] = "console",
	};

	return (unsigned int)role < sizeof(names) / sizeof(names[0]) ? names[role] : "other";
}

/*
 * A slot for a new thread: a free one, else the oldest ended thread's (a
 * long-running process that creates and ends many threads keeps the live
 * ones).  NULL when every slot holds a live thread.
 */
static struct thread_usage *threads_new_slot(void)
{
	if (nr_threads < THREADS_MAX)
		return &threads[nr_threads++];
	for (unsigned int i = 0; i < THREADS_MAX; i++)
		if (threads[i].exited) {
			memmove(&threads[i], &threads[i + 1],
				(THREADS_MAX - i - 1) * sizeof(threads[0]));
			return &threads[THREADS_MAX - 1];
		}
	return NULL;
}

void threads_register_self(const char *name, enum thread_role role)
{
	struct thread_usage *u;
	threads_start_hook hook;
	char comm[16];

	/* The kernel keeps 15 bytes of a thread name (longer ones are refused). */
	snprintf(comm, sizeof(comm), "%s", name);
	pthread_setname_np(pthread_self(), comm);
	pthread_mutex_lock(&threads_lock);
	u = threads_new_slot();
	if (u) {
		memset(u, 0, sizeof(*u));
		memcpy(u->name, comm, sizeof(u->name));
		u->role = role;
		u->tid = gettid();
	}
	pthread_mutex_unlock(&threads_lock);
	hook = atomic_load(&start_hook);
	if (hook)
		hook(comm, role);
}

void threads_set_start_hook(threads_start_hook hook)
{
	atomic_store(&start_hook, hook);
}

void threads_exit_self(void)
{
	pid_t tid = gettid();
	struct thread_usage final;
	bool valid = threads_read_usage(tid, &final);

	pthread_mutex_lock(&threads_lock);
	for (unsigned int i = 0; i < nr_threads; i++) {
		struct thread_usage *u = &threads[i];

		if (u->tid == tid && !u->exited) {
			if (valid) {
				final.role = u->role;
				memcpy(final.name, u->name, sizeof(final.name));
				*u = final;
			}
			u->exited = true;
			break;
		}
	}
	pthread_mutex_unlock(&threads_lock);
}

/* A small /proc file of thread tid into buf; false if unreadable or empty. */
static bool threads_read_file(pid_t tid, const char *file, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, file);
	return text_file_read(path, buf, size) > 0;
}

/* "Key:\tN" in a /proc status text. */
static uint64_t threads_status_field(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	unsigned long long v = 0;

	if (p)
		sscanf(p + strlen(key), ": %llu", &v);
	return v;
}

/*
 * utime and stime (fields 14 and 15) and processor (39) of /proc/.../stat.
 * The command (field 2) may hold spaces and parentheses: fields are
 * counted from the last ')'.
 */
static bool threads_parse_stat(const char *stat, struct thread_usage *u)
{
	const char *p = strrchr(stat, ')');
	unsigned long long utime = 0, stime = 0;
	long ticks = sysconf(_SC_CLK_TCK);
	int cpu = -1;

	if (!p || ticks <= 0)
		return false;
	/* After ')': field 3 (state) onwards. */
	if (sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d %d",
		   &utime, &stime, &cpu) != 3)
		return false;
	u->user_us = utime * 1000000ULL / (unsigned long long)ticks;
	u->system_us = stime * 1000000ULL / (unsigned long long)ticks;
	u->last_cpu = cpu;
	return true;
}

bool threads_read_usage(pid_t tid, struct thread_usage *u)
{
	char buf[4096];
	unsigned long long ns = 0;

	memset(u, 0, sizeof(*u));
	u->tid = tid;
	u->last_cpu = -1;
	if (!threads_read_file(tid, "schedstat", buf, sizeof(buf)) || sscanf(buf, "%llu", &ns) != 1)
		return false;
	u->cpu_ns = ns;
	if (!threads_read_file(tid, "stat", buf, sizeof(buf)) || !threads_parse_stat(buf, u))
		return false;
	if (!threads_read_file(tid, "status", buf, sizeof(buf)))
		return false;
	u->voluntary_switches = threads_status_field(buf, "\nvoluntary_ctxt_switches");
	u->involuntary_switches = threads_status_field(buf, "\nnonvoluntary_ctxt_switches");
	if (sched_getaffinity(tid, sizeof(u->allowed), &u->allowed) < 0)
		CPU_ZERO(&u->allowed);
	u->valid = true;
	return true;
}

unsigned int threads_snapshot(struct thread_usage *out, unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&threads_lock);
	n = nr_threads < max ? nr_threads : max;
	memcpy(out, threads, n * sizeof(*out));
	pthread_mutex_unlock(&threads_lock);
	/* Live threads are read outside the lock: /proc reads take a while. */
	for (unsigned int i = 0; i < n; i++) {
		struct thread_usage now;

		if (out[i].exited)
			continue;
		if (threads_read_usage(out[i].tid, &now)) {
			now.role = out[i].role;
			memcpy(now.name, out[i].name, sizeof(now.name));
			out[i] = now;
		}
	}
	return n;
}

void threads_reset(void)
{
	pthread_mutex_lock(&threads_lock);
	nr_threads = 0;
	pthread_mutex_unlock(&threads_lock);
}
