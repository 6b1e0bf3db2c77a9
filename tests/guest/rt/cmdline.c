/* boot_params and the kernel command line (Linux x86 boot protocol fields). */
#include "internal.h"

#define BP_CMD_LINE_PTR	    0x228
#define BP_EXT_CMD_LINE_PTR 0x0c8 /* high 32 bits, Linux boot protocol 2.12+ */
#define CMDLINE_MAX	    4096

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
	if (ptr && ptr < (1ULL << 32) - CMDLINE_MAX)
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

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Calls fn for each whitespace-separated word (no quoting; test guests don't need it). */
static void for_each_word(void (*fn)(const char *w, size_t n, void *ctx), void *ctx)
{
	const char *p = cmd;
	const char *end = cmd + CMDLINE_MAX;

	while (p < end && *p) {
		const char *w;

		while (p < end && is_space(*p))
			p++;
		w = p;
		while (p < end && *p && !is_space(*p))
			p++;
		if (p > w)
			fn(w, (size_t)(p - w), ctx);
	}
}

struct get_ctx {
	const char *key;
	size_t key_len;
	const char *val;
	size_t val_len;
	bool found;
};

static void match_key(const char *w, size_t n, void *p)
{
	struct get_ctx *g = p;

	if (n < g->key_len || strncmp(w, g->key, g->key_len))
		return;
	if (n == g->key_len) {
		g->found = true;
		g->val = w + n;
		g->val_len = 0;
	} else if (w[g->key_len] == '=') {
		g->found = true;
		g->val = w + g->key_len + 1;
		g->val_len = n - g->key_len - 1;
	}
}

int cmdline_get(const char *key, char *buf, size_t size)
{
	struct get_ctx g = {.key = key, .key_len = strlen(key)};

	for_each_word(match_key, &g);
	if (!g.found)
		return -1;
	if (size) {
		size_t n = g.val_len < size - 1 ? g.val_len : size - 1;

		memcpy(buf, g.val, n);
		buf[n] = '\0';
	}
	return (int)g.val_len;
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

/* Decimal or 0x-hex; false on no digits or overflow. */
static bool parse_number(const char *s, uint64_t *val, const char **end)
{
	unsigned int base = 10;
	uint64_t v = 0;
	const char *p = s;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (digit_value(*p) >= (int)base)
		return false;
	for (int d; (d = digit_value(*p)) < (int)base; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
	}
	*val = v;
	*end = p;
	return true;
}

bool parse_size(const char *s, uint64_t *val, const char **end)
{
	uint64_t v;
	unsigned int shift = 0;
	const char *p;

	if (!parse_number(s, &v, &p))
		return false;
	switch (*p) {
	case 'G':
	case 'g':
		shift = 30;
		p++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		p++;
		break;
	case 'K':
	case 'k':
		shift = 10;
		p++;
		break;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*val = v << shift;
	*end = p;
	return true;
}

bool cmdline_get_u64(const char *key, uint64_t *val)
{
	char buf[32];
	const char *end;
	int n = cmdline_get(key, buf, sizeof(buf));

	if (n <= 0 || n >= (int)sizeof(buf))
		return false;
	return parse_number(buf, val, &end) && *end == '\0';
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

	for_each_word(match_virtio, &v);
	if (malformed)
		*malformed = v.malformed;
	return v.found;
}
