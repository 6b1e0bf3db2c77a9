/*
 * seccomp filters per thread kind.
 *
 * Every thread of minivmm puts itself under the filter of its kind as it
 * registers (threads_register_self() calls vmm_seccomp_install_self()
 * through its start hook); the main thread does so itself once the VM is
 * set up and its threads are started, because setting up needs far more
 * than running.  The filters allow what strace shows each kind doing in the
 * integration tests (docs/security.md lists them) and trap everything else.
 *
 * Filters stack, and a thread inherits its creator's: the intersection of
 * all of them applies.  virtio devices stop their I/O thread on a device
 * reset and start a new one on DRIVER_OK, both from the vCPU thread that
 * wrote Status, so an I/O thread of a virtio device runs under the vCPU
 * filter and then its own.  The vCPU filter therefore also allows what an
 * I/O thread does (KIND_VCPU_AND_IO below) and what creating a thread takes;
 * the I/O filter stays the narrow one.  (Having the main thread create every
 * I/O thread would lift that, at the cost of a round trip on each reset.)
 *
 * Sanitizer builds: LeakSanitizer checks for leaks at exit from the main
 * thread by cloning a tracer that ptraces every thread, and a sanitizer
 * report may start a symbolizer.  When built with ASan (detected at compile
 * time) every filter also allows those calls (sanitizer_rules[]).
 */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SECCOMP_SANITIZER 1
#endif
#endif
#ifndef SECCOMP_SANITIZER
#define SECCOMP_SANITIZER 0
#endif

#define KIND_MAIN    BIT(THREAD_MAIN)
#define KIND_VCPU    BIT(THREAD_VCPU)
#define KIND_IO	     BIT(THREAD_IO)
#define KIND_CONSOLE BIT(THREAD_CONSOLE)
#define KIND_ALL     (KIND_MAIN | KIND_VCPU | KIND_IO | KIND_CONSOLE)
/* What an I/O thread does: also allowed to vCPU threads, which may create one (and to main). */
#define KIND_VCPU_AND_IO (KIND_MAIN | KIND_VCPU | KIND_IO)
/* Creating a thread: main creates them all at start, a vCPU on a virtio reset. */
#define KIND_CREATORS (KIND_MAIN | KIND_VCPU)

#define SECCOMP_KINDS 4

/* One allowed system call, for the thread kinds in kinds, if its arguments match. */
struct seccomp_rule {
	int nr;
	uint64_t kinds;
	unsigned int nr_args;
	struct scmp_arg_cmp args[2];
};

// clang-format off
#define ALLOW(name, kinds_) {SCMP_SYS(name), (kinds_), 0, {{0}}}
#define ALLOW_IF(name, kinds_, a, op_, x) \
	{SCMP_SYS(name), (kinds_), 1, {{.arg = (a), .op = (op_), .datum_a = (x)}}}
#define ALLOW_IF_MASKED(name, kinds_, a, mask, value) \
	{SCMP_SYS(name), (kinds_), 1, \
	 {{.arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (mask), .datum_b = (value)}}}
#define ALLOW_IF2(name, kinds_, a, x, b, y) \
	{SCMP_SYS(name), (kinds_), 2, \
	 {{.arg = (a), .op = SCMP_CMP_EQ, .datum_a = (x)}, \
	  {.arg = (b), .op = SCMP_CMP_EQ, .datum_a = (y)}}}
// clang-format on

/* Opening for writing or creating: only the main thread (the --stats report). */
#define OPEN_WRITE_FLAGS (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)

