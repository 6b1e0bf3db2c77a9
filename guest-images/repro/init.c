/*
 * /init of the process-start reproducer's guest (guest-images/repro/,
 * docs/compat.md).  PID 1, static glibc, no shell: every fork+exec costs
 * seconds when the host emulates guest kernel code.
 *
 * It starts one long-lived checker (/bin/tls-start --check) pinned to each
 * online vCPU, then execs /bin/tls-start back to back for repro.duration=
 * seconds of guest time, counts the starts that died (killed by a signal) or
 * found their TLS zeroed (exit 3), stops the checkers, prints
 *     REPRO-PROCESS-START starts=N died=M tls_zero=Z checker_bad=B ...
 * and powers off through minivmm's exit port 0x501: status 0 when nothing
 * went wrong, 10 otherwise.
 *
 * Kernel command-line parameters (all optional):
 *   repro.duration=S   seconds of the exec loop (default 240)
 *   repro.checkers=0   start no checkers (default 1)
 *   repro.pin=CPU      pin /init, the checkers and every start to CPU
 *                      (default: checker i on CPU i, starts unpinned)
 *   repro.check_ms=MS  the checkers' pause between checks (default 200)
 *   repro.prog=PATH    the program started in the loop (default
 *                      /bin/tls-start; e.g. /bin/busybox with repro.arg=true)
 *   repro.arg=WORD     its one argument (default 7)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROG	 "/bin/tls-start"
#define MAX_CPUS 64

static char cmdline[4096];

static const char *param(const char *name, const char *def)
{
	size_t len = strlen(name);

	for (char *p = cmdline; (p = strstr(p, name)); p += len)
		if ((p == cmdline || p[-1] == ' ') && p[len] == '=') {
			static char val[64];
			size_t n = strcspn(p + len + 1, " \n");

			if (n >= sizeof(val))
				n = sizeof(val) - 1;
			memcpy(val, p + len + 1, n);
			val[n] = '\0';
			return val;
		}
	return def;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		printf("repro: sched_setaffinity(%d): %s\n", cpu, strerror(errno));
}

static pid_t start(int cpu, const char *prog, const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = {(char *)prog, (char *)arg, NULL};

		pin(cpu);
		execv(prog, argv);
		_exit(127);
	}
	if (pid < 0)
		printf("repro: fork: %s\n", strerror(errno));
	return pid;
}

/* The /proc/cpuinfo flags that bear on address-space switches. */
static void print_cpu_flags(void)
{
	static const char *const names[] = {"pcid", "invpcid", "pti",	 "pge", "fsgsbase",
					    "smap", "xsave",   "popcnt", NULL};
	char line[8192];
	FILE *f = fopen("/proc/cpuinfo", "r");

	printf("REPRO-INFO cpu flags:");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0) {
			for (int i = 0; names[i]; i++) {
				char word[32];

				snprintf(word, sizeof(word), " %s", names[i]);
				char *p = strstr(line, word);
				bool on = p && (p[strlen(word)] == ' ' || p[strlen(word)] == '\n');
				printf(" %s%s", on ? "+" : "-", names[i]);
			}
			break;
		}
	printf("\n");
	if (f)
		fclose(f);
	f = fopen("/sys/devices/system/cpu/vulnerabilities/meltdown", "r");
	if (f && fgets(line, sizeof(line), f))
		printf("REPRO-INFO meltdown: %s", line);
	if (f)
		fclose(f);
}

static void power_off(int status)
{
	unsigned char byte = (unsigned char)status;
	int fd;

	/* The console is an interrupt-driven UART: let the summary line out
	 * before the VM stops (a run lost it once). */
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	usleep(500 * 1000);
	sync();
	fd = open("/dev/port", O_WRONLY);
	if (fd >= 0) {
		if (pwrite(fd, &byte, 1, 0x501) != 1)
			printf("repro: /dev/port: %s\n", strerror(errno));
		close(fd);
	} else {
		printf("repro: /dev/port: %s\n", strerror(errno));
	}
	reboot(RB_AUTOBOOT); /* reboot=k: the i8042 reset stops minivmm too */
	for (;;)
		pause();
}

