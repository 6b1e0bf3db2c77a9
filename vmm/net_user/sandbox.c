#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define NET_USER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NET_USER_SANITIZER 1
#endif
#endif
#ifndef NET_USER_SANITIZER
#define NET_USER_SANITIZER 0
#endif

/* Calls allowed whatever their arguments. */
static const int net_user_allowed[] = {
    /* memory, time, signals, the end */
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(readv),
    SCMP_SYS(close),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(mremap),
    SCMP_SYS(brk),
    SCMP_SYS(futex),
    SCMP_SYS(getrandom),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(sched_yield),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    /* /etc/resolv.conf (read-only opens: below), when the guest asks 10.0.2.3 */
    SCMP_SYS(newfstatat),
    SCMP_SYS(fstat),
    SCMP_SYS(lseek),
    SCMP_SYS(statx),
    /* libslirp's sockets: TCP connections and UDP for the guest, ICMP echo,
     * the forwards' listening sockets, and its frames on the pair */
    SCMP_SYS(connect),
    SCMP_SYS(accept),
    SCMP_SYS(accept4),
    SCMP_SYS(bind),
    SCMP_SYS(listen),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(shutdown),
    SCMP_SYS(fcntl),
};

/* Only in sanitizer builds: a report's symbolizer and LeakSanitizer's tracer. */
static const int net_user_sanitizer_allowed[] = {
    SCMP_SYS(clone),	    SCMP_SYS(execve),	SCMP_SYS(wait4),
    SCMP_SYS(ptrace),	    SCMP_SYS(prctl),	SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigaction), SCMP_SYS(readlink), SCMP_SYS(pipe2),
    SCMP_SYS(dup2),	    SCMP_SYS(getppid),	SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getdents64),   SCMP_SYS(kill),	SCMP_SYS(tgkill),
    SCMP_SYS(prlimit64),    SCMP_SYS(open),
};

/* One line naming the call, then the end (async-signal-safe: write only). */
static void net_user_sigsys(int sig, siginfo_t *si, void *ctx)
{
	static const char head[] = "minivmm-net-user: seccomp: forbidden system call ";
	char num[16];
	int n = si->si_syscall, i = (int)sizeof(num);

	(void)sig;
	(void)ctx;
	num[--i] = '\n';
	do {
		num[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n && i > 0);
	if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0 ||
	    write(STDERR_FILENO, num + i, sizeof(num) - (size_t)i) < 0)
		_exit(NET_USER_SECCOMP_STATUS);
	_exit(NET_USER_SECCOMP_STATUS);
}

static int net_user_rules(scmp_filter_ctx ctx)
{
	int ret = 0;

	for (size_t i = 0; i < sizeof(net_user_allowed) / sizeof(net_user_allowed[0]) && !ret; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, net_user_allowed[i], 0);
	for (size_t i = 0;
	     NET_USER_SANITIZER && !ret &&
	     i < sizeof(net_user_sanitizer_allowed) / sizeof(net_user_sanitizer_allowed[0]);
	     i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, net_user_sanitizer_allowed[i], 0);
	/* IPv4 sockets only (libslirp runs without IPv6 here). */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_INET));
	/* Opening files read-only (resolv.conf, glib's look at /proc). */
	if (!ret)
		ret = seccomp_rule_add(
		    ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, 0));
	/* libslirp's ioctlsocket(): bytes waiting, non-blocking mode. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, FIONBIO));
	return ret;
}

int net_user_sandbox(char *err, unsigned long errlen)
{
	struct sigaction sa = {.sa_sigaction = net_user_sigsys, .sa_flags = SA_SIGINFO};
	scmp_filter_ctx ctx;
	int ret;

	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(err, errlen, "seccomp: SIGSYS handler: %s", strerror(errno));
		return -1;
	}
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, errlen, "seccomp: cannot create a filter");
		return -1;
	}
	ret = net_user_rules(ctx);
	if (!ret)
		ret = seccomp_load(ctx); /* sets no_new_privs first */
	seccomp_release(ctx);
	if (ret) {
		snprintf(err, errlen, "seccomp: cannot install the filter: %s", strerror(-ret));
		return -1;
	}
	return 0;
}
