/* boot_params and the kernel command line (Linux x86 boot protocol fields). */
#include "internal.h"

#define BP_CMD_LINE_PTR	    0x228
#define BP_EXT_CMD_LINE_PTR 0x0c8 /* high 32 bits, Linux boot protocol 2.12+ */

static const uint8_t *bp;
static const char *cmd = "";

void rt_cmdline_init(const void *boot_params_ptr)
{
	uint64_t ptr;

	bp = boot_params_ptr;
	if (!bp)
		return;
	ptr = *(const uint32_t *)(bp + BP_CMD_LINE_PTR) |
	      ((uint64_t) * (const uint32_t *)(bp + BP_EXT_CMD_LINE_PTR) << 32);
	/* Only trust a pointer into the identity-mapped 4 GiB. */
	if (ptr && ptr < (1ULL << 32) - RT_CMDLINE_MAX)
		cmd = (const char *)ptr;
}

const void *boot_params(void)
{
	return bp;
}

bool e820_covers(uint64_t base, uint64_t end)
{
	const uint8_t *p = bp;
	unsigned int n = p ? p[0x1e8] : 0; /* e820_entries */

	for (unsigned int i = 0; i < n && i < 128; i++) {
		const uint8_t *e = p + 0x2d0 + 20 * i; /* e820_table: addr, size, type */
		uint64_t addr, size;
		uint32_t type;

		memcpy(&addr, e, 8);
		memcpy(&size, e + 8, 8);
		memcpy(&type, e + 16, 4);
		if (type == 1 && addr <= base && end - addr <= size)
			return true;
	}
	return false;
}

const char *cmdline(void)
{
	return cmd;
}

struct virtio_ctx {
	struct virtio_mmio_dev *devs;
	int max;
	int found;
	int malformed;
};

#define VIRTIO_KEY "virtio_mmio.device="

/* <size>@<base>:<irq>[:<id>] */
static bool parse_virtio_entry(const char *w, size_t n, struct virtio_mmio_dev *d)
{
	char buf[96];
	const char *p;
	uint64_t size, base, irq, id;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	if (!parse_size(buf, &size, &p) || *p++ != '@')
		return false;
	if (!parse_size(p, &base, &p) || *p++ != ':')
		return false;
	if (!parse_number(p, &irq, &p) || irq > UINT32_MAX)
		return false;
	if (*p == ':' && !parse_number(p + 1, &id, &p))
		return false;
	if (*p != '\0' || size == 0 || base + size < base)
		return false;
	d->size = size;
	d->base = base;
	d->irq = (uint32_t)irq;
	return true;
}

static void match_virtio(const char *w, size_t n, void *p)
{
	struct virtio_ctx *v = p;
	size_t klen = sizeof(VIRTIO_KEY) - 1;
	struct virtio_mmio_dev d;

	if (n < klen || strncmp(w, VIRTIO_KEY, klen))
		return;
	if (!parse_virtio_entry(w + klen, n - klen, &d)) {
		v->malformed++;
		return;
	}
	if (v->found < v->max)
		v->devs[v->found++] = d;
}

int cmdline_virtio_mmio(struct virtio_mmio_dev *devs, int max, int *malformed)
{
	struct virtio_ctx v = {.devs = devs, .max = max};

	cmdline_for_each_word(match_virtio, &v);
	if (malformed)
		*malformed = v.malformed;
	return v.found;
}
