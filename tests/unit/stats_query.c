#include "stats_query.h"

#include <check.h>
#include <string.h>

#include "vm.h"
#include "vmm/stats.h"

struct json_object *unit_device_stats(struct vm *vm, const char *device)
{
	struct json_object *devices = stats_devices(vm), *dev = NULL;

	ck_assert_msg(json_object_object_get_ex(devices, device, &dev), "no stats for %s: %s",
		      device, json_object_to_json_string(devices));
	json_object_get(dev);
	json_object_put(devices);
	return dev;
}

struct json_object *unit_json_at(struct json_object *obj, const char *path)
{
	struct json_object *child;
	char key[128];

	if (!obj || !*path)
		return obj;
	/* The whole rest as one key first: register names such as "TDT.w" hold dots. */
	if (json_object_object_get_ex(obj, path, &child))
		return child;
	for (const char *dot = strchr(path, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t len = (size_t)(dot - path);

		if (len >= sizeof(key))
			break;
		memcpy(key, path, len);
		key[len] = '\0';
		if (json_object_object_get_ex(obj, key, &child))
			return unit_json_at(child, dot + 1);
	}
	return NULL;
}

uint64_t unit_json_u64(struct json_object *obj, const char *path)
{
	struct json_object *v = unit_json_at(obj, path);

	ck_assert_msg(v && json_object_is_type(v, json_type_int), "no number at %s in %s", path,
		      json_object_to_json_string(obj));
	return json_object_get_uint64(v);
}

const char *unit_json_str(struct json_object *obj, const char *path)
{
	struct json_object *v = unit_json_at(obj, path);

	ck_assert_msg(v && json_object_is_type(v, json_type_string), "no string at %s in %s", path,
		      json_object_to_json_string(obj));
	return json_object_get_string(v);
}