static const struct seccomp_rule seccomp_rules[] = {
    /* Every thread: memory, locks, signals, time, its own end. */
    ALLOW(read, KIND_ALL),
    ALLOW(write, KIND_ALL),
    ALLOW(close, KIND_ALL),
    ALLOW(futex, KIND_ALL),
    ALLOW(mmap, KIND_ALL),
    ALLOW(mprotect, KIND_ALL),
    ALLOW(munmap, KIND_ALL),
    ALLOW(madvise, KIND_ALL),
    ALLOW(brk, KIND_ALL),
    ALLOW(mremap, KIND_ALL),
    ALLOW(getrandom, KIND_ALL),
    ALLOW(rt_sigprocmask, KIND_ALL),
    ALLOW(rt_sigreturn, KIND_ALL),
    ALLOW(restart_syscall, KIND_ALL),
    ALLOW(gettid, KIND_ALL),
    ALLOW(getpid, KIND_ALL),
    ALLOW(clock_gettime, KIND_ALL),
    ALLOW(clock_nanosleep, KIND_ALL),
    ALLOW(nanosleep, KIND_ALL),
    ALLOW(sched_yield, KIND_ALL),
    ALLOW(sched_getaffinity, KIND_ALL),
    ALLOW(poll, KIND_ALL),
    ALLOW(ppoll, KIND_ALL),
    ALLOW(exit, KIND_ALL),
    ALLOW(exit_group, KIND_ALL),
    /* Threads read their own /proc/self/task/TID files as they end (--stats). */
    ALLOW_IF_MASKED(openat, KIND_ALL, 2, OPEN_WRITE_FLAGS, 0),
    ALLOW(newfstatat, KIND_ALL),
    ALLOW(fstat, KIND_ALL),
    ALLOW(lseek, KIND_ALL),
    /* Naming itself; a thread created by a filtered one installs its own filter. */
    ALLOW_IF(prctl, KIND_ALL, 0, SCMP_CMP_EQ, PR_SET_NAME),
    ALLOW_IF(prctl, KIND_ALL, 0, SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS),
    ALLOW_IF(seccomp, KIND_ALL, 0, SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
    /* Restoring the terminal, also from the SIGSYS handler (console_restore()). */
    ALLOW_IF2(ioctl, KIND_ALL, 0, STDIN_FILENO, 1, TCSETS),

    /* Threads that create threads, and what a new thread does before it registers. */
    ALLOW_IF_MASKED(clone, KIND_CREATORS, 0, CLONE_THREAD, CLONE_THREAD),
    ALLOW(set_robust_list, KIND_ALL),
    ALLOW(rseq, KIND_ALL),
    ALLOW(sched_setaffinity, KIND_VCPU_AND_IO),

    /* Console input raises the UART's interrupt line (vm_set_irq()). */
    ALLOW_IF(ioctl, KIND_CONSOLE, 1, SCMP_CMP_EQ, KVM_IRQ_LINE),

    /* vCPU threads: KVM_RUN and device emulation (eventfd kicks, tap offloads). */
    ALLOW(ioctl, KIND_MAIN | KIND_VCPU_AND_IO),

    /* I/O threads: io_uring, the sync disk engine, tap frames. */
    ALLOW(io_uring_enter, KIND_VCPU_AND_IO),
    /* Rings are registered and locked at device creation, before any
     * filter; tear-down unregisters their files (iothread_destroy()). */
    ALLOW_IF(io_uring_register, KIND_MAIN, 1, SCMP_CMP_EQ, IORING_UNREGISTER_FILES),
    ALLOW(preadv, KIND_VCPU_AND_IO),
    ALLOW(pwritev, KIND_VCPU_AND_IO),
    ALLOW(pread64, KIND_VCPU_AND_IO),
    ALLOW(pwrite64, KIND_VCPU_AND_IO),
    ALLOW(fdatasync, KIND_VCPU_AND_IO),
    ALLOW(fsync, KIND_VCPU_AND_IO),
    ALLOW(fallocate, KIND_VCPU_AND_IO),
    ALLOW(readv, KIND_VCPU_AND_IO),
    ALLOW(writev, KIND_VCPU_AND_IO),

    /* vhost-user: the vCPU thread (DRIVER_OK, reset) and the main thread
     * (tear-down) talk to the back-end on the socket connected at creation. */
    ALLOW(sendmsg, KIND_CREATORS),
    ALLOW(recvmsg, KIND_CREATORS),

    /* The main thread: signals, the --stats report, stopping the threads. */
    ALLOW(openat, KIND_MAIN),
    ALLOW(rename, KIND_MAIN),
    ALLOW(renameat, KIND_MAIN),
    ALLOW(renameat2, KIND_MAIN),
    ALLOW(unlink, KIND_MAIN),
    ALLOW(unlinkat, KIND_MAIN),
    ALLOW(fchmod, KIND_MAIN),
    ALLOW(ftruncate, KIND_MAIN),
    ALLOW(getdents64, KIND_MAIN),
    ALLOW(getrusage, KIND_MAIN),
    ALLOW(sysinfo, KIND_MAIN),
    ALLOW(uname, KIND_MAIN),
    ALLOW(statx, KIND_MAIN),
    ALLOW(rt_sigaction, KIND_MAIN),
    ALLOW(fcntl, KIND_MAIN),
    ALLOW(dup, KIND_MAIN),
    /* The control socket (--api-socket): its listening socket is made before any filter. */
    ALLOW(accept4, KIND_MAIN),
};

/*
 * LeakSanitizer's tracer (clone without CLONE_THREAD, ptrace, waitpid), the
 * sanitizers' alternate signal stacks and their symbolizer.  Only in
 * sanitizer builds, which exist to test.
 */
static const struct seccomp_rule sanitizer_rules[] = {
    ALLOW(clone, KIND_ALL),
    ALLOW(vfork, KIND_ALL),
    ALLOW(fork, KIND_ALL),
    ALLOW(execve, KIND_ALL),
    ALLOW(wait4, KIND_ALL),
    ALLOW(waitid, KIND_ALL),
    ALLOW(ptrace, KIND_ALL),
    ALLOW(prctl, KIND_ALL),
    ALLOW(sigaltstack, KIND_ALL),
    ALLOW(getdents64, KIND_ALL),
    ALLOW(rt_sigaction, KIND_ALL),
    ALLOW(kill, KIND_ALL),
    ALLOW(tgkill, KIND_ALL),
    ALLOW(readlink, KIND_ALL),
    ALLOW(readlinkat, KIND_ALL),
    ALLOW(pipe2, KIND_ALL),
    ALLOW(dup2, KIND_ALL),
    ALLOW(dup3, KIND_ALL),
    ALLOW(getppid, KIND_ALL),
    ALLOW(fcntl, KIND_ALL),
    ALLOW(process_vm_readv, KIND_ALL),
    ALLOW(sched_getparam, KIND_ALL),
    ALLOW(getrlimit, KIND_ALL),
    ALLOW(prlimit64, KIND_ALL),
    ALLOW(setrlimit, KIND_ALL),
    ALLOW(getdents, KIND_ALL),
    ALLOW(stat, KIND_ALL),
    ALLOW(lstat, KIND_ALL),
    ALLOW(access, KIND_ALL),
    ALLOW(tkill, KIND_ALL),
    /* The sanitizers' runtime opens files (/proc/self/task, maps) with open(2). */
    ALLOW_IF_MASKED(open, KIND_ALL, 1, OPEN_WRITE_FLAGS, 0),
};

/*
 * The programs.  vmm_seccomp_prepare_start() builds the vCPU filter, the
 * only one needed before the first KVM_RUN; vmm_seccomp_prepare_rest() the
 * others.  A thread whose filter is not built yet waits for it in
 * vmm_seccomp_install_self() (a console or I/O thread started early), so
 * none runs unfiltered.
 */
static struct sock_fprog seccomp_programs[SECCOMP_KINDS];
static bool seccomp_prepared;
static pthread_mutex_t seccomp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seccomp_built_cond = PTHREAD_COND_INITIALIZER;
static bool seccomp_built[SECCOMP_KINDS]; /* under seccomp_lock */
static bool seccomp_failed;		  /* under seccomp_lock */

/*
 * System call names for the SIGSYS handler, looked up while building the
 * filters: libseccomp's lookup allocates and is no use in a signal handler.
 * Filled by vmm_seccomp_prepare_rest(); a call trapped before that is
 * reported by number.
 */
#define SECCOMP_NAMES_MAX 512
static char seccomp_names[SECCOMP_NAMES_MAX][24];

/* The calling thread's name and kind, for the log line. */
static _Thread_local char seccomp_thread_name[16];
static _Thread_local int seccomp_thread_role = -1;

static const char *seccomp_kind_name(int role)
{
	switch (role) {
	case THREAD_MAIN:
		return "main";
	case THREAD_VCPU:
		return "vCPU";
	case THREAD_IO:
		return "I/O";
	case THREAD_CONSOLE:
		return "console";
	}
	return "not yet registered, under its creator's filter";
}

/* Appends s to buf (size bytes, *len used), cutting it short if need be. */
static void seccomp_append(char *buf, size_t size, size_t *len, const char *s)
{
	while (*s && *len + 1 < size)
		buf[(*len)++] = *s++;
}

static void seccomp_append_uint(char *buf, size_t size, size_t *len, unsigned int v)
{
	char digits[12];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && *len + 1 < size)
		buf[(*len)++] = digits[--n];
}

