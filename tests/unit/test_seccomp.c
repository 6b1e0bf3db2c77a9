/*
 * The seccomp filters per thread kind (vmm/seccomp.c): each test runs in a
 * forked child that puts itself under one kind's filter, then either makes
 * calls that kind needs (the child must end normally) or a forbidden one
 * (the child must end with EXIT_STATUS_SECCOMP and one log line naming it).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/seccomp.h"
#include "helpers.h"
#include "threads.h"

/* What a child does once filtered; it returns 0, or the step that failed. */
typedef int (*filtered_fn)(void *arg);

/*
 * Runs fn(arg) in a child under role's filter (named name).  Returns the
 * child's wait status; its stderr goes to err (NUL-terminated).
 */
static int run_filtered(enum thread_role role, const char *name, filtered_fn fn, void *arg,
			char *err, size_t size)
{
	int pipefd[2], status;
	size_t used = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		if (vmm_seccomp_prepare() < 0)
			_exit(100);
		vmm_seccomp_install_self(name, role);
		_exit(fn(arg));
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n = read(pipefd[0], err + used, size - 1 - used);

		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == size - 1)
			break;
	}
	err[used] = '\0';
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_allowed(int status, const char *err)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child ended with status 0x%x (failed step %d); stderr: %s", status,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
}

static void assert_caught(int status, const char *err, const char *line)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_STATUS_SECCOMP,
		      "child ended with status 0x%x, not exit %d; stderr: %s", status,
		      EXIT_STATUS_SECCOMP, err);
	const char *nl = strchr(err, '\n');

	ck_assert_msg(strstr(err, line) != NULL, "stderr lacks '%s': %s", line, err);
	/* Two lines: the call, then the final line every ending has (docs/usage.md). */
	ck_assert_msg(nl && strncmp(nl + 1, "minivmm: stopped: forbidden system call ", 40) == 0 &&
			  strchr(nl + 1, '\n') == strrchr(err, '\n'),
		      "not the call's line and one final line: %s", err);
	ck_assert_msg(strstr(nl + 1, "; exit status 159\n") != NULL,
		      "final line lacks the status: %s", err);
}

static int call_socket(void *arg)
{
	(void)arg;
	socket(AF_INET, SOCK_STREAM, 0);
	return 1; /* not reached: the filter stops the process */
}

/* Each kind refuses socket(2), and the log line names the thread, its kind and the call. */
START_TEST(test_forbidden_call_is_caught)
{
	static const struct {
		enum thread_role role;
		const char *name, *line;
	} kinds[] = {
	    {THREAD_MAIN, "minivmm",
	     "minivmm: seccomp: thread minivmm (main) made a forbidden system call: socket (41); "
	     "stopping\n"},
	    {THREAD_VCPU, "vcpu0",
	     "minivmm: seccomp: thread vcpu0 (vCPU) made a forbidden system call: socket (41); "
	     "stopping\n"},
	    {THREAD_IO, "virtio-blk.0",
	     "minivmm: seccomp: thread virtio-blk.0 (I/O) made a forbidden system call: socket "
	     "(41); stopping\n"},
	    {THREAD_CONSOLE, "console-in",
	     "minivmm: seccomp: thread console-in (console) made a forbidden system call: socket "
	     "(41); stopping\n"},
	};
	char err[1024];
	int status =
	    run_filtered(kinds[_i].role, kinds[_i].name, call_socket, NULL, err, sizeof(err));

	assert_caught(status, err, kinds[_i].line);
}
END_TEST

/* What only the main thread may do: open for writing (the --stats report). */
static int open_for_writing(void *arg)
{
	int fd = open((const char *)arg, O_WRONLY | O_CLOEXEC);

	return fd < 0 ? 1 : 0;
}

START_TEST(test_only_main_opens_for_writing)
{
	char path[64], err[1024];
	int fd = unit_temp_file("seccomp", path, sizeof(path));

	close(fd);
	assert_allowed(
	    run_filtered(THREAD_MAIN, "minivmm", open_for_writing, path, err, sizeof(err)), err);
	assert_caught(run_filtered(THREAD_IO, "e1000.0", open_for_writing, path, err, sizeof(err)),
		      err, "thread e1000.0 (I/O) made a forbidden system call: openat (257)");
	unlink(path);
}
END_TEST

