/* Counters named once (vmm/core/counters.h): the X-macro list drives the fields and the report. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "helpers.h"
#include "util.h"

#define DEMO_COUNTERS(X) X(frames) X(bytes) X(drops)
struct demo_counters {
	DEMO_COUNTERS(COUNTER_FIELD)
};
#define DEMO_COUNTER_DESC(name) COUNTER_DESC(struct demo_counters, name)
static const struct counter_desc demo_descs[] = {DEMO_COUNTERS(DEMO_COUNTER_DESC)};

START_TEST(test_fields_and_table_agree)
{
	struct demo_counters c;

	memset(&c, 0, sizeof(c));
	counter_add(&c.frames, 3);
	counter_add(&c.bytes, 1500);
	counter_add(&c.bytes, 64);
	ck_assert_uint_eq(ARRAY_SIZE(demo_descs), 3);
	ck_assert_str_eq(demo_descs[1].name, "bytes");
	ck_assert_uint_eq(counters_value(&c, &demo_descs[0]), 3);
	ck_assert_uint_eq(counters_value(&c, &demo_descs[1]), 1564);
	ck_assert_uint_eq(counters_value(&c, &demo_descs[2]), 0);
}
END_TEST

START_TEST(test_json_in_table_order)
{
	struct demo_counters c;
	struct json_object *obj = json_object_new_object();

	memset(&c, 0, sizeof(c));
	counter_add(&c.drops, 7);
	counter_add(&c.frames, 1);
	counters_to_json(obj, &c, demo_descs, ARRAY_SIZE(demo_descs));
	ck_assert_str_eq(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN),
			 "{\"frames\":1,\"bytes\":0,\"drops\":7}");
	json_object_put(obj);
}
END_TEST

Suite *counters_suite(void)
{
	Suite *s = suite_create("counters");

	unit_tcase(s, "core", NULL, NULL,
		   UNIT_TESTS(test_fields_and_table_agree, test_json_in_table_order));
	return s;
}
