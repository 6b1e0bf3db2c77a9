/*
 * The device tree's virtio-mmio devices.  The key=value words of
 * /chosen/bootargs (cmdline()) are read by the shared ../rt/cmdline_words.c.
 */
#include "internal.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */

/* Property values of one virtio,mmio node, gathered during the walk. */
struct mmio_node {
	bool is_virtio, has_reg, has_spi;
	uint64_t base, size;
	uint32_t spi;
};

/* reg with the root's #address-cells and #size-cells (1 or 2 each); false if it is not so. */
static bool read_reg(const struct fdt_walk *w, unsigned int acells, unsigned int scells,
		     struct mmio_node *n)
{
	if (acells < 1 || acells > 2 || scells < 1 || scells > 2 || w->len < 4 * (acells + scells))
		return false;
	n->base = acells == 2 ? (uint64_t)fdt_cell(w->value, 0) << 32 | fdt_cell(w->value, 1)
			      : fdt_cell(w->value, 0);
	n->size = scells == 2
		      ? (uint64_t)fdt_cell(w->value, acells) << 32 | fdt_cell(w->value, acells + 1)
		      : fdt_cell(w->value, acells);
	return n->size != 0;
}

/* Does the window answer as a virtio-mmio device with something behind it? */
static bool device_present(uint64_t base)
{
	return mmio_read32(base) == VIRTIO_MMIO_MAGIC && mmio_read32(base + 8) != 0;
}

int cmdline_virtio_mmio(struct virtio_mmio_dev *devs, int max, int *malformed)
{
	struct fdt_walk w;
	struct mmio_node node = {0};
	unsigned int acells = 2, scells = 1;
	int found = 0, bad = 0;
	enum fdt_item item;

	fdt_walk_begin(&w);
	while ((item = fdt_walk_next(&w)) != FDT_ITEM_DONE) {
		if (item == FDT_ITEM_NODE && w.depth == 2) {
			node = (struct mmio_node){0};
		} else if (item == FDT_ITEM_PROP && w.depth == 1 && w.len == 4) {
			if (!strcmp(w.name, "#address-cells"))
				acells = fdt_cell(w.value, 0);
			else if (!strcmp(w.name, "#size-cells"))
				scells = fdt_cell(w.value, 0);
		} else if (item == FDT_ITEM_PROP && w.depth == 2) {
			if (!strcmp(w.name, "compatible"))
				node.is_virtio = w.len == sizeof("virtio,mmio") &&
						 !memcmp(w.value, "virtio,mmio", w.len);
			else if (!strcmp(w.name, "reg"))
				node.has_reg = read_reg(&w, acells, scells, &node);
			else if (!strcmp(w.name, "interrupts") && w.len >= 12 &&
				 fdt_cell(w.value, 0) == 0) { /* GIC_SPI */
				node.has_spi = true;
				node.spi = fdt_cell(w.value, 1);
			}
		} else if (item == FDT_ITEM_END_NODE && w.depth == 1 && node.is_virtio) {
			if (!node.has_reg || !node.has_spi || node.base < RT_VIRTIO_MMIO_BASE ||
			    node.base >= RT_RAM_BASE) {
				bad++;
			} else if (device_present(node.base) && found < max) {
				devs[found++] =
				    (struct virtio_mmio_dev){node.size, node.base, node.spi};
			}
			node.is_virtio = false;
		}
	}
	/* Address order: the tree may list them either way (QEMU lists them backwards). */
	for (int i = 1; i < found; i++)
		for (int j = i; j > 0 && devs[j - 1].base > devs[j].base; j--) {
			struct virtio_mmio_dev t = devs[j];

			devs[j] = devs[j - 1];
			devs[j - 1] = t;
		}
	if (malformed)
		*malformed = bad;
	return found;
}