/* Async-signal-safe: only write(2), console_restore() and _exit(2). */
static void seccomp_on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < SECCOMP_NAMES_MAX && seccomp_names[nr][0]
			       ? seccomp_names[nr]
			       : "unknown";
	char line[384];
	size_t len = 0;
	ssize_t w;

	(void)sig;
	(void)ucontext;
	seccomp_append(line, sizeof(line), &len, "minivmm: seccomp: thread ");
	seccomp_append(line, sizeof(line), &len,
		       seccomp_thread_name[0] ? seccomp_thread_name : "(unnamed)");
	seccomp_append(line, sizeof(line), &len, " (");
	seccomp_append(line, sizeof(line), &len, seccomp_kind_name(seccomp_thread_role));
	seccomp_append(line, sizeof(line), &len, ") made a forbidden system call: ");
	seccomp_append(line, sizeof(line), &len, name);
	seccomp_append(line, sizeof(line), &len, " (");
	seccomp_append_uint(line, sizeof(line), &len, (unsigned int)nr);
	seccomp_append(line, sizeof(line), &len, "); stopping\n");
	/* The final line every ending has (docs/usage.md "Exit statuses"). */
	seccomp_append(line, sizeof(line), &len, "minivmm: stopped: forbidden system call ");
	seccomp_append(line, sizeof(line), &len, name);
	seccomp_append(line, sizeof(line), &len, "; exit status ");
	seccomp_append_uint(line, sizeof(line), &len, EXIT_STATUS_SECCOMP);
	seccomp_append(line, sizeof(line), &len, "\n");
	w = write(STDERR_FILENO, line, len);
	(void)w;
	console_restore();
	_exit(EXIT_STATUS_SECCOMP);
}

