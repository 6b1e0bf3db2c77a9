/*
 * Device counters, each named once.  A device lists its counters in an
 * X-macro; the list generates the struct fields and a table of names and
 * offsets, from which the --stats report is built:
 *
 *   #define BLK_COUNTERS(X) X(requests) X(reads) X(bytes_read)
 *   struct blk_counters { BLK_COUNTERS(COUNTER_FIELD) };
 *   #define BLK_COUNTER_DESC(name) COUNTER_DESC(struct blk_counters, name)
 *   static const struct counter_desc blk_counter_descs[] = { BLK_COUNTERS(BLK_COUNTER_DESC) };
 *
 *   counter_add(&blk->counters.reads, 1);
 *   counters_print(out, &blk->counters, blk_counter_descs, ARRAY_SIZE(blk_counter_descs));
 *
 * Counters are relaxed atomics: any thread may add, the stats reader only
 * needs each value to be whole, not a snapshot consistent across counters.
 */
#ifndef MINIVMM_COUNTERS_H
#define MINIVMM_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>

typedef atomic_ulong counter_t;

struct counter_desc {
	const char *name;
	size_t offset; /* of its counter_t in the counters struct */
};

#define COUNTER_FIELD(name)	 counter_t name;
#define COUNTER_DESC(type, name) {#name, offsetof(type, name)},

static inline void counter_add(counter_t *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline unsigned long counter_get(const counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A peak gauge: raise *c to v if v is larger (one writer thread). */
static inline void counter_raise_to(counter_t *c, unsigned long v)
{
	if (v > counter_get(c))
		atomic_store_explicit(c, v, memory_order_relaxed);
}

/* The value of descs[i] in the struct at counters. */
unsigned long counters_value(const void *counters, const struct counter_desc *desc);

struct json_object;

/* Add "name": value to obj for each counter, in table order. */
void counters_to_json(struct json_object *obj, const void *counters,
		      const struct counter_desc *descs, size_t n);

#endif
