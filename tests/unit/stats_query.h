/* Reading --stats reports in unit tests: a device's object, values by dotted path. */
#ifndef MINIVMM_TEST_STATS_QUERY_H
#define MINIVMM_TEST_STATS_QUERY_H

#include <json-c/json.h>
#include <stdint.h>

struct vm;

/* What the reporters registered on vm say about `device` (json_object_put it). */
struct json_object *unit_device_stats(struct vm *vm, const char *device);

/* The value at "a.b.c" below obj, or NULL.  Keys may hold dots if no prefix matches ("TDT.w"). */
struct json_object *unit_json_at(struct json_object *obj, const char *path);

/* The number / string at path; the test fails if it is absent or of another type. */
uint64_t unit_json_u64(struct json_object *obj, const char *path);
const char *unit_json_str(struct json_object *obj, const char *path);

#endif
