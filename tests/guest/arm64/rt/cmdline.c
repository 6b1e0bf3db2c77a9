/*
 * key=value words of /chosen/bootargs (same rules as the x86 runtime's:
 * whitespace-separated, no quoting, the last occurrence of a key wins) and
 * the device tree's virtio-mmio devices.
 */
#include "internal.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* The value of the last word `key` or `key=...`: its start and length; false if none. */
static bool find_value(const char *key, const char **val, size_t *len)
{
	size_t klen = strlen(key);
	bool found = false;

	for (const char *p = cmdline(); *p;) {
		const char *word;
		size_t n;

		while (is_space(*p))
			p++;
		word = p;
		while (*p && !is_space(*p))
			p++;
		n = (size_t)(p - word);
		if (n < klen || strncmp(word, key, klen) || (n > klen && word[klen] != '='))
			continue;
		found = true;
		*val = n > klen ? word + klen + 1 : word + n;
		*len = n > klen ? n - klen - 1 : 0;
	}
	return found;
}

int cmdline_get(const char *key, char *buf, size_t size)
{
	const char *val;
	size_t len;

	if (!find_value(key, &val, &len))
		return -1;
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(buf, val, n);
		buf[n] = '\0';
	}
	return (int)len;
}

int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

bool cmdline_get_u64(const char *key, uint64_t *val)
{
	char buf[32];
	const char *p = buf;
	unsigned int base = 10;
	uint64_t v = 0;
	int n = cmdline_get(key, buf, sizeof(buf));

	if (n <= 0 || n >= (int)sizeof(buf))
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p)
		return false;
	for (; *p; p++) {
		int d = digit_value(*p);

		if (d >= (int)base || v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
	}
	*val = v;
	return true;
}

bool cmdline_get_u64_in(const char *key, uint64_t min, uint64_t max, uint64_t *val)
{
	uint64_t n;

	if (cmdline_get(key, NULL, 0) < 0)
		return true;
	if (!cmdline_get_u64(key, &n) || n < min || n > max) {
		printf("bench: %s must be a number from %lu to %lu\n", key, (unsigned long)min,
		       (unsigned long)max);
		return false;
	}
	*val = n;
	return true;
}

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
