#include "cpu_list.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The len bytes at s as a CPU number: false unless they are 1+ decimal digits. Saturates. */
static bool cpu_list_number(const char *s, size_t len, unsigned long *out)
{
	unsigned long value = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		/* Anything this big is out of range anyway; stop before it wraps. */
		if (value < CPU_SETSIZE)
			value = value * 10 + (unsigned long)(s[i] - '0');
	}
	*out = value;
	return true;
}

/* One entry, "N" or "N-M", into set.  0, or -1 with why filled. */
static int cpu_list_entry(const char *s, size_t len, cpu_set_t *set, char *why, size_t whylen)
{
	const char *dash = memchr(s, '-', len);
	size_t lo_len = dash ? (size_t)(dash - s) : len;
	unsigned long lo = 0, hi = 0;
	bool ok;

	if (len == 0) {
		snprintf(why, whylen, "empty entry in the CPU list (stray comma?)");
		return -1;
	}
	ok = cpu_list_number(s, lo_len, &lo);
	if (ok && dash)
		ok = cpu_list_number(dash + 1, len - lo_len - 1, &hi);
	else if (ok)
		hi = lo;
	if (!ok) {
		snprintf(why, whylen, "'%.*s' is not a CPU number or range (expected N or N-M)",
			 (int)len, s);
		return -1;
	}
	if (lo >= CPU_SETSIZE || hi >= CPU_SETSIZE) {
		const char *big = lo >= CPU_SETSIZE ? s : dash + 1;
		size_t big_len = lo >= CPU_SETSIZE ? lo_len : len - lo_len - 1;

		snprintf(why, whylen, "CPU %.*s is out of range (CPU numbers go from 0 to %d)",
			 (int)big_len, big, CPU_SETSIZE - 1);
		return -1;
	}
	if (hi < lo) {
		snprintf(why, whylen, "range '%.*s' runs backwards", (int)len, s);
		return -1;
	}
	for (unsigned long c = lo; c <= hi; c++)
		CPU_SET(c, set);
	return 0;
}

int cpu_list_parse(const char *s, size_t len, cpu_set_t *out, char *why, size_t whylen)
{
	const char *end = s + len;
	cpu_set_t set;

	if (len == 0) {
		snprintf(why, whylen, "empty CPU list");
		return -1;
	}
	CPU_ZERO(&set);
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *entry_end = comma ? comma : end;

		if (cpu_list_entry(s, (size_t)(entry_end - s), &set, why, whylen))
			return -1;
		if (!comma)
			break;
		s = comma + 1;
	}
	*out = set;
	return 0;
}

size_t cpu_list_format(const cpu_set_t *set, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int last = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		/* Past the end of buf, only count: snprintf(NULL, 0) writes nothing. */
		char *at = n < size ? buf + n : NULL;
		size_t room = n < size ? size - n : 0;
		const char *sep = n ? "," : "";

		if (last > c)
			n += (size_t)snprintf(at, room, "%s%d-%d", sep, c, last);
		else
			n += (size_t)snprintf(at, room, "%s%d", sep, c);
		c = last;
	}
	return n;
}