static int seccomp_add_rules(scmp_filter_ctx ctx, uint64_t kind, const struct seccomp_rule *rules,
			     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret;

		if (!(rules[i].kinds & kind))
			continue;
		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, rules[i].nr, rules[i].nr_args,
					     rules[i].args);
		if (ret < 0) {
			char *name =
			    seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, rules[i].nr);

			log_error("seccomp: cannot add a rule for %s: %s", name ? name : "?",
				  strerror(-ret));
			free(name);
			return -1;
		}
	}
	return 0;
}

/* The rules every kind shares that need values known only at run time. */
static int seccomp_add_runtime_rules(scmp_filter_ctx ctx)
{
	/* glibc's thread creation tries clone3 first and falls back to clone on ENOSYS. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		return -1;
	/* abort() and raise() signal the calling thread; main kicks vCPUs with pthread_kill. */
	const struct scmp_arg_cmp own_pid = {
	    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)getpid(), .datum_b = 0};

	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, own_pid) < 0)
		return -1;
	return 0;
}

/* The BPF libseccomp generates for ctx, read back through a memfd. */
static int seccomp_export(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("minivmm-seccomp", MFD_CLOEXEC);
	struct stat st;
	void *buf = NULL;
	int ret = -1;

	if (fd < 0) {
		log_errno("seccomp: memfd_create");
		return -1;
	}
	if (seccomp_export_bpf(ctx, fd) < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size % sizeof(struct sock_filter) != 0) {
		log_error("seccomp: cannot export the filter");
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		log_error("seccomp: cannot read the filter back");
		free(buf);
		goto out;
	}
	prog->filter = buf;
	prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	ret = 0;
out:
	close(fd);
	return ret;
}

