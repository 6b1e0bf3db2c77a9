#include "virtio_fuzz_support.h"

#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static FILE *vfuzz_saved_stderr;

void vfuzz_quiet_logs(void)
{
	FILE *null;

	if (vfuzz_saved_stderr || getenv("MINIVMM_FUZZ_LOG"))
		return;
	null = fopen("/dev/null", "w");
	if (!null)
		return;
	vfuzz_saved_stderr = stderr;
	stderr = null;
}

void vfuzz_restore_logs(void)
{
	if (vfuzz_saved_stderr)
		stderr = vfuzz_saved_stderr;
}

double vfuzz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool vfuzz_wait(bool (*done)(void *arg), void *arg, double seconds)
{
	double deadline = vfuzz_now() + seconds;
	unsigned int spins = 0;

	while (!done(arg)) {
		/* Check the clock only now and then: it costs more than a look at a ring. */
		if (++spins % 64 == 0 && vfuzz_now() > deadline)
			return done(arg);
		sched_yield();
	}
	return true;
}

bool vfuzz_wait_irq(int call_fd, bool (*done)(void *arg), void *arg, double seconds)
{
	double deadline = vfuzz_now() + seconds;
	struct pollfd p = {.fd = call_fd, .events = POLLIN};
	/* Often enough for what raises no interrupt (a dropped frame is only counted). */
	const struct timespec look_again = {.tv_nsec = 100000};
	uint64_t v;

	while (!done(arg)) {
		if (vfuzz_now() > deadline)
			return done(arg);
		if (ppoll(&p, 1, &look_again, NULL) == 1 && read(call_fd, &v, sizeof(v)) < 0)
			sched_yield();
	}
	return true;
}

int vfuzz_memfd_image(size_t bytes, char *path, size_t path_size)
{
	int fd = memfd_create("minivmm-fuzz-disk", MFD_CLOEXEC);
	uint8_t *buf = malloc(bytes);

	if (fd < 0 || !buf)
		abort();
	for (size_t i = 0; i < bytes; i++)
		buf[i] = vfuzz_image_byte(i);
	if (pwrite(fd, buf, bytes, 0) != (ssize_t)bytes)
		abort();
	free(buf);
	snprintf(path, path_size, "/proc/self/fd/%d", fd);
	return fd;
}

FILE *vfuzz_trace_stream(void)
{
	if (!getenv("MINIVMM_FUZZ_TRACE"))
		return NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return stdout;
}

int vfuzz_tap_set_vnet_hdr_size(struct tap *tap, int size)
{
	(void)tap;
	(void)size;
	return 0;
}

int vfuzz_tap_set_offload(struct tap *tap, unsigned int flags)
{
	(void)tap;
	(void)flags;
	return 0;
}
