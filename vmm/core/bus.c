#include "bus.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Written with subtractions so ranges ending at 2^64 cannot wrap. */
	return a <= b ? b - a < alen : a - b < blen;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn handler, void *opaque,
		 const char *name)
{
	struct bus_range *r;

	if (len == 0 || !handler || base + (len - 1) < base)
		return -EINVAL;
	for (unsigned int i = 0; i < bus->nr_ranges; i++)
		if (ranges_overlap(bus->ranges[i].base, bus->ranges[i].len, base, len))
			return -EEXIST;
	if (bus->nr_ranges >= BUS_MAX_RANGES)
		return -ENOSPC;
	r = &bus->ranges[bus->nr_ranges++];
	r->base = base;
	r->len = len;
	r->handler = handler;
	r->opaque = opaque;
	r->name = name;
	atomic_init(&r->accesses, 0);
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
			return r;
	}
	return NULL;
}

bool bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct bus_range *r = (struct bus_range *)bus_find(bus, addr, len);

	if (!r) {
		atomic_fetch_add_explicit(&bus->unhandled, 1, memory_order_relaxed);
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	atomic_fetch_add_explicit(&r->accesses, 1, memory_order_relaxed);
	r->handler(r->opaque, addr - r->base, data, len, is_write);
	return true;
}

void *bus_owner(const struct bus *bus, uint64_t addr, bus_handler_fn handler)
{
	const struct bus_range *r = bus_find(bus, addr, 1);

	return r && r->handler == handler ? r->opaque : NULL;
}