static int seccomp_build(enum thread_role role, struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	uint64_t kind = BIT(role);
	int ret = -1;

	if (!ctx) {
		log_error("seccomp: cannot create a filter");
		return -1;
	}
	/* The threads set no_new_privs themselves, just before loading. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
		goto out;
	if (seccomp_add_rules(ctx, kind, seccomp_rules, ARRAY_SIZE(seccomp_rules)) < 0)
		goto out;
	if (SECCOMP_SANITIZER &&
	    seccomp_add_rules(ctx, kind, sanitizer_rules, ARRAY_SIZE(sanitizer_rules)) < 0)
		goto out;
	if (seccomp_add_runtime_rules(ctx) < 0) {
		log_error("seccomp: cannot add the clone3/tgkill rules");
		goto out;
	}
	ret = seccomp_export(ctx, prog);
out:
	seccomp_release(ctx);
	return ret;
}

/* Marks role's filter built (or the build failed) and wakes its waiters. */
static void seccomp_publish(int role, bool ok)
{
	pthread_mutex_lock(&seccomp_lock);
	if (ok)
		seccomp_built[role] = true;
	else
		seccomp_failed = true;
	pthread_cond_broadcast(&seccomp_built_cond);
	pthread_mutex_unlock(&seccomp_lock);
}

int vmm_seccomp_prepare_start(void)
{
	struct sigaction sa = {.sa_sigaction = seccomp_on_sigsys, .sa_flags = SA_SIGINFO};

	if (seccomp_prepared)
		return 0;
	if (seccomp_build(THREAD_VCPU, &seccomp_programs[THREAD_VCPU]) < 0)
		return -1;
	seccomp_publish(THREAD_VCPU, true);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		log_errno("seccomp: sigaction(SIGSYS)");
		return -1;
	}
	seccomp_prepared = true;
	return 0;
}

int vmm_seccomp_prepare_rest(void)
{
	if (!seccomp_prepared)
		return 0;
	for (int nr = 0; nr < SECCOMP_NAMES_MAX; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name)
			strncpy(seccomp_names[nr], name, sizeof(seccomp_names[nr]) - 1);
		free(name);
	}
	for (int role = 0; role < SECCOMP_KINDS; role++) {
		bool ok;

		if (role == THREAD_VCPU || seccomp_programs[role].filter)
			continue;
		ok = seccomp_build((enum thread_role)role, &seccomp_programs[role]) == 0;
		seccomp_publish(role, ok);
		if (!ok)
			return -1;
	}
	return 0;
}

int vmm_seccomp_prepare(void)
{
	if (vmm_seccomp_prepare_start() < 0)
		return -1;
	return vmm_seccomp_prepare_rest();
}

/* Until role's filter is built: false if building it failed. */
static bool seccomp_wait_built(int role)
{
	bool ok;

	pthread_mutex_lock(&seccomp_lock);
	while (!seccomp_built[role] && !seccomp_failed)
		pthread_cond_wait(&seccomp_built_cond, &seccomp_lock);
	ok = seccomp_built[role];
	pthread_mutex_unlock(&seccomp_lock);
	return ok;
}

/*
 * A thread that cannot get its filter must not run unfiltered: the whole
 * process ends, with the final line main() would have printed.
 */
static _Noreturn void seccomp_thread_cannot_start(void)
{
	char why[1024];

	vm_describe_error(EXIT_STATUS_ERROR, why, sizeof(why));
	log_info("stopped: %s", why);
	console_restore();
	_exit(EXIT_STATUS_ERROR);
}

void vmm_seccomp_install_self(const char *name, enum thread_role role)
{
	sigset_t sys;

	if (!seccomp_prepared)
		return;
	snprintf(seccomp_thread_name, sizeof(seccomp_thread_name), "%s", name);
	seccomp_thread_role = (int)role;
	if ((unsigned int)role >= SECCOMP_KINDS) {
		log_error("seccomp: thread %s: no filter for thread kind %d", name, (int)role);
		seccomp_thread_cannot_start();
	}
	if (!seccomp_wait_built((int)role)) {
		log_error("seccomp: thread %s: its filter could not be built", name);
		seccomp_thread_cannot_start();
	}
	/* A blocked SIGSYS would kill the process without the log line. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &seccomp_programs[role]) < 0) {
		log_errno("seccomp: thread %s: cannot install the %s filter (--seccomp=off runs "
			  "without filters)",
			  name, seccomp_kind_name((int)role));
		seccomp_thread_cannot_start();
	}
}
