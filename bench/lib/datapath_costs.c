/*
 * What a kernel data plane (vhost-net) would save or keep, measured on this
 * host: the pieces of a packet's trip that vhost-net removes (a system call's
 * entry and exit, an I/O thread's return to user space) beside the ones it
 * keeps (the tap's own work on a frame, a thread wake-up).  Prints numbers,
 * never passes or fails (docs/vhost-user.md, "On paper: vhost-net").
 *
 * usage: datapath_costs TAP   (root, TAP an existing tap that is up; best in
 *                              a network namespace of its own)
 * build: cc -O2 -pthread -o datapath_costs bench/lib/datapath_costs.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The cheapest system call: what entering and leaving the kernel costs. */
static double null_syscall_ns(unsigned int n)
{
	uint64_t t0 = now_ns();

	for (unsigned int i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (double)(now_ns() - t0) / n;
}

static int ping_fd, pong_fd;

static void *ponger(void *arg)
{
	uint64_t v;
	unsigned int n = *(unsigned int *)arg;

	for (unsigned int i = 0; i < n; i++) {
		if (read(ping_fd, &v, sizeof(v)) != sizeof(v) ||
		    write(pong_fd, &v, sizeof(v)) != sizeof(v))
			break;
	}
	return NULL;
}

/* Half an eventfd round trip between two threads that block: one wake-up. */
static double wakeup_ns(unsigned int n)
{
	pthread_t t;
	uint64_t v = 1, t0;

	ping_fd = eventfd(0, EFD_CLOEXEC);
	pong_fd = eventfd(0, EFD_CLOEXEC);
	if (ping_fd < 0 || pong_fd < 0 || pthread_create(&t, NULL, ponger, &n))
		return -1;
	t0 = now_ns();
	for (unsigned int i = 0; i < n; i++) {
		if (write(ping_fd, &v, sizeof(v)) != sizeof(v) ||
		    read(pong_fd, &v, sizeof(v)) != sizeof(v))
			break;
	}
	t0 = now_ns() - t0;
	pthread_join(t, NULL);
	close(ping_fd);
	close(pong_fd);
	return (double)t0 / n / 2;
}

static int tap_open(const char *name)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("tap");
		exit(1);
	}
	return fd;
}

/* writev of one frame of size bytes to the tap: the kernel's work per frame plus one crossing. */
static double tap_write_ns(int fd, unsigned int size, unsigned int n)
{
	static uint8_t frame[1514];
	struct iovec iov = {frame, size};
	uint64_t t0;

	memset(frame, 0xff, 6); /* broadcast */
	memcpy(frame + 6, "\x02\0\0\0\0\x01", 6);
	frame[12] = 0x88, frame[13] = 0xb5;
	t0 = now_ns();
	for (unsigned int i = 0; i < n; i++)
		if (writev(fd, &iov, 1) != (ssize_t)size)
			return -1;
	return (double)(now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	const unsigned int n = 200000;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s TAP\n", argv[0]);
		return 2;
	}
	fd = tap_open(argv[1]);
	printf("null system call (getppid)          %8.0f ns\n", null_syscall_ns(n));
	printf("thread wake-up (eventfd, blocking)  %8.0f ns\n", wakeup_ns(n / 4));
	printf("tap writev, 64 B frame              %8.0f ns\n", tap_write_ns(fd, 64, n));
	printf("tap writev, 1500 B frame            %8.0f ns\n", tap_write_ns(fd, 1500, n));
	close(fd);
	return 0;
}
