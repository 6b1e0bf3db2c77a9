/*
 * The command line's key=value words, for both runtimes: each supplies
 * cmdline() (x86 from boot_params, arm64 from /chosen/bootargs), this reads
 * it.  Whitespace-separated words, no quoting, the last occurrence of a key
 * wins.
 */
#include <rt.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

void cmdline_for_each_word(void (*fn)(const char *w, size_t n, void *ctx), void *ctx)
{
	const char *p = cmdline();
	const char *end = p + RT_CMDLINE_MAX;

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

	cmdline_for_each_word(match_key, &g);
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

bool parse_number(const char *s, uint64_t *val, const char **end)
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
