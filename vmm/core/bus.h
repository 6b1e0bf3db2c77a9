/*
 * An address bus (one for port I/O, one for MMIO): devices register address
 * ranges with a handler; vCPU exits are dispatched to the handler owning the
 * address.  Registration happens before the vCPUs start; dispatch is then
 * lock-free (the table never changes while the guest runs).
 */
#ifndef MINIVMM_BUS_H
#define MINIVMM_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_RANGES 64

/*
 * Handle one access of len (1, 2, 4 or 8) bytes at offset from the range's
 * base.  For a write, data holds the value (little-endian); for a read, the
 * handler fills data.  Reads of unimplemented registers should return 0.
 */
typedef void (*bus_handler_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			       bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_handler_fn handler;
	void *opaque;
	const char *name;
	atomic_ulong accesses; /* exits handled, for --stats */
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned int nr_ranges;
	atomic_ulong unhandled;
};

void bus_init(struct bus *bus, const char *name);

/* 0, -EEXIST if [base, base+len) overlaps a registered range, -EINVAL/-ENOSPC. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn handler, void *opaque,
		 const char *name);

/*
 * Dispatch an access.  Returns false if no range covers [addr, addr+len);
 * unhandled reads then return all-ones, as on a real bus with nothing there.
 */
bool bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len);

/*
 * The opaque of the range at addr if handler serves it, else NULL: how a
 * device finds its own state again at teardown (buses never shrink, so the
 * range outlives the device).
 */
void *bus_owner(const struct bus *bus, uint64_t addr, bus_handler_fn handler);

#endif
