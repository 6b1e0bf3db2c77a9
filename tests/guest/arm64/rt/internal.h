/* Runtime-internal declarations shared between arm64/rt/ files. */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include "rt.h"

void rt_console_init(void);
/* Checks the blob's header and finds /chosen/bootargs; a bad blob leaves fdt_blob() NULL. */
void rt_fdt_init(const void *fdt);
/* The test-exit register (or, for QEMU, semihosting's exit). */
void rt_platform_exit(uint32_t code);

/*
 * The device tree's structure block, one node or property at a time: the
 * walk fdt.c and its users share.  depth counts BEGIN_NODEs (the root is 1).
 */
enum fdt_item { FDT_ITEM_NODE, FDT_ITEM_PROP, FDT_ITEM_END_NODE, FDT_ITEM_DONE };

struct fdt_walk {
	const uint8_t *blob;
	uint32_t off; /* next token, from the structure block's start */
	uint32_t size_struct;
	int depth;
	const char *name; /* node name, or property name */
	const uint8_t *value;
	uint32_t len;
};

void fdt_walk_begin(struct fdt_walk *w);
/* FDT_ITEM_DONE at the end or on a malformed token. */
enum fdt_item fdt_walk_next(struct fdt_walk *w);
/* A big-endian cell of a property's value. */
uint32_t fdt_cell(const uint8_t *value, unsigned int index);

#endif
