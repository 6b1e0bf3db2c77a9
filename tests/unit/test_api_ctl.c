/* `minivmm ctl` (vmm/ctl_client.c): the request it builds from its words. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "vmm/ctl_client.h"

static const char *request_text(const char *cmd, int n, char *const *fields, char *err)
{
	static char text[512];
	struct json_object *req = ctl_build_request(cmd, n, fields, err, 256);

	if (!req)
		return NULL;
	snprintf(text, sizeof(text), "%s",
		 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	return text;
}

START_TEST(test_fields_typed)
{
	char *fields[] = {"timeout_s=5", "flag=true", "name=vda", "neg=-3", "empty="};
	char err[256];

	ck_assert_str_eq(request_text("status", 0, NULL, err), "{\"cmd\":\"status\"}");
	ck_assert_str_eq(request_text("stop", 5, fields, err),
			 "{\"cmd\":\"stop\",\"timeout_s\":5,\"flag\":true,\"name\":\"vda\","
			 "\"neg\":-3,\"empty\":\"\"}");
}
END_TEST

START_TEST(test_bad_fields)
{
	char *no_value[] = {"timeout_s"}, *no_key[] = {"=5"}, *twice[] = {"a=1", "a=2"},
	     *cmd[] = {"cmd=stats"};
	char err[256];

	ck_assert_ptr_null(request_text("stop", 1, no_value, err));
	ck_assert_str_eq(err, "'timeout_s': expected FIELD=VALUE");
	ck_assert_ptr_null(request_text("stop", 1, no_key, err));
	ck_assert_ptr_null(request_text("stop", 2, twice, err));
	ck_assert_str_eq(err, "'a=2': field a given twice");
	ck_assert_ptr_null(request_text("stop", 1, cmd, err));
}
END_TEST

Suite *api_ctl_suite(void)
{
	return unit_suite("api_ctl", NULL, NULL, UNIT_TESTS(test_fields_typed, test_bad_fields));
}
