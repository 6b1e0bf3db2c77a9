/*
 * A tiny flattened-device-tree reader (the devicetree specification's v17
 * format): a checked header, a walk over the structure block, and
 * /chosen/bootargs.  Written for trusted input of modest size, but every
 * offset is checked against the blob's sizes so a broken tree ends the walk
 * rather than the guest.
 */
#include "internal.h"

#define FDT_MAGIC      0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP	       4
#define FDT_END	       9
/* Anything claiming to be larger is not a blob minivmm wrote (its limit is 2 MiB). */
#define FDT_MAX_SIZE (2u << 20)

static const uint8_t *blob;
static uint32_t off_struct, size_struct, off_strings, size_strings;
static const char *bootargs = "";

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t fdt_cell(const uint8_t *value, unsigned int index)
{
	return be32(value + 4 * index);
}

const void *fdt_blob(void)
{
	return blob;
}

const char *cmdline(void)
{
	return bootargs;
}

static bool header_ok(const uint8_t *b)
{
	uint32_t total = be32(b + 4);

	off_struct = be32(b + 8);
	off_strings = be32(b + 12);
	size_strings = be32(b + 32);
	size_struct = be32(b + 36);
	return be32(b) == FDT_MAGIC && total <= FDT_MAX_SIZE && be32(b + 24) <= 17 &&
	       be32(b + 20) >= 17 && off_struct <= total && size_struct <= total - off_struct &&
	       off_strings <= total && size_strings <= total - off_strings;
}

void fdt_walk_begin(struct fdt_walk *w)
{
	*w = (struct fdt_walk){.blob = blob, .size_struct = blob ? size_struct : 0};
}

/* Length of the NUL-terminated string at p within limit bytes; limit if unterminated. */
static uint32_t bounded_strlen(const uint8_t *p, uint32_t limit)
{
	uint32_t n = 0;

	while (n < limit && p[n])
		n++;
	return n;
}

enum fdt_item fdt_walk_next(struct fdt_walk *w)
{
	const uint8_t *s = w->blob ? w->blob + off_struct : NULL;

	while (s && w->off + 4 <= w->size_struct) {
		uint32_t token = be32(s + w->off);

		w->off += 4;
		switch (token) {
		case FDT_NOP:
			continue;
		case FDT_BEGIN_NODE: {
			uint32_t n = bounded_strlen(s + w->off, w->size_struct - w->off);

			if (n == w->size_struct - w->off)
				return FDT_ITEM_DONE;
			w->name = (const char *)(s + w->off);
			w->off += (n + 1 + 3) & ~3u;
			w->depth++;
			return FDT_ITEM_NODE;
		}
		case FDT_END_NODE:
			w->depth--;
			return FDT_ITEM_END_NODE;
		case FDT_PROP: {
			uint32_t len, nameoff;

			if (w->off + 8 > w->size_struct)
				return FDT_ITEM_DONE;
			len = be32(s + w->off);
			nameoff = be32(s + w->off + 4);
			w->off += 8;
			if (len > w->size_struct - w->off || nameoff >= size_strings ||
			    bounded_strlen(w->blob + off_strings + nameoff,
					   size_strings - nameoff) == size_strings - nameoff)
				return FDT_ITEM_DONE;
			w->name = (const char *)(w->blob + off_strings + nameoff);
			w->value = s + w->off;
			w->len = len;
			w->off += (len + 3) & ~3u;
			return FDT_ITEM_PROP;
		}
		default: /* FDT_END or garbage */
			return FDT_ITEM_DONE;
		}
	}
	return FDT_ITEM_DONE;
}

void rt_fdt_init(const void *fdt)
{
	struct fdt_walk w;
	bool in_chosen = false;
	enum fdt_item item;

	/* Only a blob in RAM, 8-byte aligned as the boot protocol demands. */
	if ((uintptr_t)fdt < RT_RAM_BASE || ((uintptr_t)fdt & 7) || !header_ok(fdt))
		return;
	blob = fdt;
	fdt_walk_begin(&w);
	while ((item = fdt_walk_next(&w)) != FDT_ITEM_DONE) {
		if (item == FDT_ITEM_NODE)
			in_chosen = w.depth == 2 && !strcmp(w.name, "chosen");
		else if (item == FDT_ITEM_END_NODE)
			in_chosen = false;
		else if (in_chosen && w.depth == 2 && !strcmp(w.name, "bootargs") && w.len > 0 &&
			 w.value[w.len - 1] == '\0')
			bootargs = (const char *)w.value;
	}
}
