#include "counters.h"

#include <json-c/json.h>

unsigned long counters_value(const void *counters, const struct counter_desc *desc)
{
	return counter_get((const counter_t *)((const char *)counters + desc->offset));
}

void counters_to_json(struct json_object *obj, const void *counters,
		      const struct counter_desc *descs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_object_add(obj, descs[i].name,
				       json_object_new_uint64(counters_value(counters, &descs[i])));
}