/* The console thread reads stdin and raises the UART's line; no other ioctl. */
static int console_other_ioctl(void *arg)
{
	int n;

	(void)arg;
	ioctl(STDIN_FILENO, FIONREAD, &n);
	return 1;
}

START_TEST(test_console_has_no_general_ioctl)
{
	char err[1024];

	assert_caught(
	    run_filtered(THREAD_CONSOLE, "console-in", console_other_ioctl, NULL, err, sizeof(err)),
	    err, "thread console-in (console) made a forbidden system call: ioctl (16)");
}
END_TEST

/* Descriptors made at set-up, before any thread is filtered (as in minivmm). */
struct device_fds {
	int kick;  /* an eventfd */
	int image; /* a disk image */
};

/* An I/O thread as a virtio device starts it: created by a vCPU thread. */
static void *io_thread(void *arg)
{
	struct device_fds *fds = arg;
	char buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	long ret = 0;

	threads_register_self("virtio-blk.0", THREAD_IO);
	memset(buf, 0x5a, sizeof(buf));
	if (pwritev(fds->image, &iov, 1, 0) != sizeof(buf) ||
	    preadv(fds->image, &iov, 1, 0) != sizeof(buf) || fdatasync(fds->image) < 0 ||
	    fallocate(fds->image, 0, 0, 4096) < 0 || eventfd_write(fds->kick, 1) < 0)
		ret = 2;
	threads_exit_self(); /* reads /proc/self/task/TID */
	return (void *)ret;
}

/*
 * A vCPU thread runs the guest (ioctl), kicks and signals devices (eventfd
 * writes), logs, and on a virtio reset starts an I/O thread that puts
 * itself under the I/O filter too.
 */
