/*
 * The host side of the network benchmarks (bench/net, bench/compare): the
 * ceiling any VMM is measured against, on the same tap.
 *   nethost tsc                        host TSC rate in kHz
 *   nethost write TAP N SIZE           write N frames of SIZE bytes to the tap
 *   nethost read TAP N                 read N frames from the tap ("ready" first)
 *   nethost inject TAP N SIZE MAC      send N frames to MAC through AF_PACKET on the tap
 * Prints "host: MODE frames=N usec=U pps=P cpu_us=C switches=S" (CPU time
 * and context switches of this process, for the per-packet columns).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
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

	if (argc < 2) {
		fprintf(stderr, "usage: nethost tsc|write|read|inject ...\n");
		return 2;
	}
	if (strcmp(argv[1], "tsc") && (argc < 4 || size < 14 || size > (int)sizeof(f) ||
				       (!strcmp(argv[1], "inject") && argc < 6))) {
		fprintf(stderr, "nethost %s: missing or bad arguments\n", argv[1]);
		return 2;
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
		t0 = now();
		for (; done < n; done++)
			sendto(s, f, size, 0, (struct sockaddr *)&a, sizeof(a));
		t1 = now();
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("host: %s frames=%ld usec=%.0f pps=%.0f cpu_us=%ld switches=%ld\n", argv[1], done,
	       (t1 - t0) * 1e6, t1 > t0 ? done / (t1 - t0) : 0,
	       ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
		   ru.ru_stime.tv_usec,
	       ru.ru_nvcsw + ru.ru_nivcsw);
	return 0;
}
