/*
 * The host side of the network benchmarks (bench/compare): the
 * ceiling any VMM is measured against, on the same tap.
 *   nethost tsc                        host TSC rate in kHz
 *   nethost write TAP N SIZE           write N frames of SIZE bytes to the tap
 *   nethost read TAP N                 read N frames from the tap ("ready" first)
 *   nethost inject TAP N SIZE MAC      send N frames to MAC through AF_PACKET on the tap
 *   nethost spin                       time a fixed CPU loop: the host's own steadiness
 * Prints "host: MODE frames=N usec=U pps=P cpu_us=C switches=S" (CPU time
 * and context switches of this process, for the per-packet columns).
 *
 * inject is closed-loop: it keeps at most INJECT_WINDOW of its frames
 * between itself and the tap's count of frames handed on (/proc/net/dev, per
 * network namespace: "transmit packets" plus "transmit drop").  An open-loop
 * sender overruns a slower reader and the rest is dropped (30-70 % at 64
 * bytes here), so the measured rate would depend on how the scheduler shared
 * a CPU between sender and reader; closed-loop, nothing is dropped and the
 * rate is the reader's.  It also prints "dropped=D", the tap's drops during
 * the run.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int tap(const char *name)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("tap");
		exit(1);
	}
	return fd;
}

/* About a quarter of a second of the steadiness loop on this host. */
#define SPIN_ITERATIONS 500000000ULL

/* Frames sent and not yet handed on by the tap: well under txqueuelen (10000). */
#define INJECT_WINDOW 2048

/*
 * The tap's transmit counters: frames handed on and frames dropped.  Where a
 * frame is counted as handed on depends on the kernel, and the window holds
 * either way: Linux 6.1 counts it when the reader reads it (the window bounds
 * the tap's ring, txqueuelen); newer kernels, such as this host's 6.18, count
 * it when the tap queues it and stop the device queue when the ring is full,
 * so the frames not yet counted wait in the qdisc (whose limit is also
 * txqueuelen).  False if the tap is not in /proc/net/dev.
 */
static bool tap_taken(const char *name, unsigned long long *taken, unsigned long long *dropped)
{
	char line[512], want[IFNAMSIZ + 2];
	bool found = false;
	FILE *f = fopen("/proc/net/dev", "r");

	if (!f)
		return false;
	snprintf(want, sizeof(want), "%s:", name);
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");

		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets
		 * errs drop */
		found =
		    !strncmp(p, want, strlen(want)) &&
		    sscanf(p + strlen(want), "%*u %*u %*u %*u %*u %*u %*u %*u %*u %llu %*u %llu",
			   taken, dropped) == 2;
	}
	fclose(f);
	return found;
}

static void frame(unsigned char *f, int size, const unsigned char *dst)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (int i = 14; i < size; i++)
		f[i] = (unsigned char)i;
}

int main(int argc, char **argv)
{
	unsigned char f[2048], dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	long n = argc > 3 ? atol(argv[3]) : 0, done = 0;
	int size = argc > 4 ? atoi(argv[4]) : 64;
	double t0 = 0, t1 = 0;
	struct rusage ru;
	unsigned long long taken0 = 0, dropped0 = 0, taken = 0, dropped = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: nethost tsc|spin|write|read|inject ...\n");
		return 2;
	}
	if (strcmp(argv[1], "tsc") && strcmp(argv[1], "spin") &&
	    (argc < 4 || size < 14 || size > (int)sizeof(f) ||
	     (!strcmp(argv[1], "inject") && argc < 6))) {
		fprintf(stderr, "nethost %s: missing or bad arguments\n", argv[1]);
		return 2;
	}
	if (!strcmp(argv[1], "spin")) {
		/* Integer work with no memory traffic: its rate moves only when the CPU does. */
		volatile uint64_t x = 0;
		uint64_t i;

		t0 = now();
		for (i = 0; i < SPIN_ITERATIONS; i++)
			x += i * i;
		t1 = now();
		printf("host: spin iterations=%llu usec=%.0f rate=%.0f\n",
		       (unsigned long long)SPIN_ITERATIONS, (t1 - t0) * 1e6,
		       SPIN_ITERATIONS / (t1 - t0));
		return 0;
	}
	if (!strcmp(argv[1], "tsc")) {
		uint64_t c0 = __rdtsc();

		t0 = now();
		usleep(200000);
		printf("%.0f\n", (__rdtsc() - c0) / (now() - t0) / 1000);
		return 0;
	}
	if (!strcmp(argv[1], "write")) {
		int fd = tap(argv[2]);

		frame(f, size, dst);
		t0 = now();
		for (; done < n; done++)
			if (write(fd, f, size) != size) {
				perror("write");
				return 1;
			}
		t1 = now();
	} else if (!strcmp(argv[1], "read")) {
		int fd = tap(argv[2]);
		struct pollfd p = {fd, POLLIN, 0};

		printf("ready\n");
		fflush(stdout);
		t0 = 0;
		while (done < n && poll(&p, 1, done ? 2000 : 30000) == 1)
			if (read(fd, f, sizeof(f)) > 0) {
				t1 = now();
				if (!done++)
					t0 = t1;
			}
		done = done > 1 ? done - 1 : 0; /* intervals after the first frame */
	} else if (!strcmp(argv[1], "inject")) {
		struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_halen = 6};
		int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

		sscanf(argv[5], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2], &dst[3],
		       &dst[4], &dst[5]);
		a.sll_ifindex = (int)if_nametoindex(argv[2]);
		frame(f, size, dst);
		if (!tap_taken(argv[2], &taken0, &dropped0)) {
			fprintf(stderr, "nethost inject: %s is not in /proc/net/dev\n", argv[2]);
			return 1;
		}
		t0 = now();
		while (done < n) {
			long room;

			if (!tap_taken(argv[2], &taken, &dropped))
				return 1;
			room = INJECT_WINDOW - (done - (long)(taken - taken0 + dropped - dropped0));
			if (room < INJECT_WINDOW / 4) {
				/* Let the reader (often on this CPU) drain before sending on. */
				nanosleep(&(struct timespec){0, 20000}, NULL);
				continue;
			}
			for (; room > 0 && done < n; room--, done++)
				sendto(s, f, size, 0, (struct sockaddr *)&a, sizeof(a));
		}
		t1 = now();
		tap_taken(argv[2], &taken, &dropped);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("host: %s frames=%ld usec=%.0f pps=%.0f cpu_us=%ld switches=%ld dropped=%llu\n",
	       argv[1], done, (t1 - t0) * 1e6, t1 > t0 ? done / (t1 - t0) : 0,
	       ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
		   ru.ru_stime.tv_usec,
	       ru.ru_nvcsw + ru.ru_nivcsw, dropped - dropped0);
	return 0;
}