int main(void)
{
	pid_t checkers[MAX_CPUS];
	int ncheckers = 0, ncpus, pin_cpu, status;
	unsigned long starts = 0, died = 0, tls_zero = 0, other = 0, checker_bad = 0;
	double duration, t0, t_end, slowest = 0;
	char prog[64], prog_arg[64];
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("REPRO-INIT\n");
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	if (mount("proc", "/proc", "proc", 0, NULL) < 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) < 0 ||
	    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
		printf("repro: mount: %s\n", strerror(errno));
	f = fopen("/proc/cmdline", "r");
	if (!f || !fgets(cmdline, sizeof(cmdline), f))
		printf("repro: /proc/cmdline: %s\n", strerror(errno));
	if (f)
		fclose(f);

	duration = strtod(param("repro.duration", "240"), NULL);
	pin_cpu = atoi(param("repro.pin", "-1"));
	snprintf(prog, sizeof(prog), "%s", param("repro.prog", PROG));
	snprintf(prog_arg, sizeof(prog_arg), "%s", param("repro.arg", "7"));
	setenv("REPRO_CHECK_MS", param("repro.check_ms", "200"), 1);
	ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	printf("REPRO-INFO cpus=%d duration=%.0f pin=%d checkers=%s prog=%s %s\n", ncpus, duration,
	       pin_cpu, param("repro.checkers", "1"), prog, prog_arg);
	print_cpu_flags();
	pin(pin_cpu);

	if (strcmp(param("repro.checkers", "1"), "0") != 0)
		for (int cpu = 0; cpu < ncpus; cpu++) {
			pid_t pid = start(pin_cpu >= 0 ? pin_cpu : cpu, PROG, "--check");

			if (pid > 0) {
				checkers[ncheckers++] = pid;
				starts++;
			}
		}

	t0 = now();
	t_end = t0 + duration;
	while (now() < t_end) {
		double t = now();
		pid_t pid = start(pin_cpu, prog, prog_arg);

		if (pid < 0)
			break;
		starts++;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		t = now() - t;
		if (t > slowest)
			slowest = t;
		if (WIFSIGNALED(status)) {
			died++;
			printf("REPRO-DIED start=%lu pid=%d signal=%d (%s) after %.1f s\n", starts,
			       (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)), t);
		} else if (WEXITSTATUS(status) == 3) {
			tls_zero++;
			printf("REPRO-TLS-ZERO start=%lu pid=%d\n", starts, (int)pid);
		} else if (WEXITSTATUS(status) != 0) {
			other++;
			printf("REPRO-FAILED start=%lu pid=%d exit=%d\n", starts, (int)pid,
			       WEXITSTATUS(status));
		}
		if (starts % 10 == 0)
			printf("REPRO-PROGRESS starts=%lu died=%lu t=%.0f s\n", starts, died,
			       now() - t0);
	}

	for (int i = 0; i < ncheckers; i++)
		kill(checkers[i], SIGTERM);
	for (int i = 0; i < ncheckers; i++) {
		while (waitpid(checkers[i], &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status)) {
			died++;
			printf("REPRO-DIED checker pid=%d signal=%d (%s)\n", (int)checkers[i],
			       WTERMSIG(status), strsignal(WTERMSIG(status)));
		} else if (WEXITSTATUS(status) != 0) {
			checker_bad++;
		}
	}
	printf("REPRO-PROCESS-START starts=%lu died=%lu tls_zero=%lu other_failures=%lu "
	       "checker_bad=%lu loop_s=%.0f slowest_start_s=%.1f cpus=%d\n",
	       starts, died, tls_zero, other, checker_bad, now() - t0, slowest, ncpus);
	power_off(died || tls_zero || other || checker_bad ? 10 : 0);
}
