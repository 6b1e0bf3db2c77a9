/*
 * What the virtio fuzz targets (fuzz_virtqueue, fuzz_virtio_mmio,
 * fuzz_virtio_blk, fuzz_virtio_net, fuzz_virtio_net_ctrl) share: quiet device
 * logs, waiting for a device's I/O thread with a deadline, a memfd disk
 * image, and the tap ioctls a socketpair "tap" ignores.  The driver
 * side of the rings and registers is tests/unit/virtq_driver.h and
 * mmio_driver.h, as in the unit tests.
 */
#ifndef MINIVMM_FUZZ_VIRTIO_SUPPORT_H
#define MINIVMM_FUZZ_VIRTIO_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fuzz_input.h"

struct tap;

/*
 * Device models log every guest error they see; at thousands of inputs a
 * second that is megabytes of noise.  Sends stderr (the FILE) to /dev/null
 * unless MINIVMM_FUZZ_LOG is set in the environment.  libFuzzer and the
 * sanitizers keep their own output.
 */
void vfuzz_quiet_logs(void);

/* stdout, line-buffered, when MINIVMM_FUZZ_TRACE is set (one line per
 * request or frame); NULL otherwise. */
FILE *vfuzz_trace_stream(void);

/* Gives stderr back (before an invariant failure is reported). */
void vfuzz_restore_logs(void);

/* FUZZ_CHECK with stderr restored first, so the reason is printed. */
#define VFUZZ_CHECK(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			vfuzz_restore_logs();                                                      \
			FUZZ_CHECK(cond, __VA_ARGS__);                                             \
		}                                                                                  \
	} while (0)

/*
 * Calls done(arg) until it is true or seconds pass (yielding the CPU in
 * between); returns its last result.  For conditions an I/O thread makes
 * true: a false return after the deadline is a stalled device.
 */
bool vfuzz_wait(bool (*done)(void *arg), void *arg, double seconds);

/*
 * The same, sleeping on an interrupt eventfd (a device's irqfd) between
 * looks instead of spinning, so that the I/O thread has the CPU; a look
 * every 100 us in any case, as interrupts may be suppressed.
 */
bool vfuzz_wait_irq(int call_fd, bool (*done)(void *arg), void *arg, double seconds);

/* CLOCK_MONOTONIC in seconds. */
double vfuzz_now(void);

/*
 * A memfd of bytes bytes of vfuzz_image_byte(), for a disk; its name as a
 * path (/proc/self/fd/N) goes to path.  The descriptor, or aborts.
 */
int vfuzz_memfd_image(size_t bytes, char *path, size_t path_size);

/* The initial content of vfuzz_memfd_image() at offset. */
static inline uint8_t vfuzz_image_byte(uint64_t offset)
{
	return (uint8_t)((offset / 512) * 13 + offset % 241 + 1);
}

/*
 * The tap ioctls of a virtio-net device whose "tap" is a socketpair: the
 * vnet header size and the offloads, taken and ignored (0).  For a
 * struct virtio_net_tap_ops.
 */
int vfuzz_tap_set_vnet_hdr_size(struct tap *tap, int size);
int vfuzz_tap_set_offload(struct tap *tap, unsigned int flags);

#endif