static int vcpu_duties(void *arg)
{
	struct device_fds *fds = arg;
	struct timespec ts;
	pthread_t t;
	void *ret;
	eventfd_t v;
	int n;

	if (ioctl(fds->kick, FIONREAD, &n) < 0 && errno != ENOTTY && errno != EINVAL)
		return 2;
	if (eventfd_write(fds->kick, 1) < 0 || eventfd_read(fds->kick, &v) < 0 || v != 1)
		return 3;
	if (write(STDERR_FILENO, "", 0) < 0 || clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 4;
	threads_set_start_hook(vmm_seccomp_install_self);
	if (pthread_create(&t, NULL, io_thread, fds) != 0)
		return 5;
	if (pthread_join(t, &ret) != 0 || ret != NULL)
		return 6;
	if (eventfd_read(fds->kick, &v) < 0 || v != 1)
		return 7;
	return 0;
}

static void *do_nothing(void *arg)
{
	return arg;
}

START_TEST(test_vcpu_allows_its_calls)
{
	struct device_fds fds;
	char err[1024], path[64];
	pthread_t t;

	fds.kick = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(fds.kick, 0);
	fds.image = unit_temp_file("seccomp-img", path, sizeof(path));
	unlink(path);
	/*
	 * glibc installs its setxid signal handler at the first pthread_create;
	 * in minivmm the main thread has started threads before any vCPU does.
	 */
	ck_assert_int_eq(pthread_create(&t, NULL, do_nothing, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	assert_allowed(run_filtered(THREAD_VCPU, "vcpu0", vcpu_duties, &fds, err, sizeof(err)),
		       err);
	close(fds.kick);
	close(fds.image);
}
END_TEST

/* An I/O thread drives its io_uring (created before, by the main thread). */
static int io_uring_duties(void *arg)
{
	struct io_uring *ring = arg;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return 1;
	io_uring_prep_nop(sqe);
	if (io_uring_submit_and_wait(ring, 1) < 0 || io_uring_wait_cqe(ring, &cqe) < 0)
		return 2;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

START_TEST(test_io_allows_io_uring)
{
	struct io_uring ring;
	char err[1024];

	ck_assert_int_eq(io_uring_queue_init(4, &ring, 0), 0);
	assert_allowed(
	    run_filtered(THREAD_IO, "virtio-net.0", io_uring_duties, &ring, err, sizeof(err)), err);
	io_uring_queue_exit(&ring);
}
END_TEST

/* The console thread reads stdin, waits on it, feeds the UART and may stop the VM. */
static int console_pipe_duties(void *arg)
{
	int *p = arg;
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	char c = 'x';

	if (write(p[1], &c, 1) != 1 || poll(&pfd, 1, 1000) != 1 || read(p[0], &c, 1) != 1)
		return 1;
	/* KVM_IRQ_LINE on a descriptor that is no VM fails, but is let through. */
	if (ioctl(p[0], KVM_IRQ_LINE, NULL) == 0)
		return 2;
	return 0;
}

START_TEST(test_console_allows_its_calls)
{
	char err[1024];
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	assert_allowed(
	    run_filtered(THREAD_CONSOLE, "console-in", console_pipe_duties, p, err, sizeof(err)),
	    err);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* glibc tries clone3 first: the filters answer ENOSYS so that it falls back to clone. */
static int clone3_is_enosys(void *arg)
{
	(void)arg;
	return syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS ? 0 : 1;
}

START_TEST(test_clone3_returns_enosys)
{
	char err[1024];

	assert_allowed(
	    run_filtered(THREAD_MAIN, "minivmm", clone3_is_enosys, NULL, err, sizeof(err)), err);
}
END_TEST

/* Seccomp mode of the calling thread: 2 once filtered. */
static int own_seccomp_mode(void)
{
	char line[128];
	int mode = -1;
	FILE *f = fopen("/proc/thread-self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

struct early_thread {
	sem_t registering;
	pid_t tid;
};

static void *early_io_thread(void *arg)
{
	struct early_thread *e = arg;

	e->tid = gettid();
	sem_post(&e->registering);
	vmm_seccomp_install_self("early-io", THREAD_IO);
	return (void *)(intptr_t)(own_seccomp_mode() == 2 ? 0 : 1);
}

/* Until thread tid sleeps (state S in /proc), for at most 10 s. */
static bool wait_until_sleeping(pid_t tid)
{
	char path[64], stat[256];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	for (int i = 0; i < 1000000; i++) {
		FILE *f = fopen(path, "r");
		char *close_paren;

		if (!f)
			return false;
		close_paren = fgets(stat, sizeof(stat), f) ? strrchr(stat, ')') : NULL;
		fclose(f);
		if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'S')
			return true;
		sched_yield();
	}
	return false;
}

/*
 * An I/O thread that registers before its filter is built (only the vCPU
 * filter exists before the first KVM_RUN) waits for it and runs filtered;
 * without the wait it would load an empty program and end the process.
 */
START_TEST(test_thread_waits_for_its_filter)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct early_thread e;
		pthread_t t;
		void *ret;

		if (vmm_seccomp_prepare_start() < 0 || sem_init(&e.registering, 0, 0) < 0)
			_exit(10);
		if (pthread_create(&t, NULL, early_io_thread, &e) != 0)
			_exit(11);
		/* The thread is in install_self, waiting: only then build the rest. */
		if (sem_wait(&e.registering) < 0 || !wait_until_sleeping(e.tid))
			_exit(15);
		if (vmm_seccomp_prepare_rest() < 0)
			_exit(12);
		if (pthread_join(t, &ret) != 0)
			_exit(13);
		_exit(ret == NULL ? 0 : 14);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}
END_TEST

Suite *seccomp_suite(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc;

	tc = unit_tcase(s, "filters", NULL, NULL,
			UNIT_TESTS(test_only_main_opens_for_writing,
				   test_console_has_no_general_ioctl, test_vcpu_allows_its_calls,
				   test_io_allows_io_uring, test_console_allows_its_calls,
				   test_clone3_returns_enosys, test_thread_waits_for_its_filter));
	tcase_add_loop_test(tc, test_forbidden_call_is_caught, 0, 4);
	tcase_set_timeout(tc, 30);
	return s;
}
