#include "counters.h"

unsigned long counters_value(const void *counters, const struct counter_desc *desc)
{
	return counter_get((const counter_t *)((const char *)counters + desc->offset));
}

void counters_print(FILE *out, const void *counters, const struct counter_desc *descs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, " %s=%lu", descs[i].name, counters_value(counters, &descs[i]));
}
