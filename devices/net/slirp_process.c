#include "slirp_process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "slirp.h"
#include "vm_config.h"

/* The descriptors the helper finds its pair's far end and its status pipe on. */
#define NET_USER_FAR_FD	   3
#define NET_USER_STATUS_FD 4
/* How long the helper may take to set up libslirp and its forwards. */
#define NET_USER_START_MS 10000

int net_user_pair(int fds[2], char *err, size_t errlen)
{
	int size = NET_USER_QUEUE_BYTES;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
		int e = errno;

		snprintf(err, errlen, "user-mode networking: socketpair: %s", strerror(e));
		return -e;
	}
	/* Bounds what waits in each direction; the kernel may clamp it (wmem_max). */
	for (int i = 0; i < 2; i++)
		if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0)
			log_debug("user-mode networking: SO_SNDBUF: %s", strerror(errno));
	return 0;
}

/* Whether path is an executable file; path is built in buf. */
static bool net_user_try(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s%s%s", dir, rel, NET_USER_HELPER);

	return n > 0 && (size_t)n < size && access(buf, X_OK) == 0;
}

/* The helper's path into buf (PATH_MAX): the lookup net_user_spawn() documents. */
static int net_user_find_helper(char *buf, size_t size, char *err, size_t errlen)
{
	const char *env = getenv("MINIVMM_NET_USER");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		if (access(buf, X_OK) == 0)
			return 0;
		snprintf(err, errlen, "user-mode networking: MINIVMM_NET_USER=%s: %s", env,
			 strerror(errno));
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			slash[1] = '\0';
			if (net_user_try(buf, size, self, "") ||
			    net_user_try(buf, size, self, "../libexec/minivmm/"))
				return 0;
		}
	}
	snprintf(err, errlen,
		 "user-mode networking needs its helper %s beside minivmm (or in "
		 "../libexec/minivmm/, or named by MINIVMM_NET_USER): not found; "
		 "`make` builds it",
		 NET_USER_HELPER);
	return -ENOENT;
}

/* The helper's arguments, each in its own slot of bufs. */
static void net_user_args(const struct net_config *cfg, const char *name, bool vnet_hdr, char *path,
			  char *argv[], char bufs[][64])
{
	int argc = 0;

	argv[argc++] = path;
	argv[argc++] = "--name";
	argv[argc++] = (char *)name;
	if (vnet_hdr)
		argv[argc++] = "--vnet-hdr";
	for (unsigned int i = 0; i < cfg->nr_hostfwd; i++) {
		const struct net_hostfwd *f = &cfg->hostfwd[i];

		snprintf(bufs[i], 64, "%s:%u:%u:%u:%u", f->udp ? "udp" : "tcp", f->host_addr,
			 f->host_port, f->guest_addr, f->guest_port);
		argv[argc++] = "--hostfwd";
		argv[argc++] = bufs[i];
	}
	argv[argc] = NULL;
}

/*
 * In the child: the far end on NET_USER_FAR_FD, the status pipe on
 * NET_USER_STATUS_FD, nothing else of minivmm's open, then the helper.
 */
static void net_user_exec(int far, int status, char *argv[])
{
	static const char why[] = ": it cannot be executed\n";
	sigset_t none;

	/* Only async-signal-safe calls: minivmm has threads running. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Ends with minivmm even if minivmm is killed before closing its end. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(far, NET_USER_FAR_FD) < 0 || dup2(status, NET_USER_STATUS_FD) < 0)
		_exit(127);
	/* Nothing else of minivmm's (KVM, guest memory, disk images) goes along. */
	close_range(NET_USER_STATUS_FD + 1, ~0u, 0);
	execv(argv[0], argv);
	if (write(NET_USER_STATUS_FD, argv[0], strlen(argv[0])) < 0 ||
	    write(NET_USER_STATUS_FD, why, sizeof(why) - 1) < 0)
		_exit(127);
	_exit(127);
}

/* The helper's first line: "ok", or its reason.  0 or -errno with err filled in. */
static int net_user_wait_ready(int fd, pid_t pid, char *err, size_t errlen)
{
	char line[512];
	size_t used = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (used < sizeof(line) - 1) {
		ssize_t n;

		if (poll(&p, 1, NET_USER_START_MS) <= 0) {
			snprintf(err, errlen, "user-mode networking: %s did not start within %d s",
				 NET_USER_HELPER, NET_USER_START_MS / 1000);
			kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		n = read(fd, line + used, sizeof(line) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		if (memchr(line, '\n', used))
			break;
	}
	line[used] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "ok") == 0)
		return 0;
	/* It failed and is ending (or ended); collect it. */
	waitpid(pid, NULL, 0);
	snprintf(err, errlen, "%s",
		 line[0] ? line : "the helper " NET_USER_HELPER " ended at start");
	return -EIO;
}

int net_user_spawn(const struct net_config *cfg, const char *name, bool vnet_hdr, struct tap *tap,
		   char *err, size_t errlen)
{
	char path[PATH_MAX], bufs[CONFIG_MAX_HOSTFWDS][64];
	char *argv[6 + 2 * CONFIG_MAX_HOSTFWDS];
	int pair[2], status[2], ret;
	pid_t pid;

	tap_init_fd(tap, -1, NULL, false);
	ret = net_user_find_helper(path, sizeof(path), err, errlen);
	if (ret)
		return ret;
	net_user_args(cfg, name, vnet_hdr, path, argv, bufs);
	ret = net_user_pair(pair, err, errlen);
	if (ret)
		return ret;
	if (pipe2(status, O_CLOEXEC) < 0) {
		ret = -errno;
		snprintf(err, errlen, "user-mode networking: pipe: %s", strerror(-ret));
		close(pair[0]);
		close(pair[1]);
		return ret;
	}
	pid = fork();
	if (pid == 0)
		net_user_exec(pair[1], status[1], argv);
	ret = pid < 0 ? -errno : 0;
	close(pair[1]);
	close(status[1]);
	if (ret)
		snprintf(err, errlen, "user-mode networking: fork: %s", strerror(-ret));
	else
		ret = net_user_wait_ready(status[0], pid, err, errlen);
	close(status[0]);
	if (ret) {
		close(pair[0]);
		return ret;
	}
	log_debug("%s: helper %s running as process %d", name, path, (int)pid);
	tap_init_fd(tap, pair[0], "user", vnet_hdr);
	return 0;
}
