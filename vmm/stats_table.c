/*
 * The human form of a --stats report, generated from the JSON document so
 * that the two never disagree: one block per top-level section, one line
 * per entry, nested objects flattened into dotted keys ("exits.mmio=12").
 */
#include <json-c/json.h>
#include <string.h>

#include "stats.h"

/* One value: numbers and booleans as JSON writes them, strings bare unless they hold spaces. */
static void table_value(FILE *out, const char *key, struct json_object *v)
{
	const char *s;

	switch (json_object_get_type(v)) {
	case json_type_null:
		fputs("-", out);
		break;
	case json_type_string:
		s = json_object_get_string(v);
		fprintf(out, strpbrk(s, " \t") || !*s ? "\"%s\"" : "%s", s);
		break;
	case json_type_int:
		/* Addresses read better in hex. */
		if (!strcmp(key, "base"))
			fprintf(out, "0x%llx", (unsigned long long)json_object_get_uint64(v));
		else
			fputs(json_object_to_json_string(v), out);
		break;
	default:
		fputs(json_object_to_json_string(v), out);
	}
}

static bool table_is_scalar(struct json_object *v)
{
	enum json_type t = json_object_get_type(v);

	return t != json_type_object && t != json_type_array;
}

/* " prefix.key=value" for every scalar below v. */
static void table_flatten(FILE *out, const char *prefix, const char *key, struct json_object *v)
{
	char path[256];

	if (table_is_scalar(v)) {
		fprintf(out, " %s=", prefix);
		table_value(out, key, v);
		return;
	}
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		bool scalars = true;

		for (size_t i = 0; i < n; i++)
			scalars = scalars && table_is_scalar(json_object_array_get_idx(v, i));
		if (scalars) {
			fprintf(out, " %s=", prefix);
			for (size_t i = 0; i < n; i++) {
				fputs(i ? "," : "", out);
				table_value(out, key, json_object_array_get_idx(v, i));
			}
			return;
		}
		for (size_t i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s[%zu]", prefix, i);
			table_flatten(out, path, key, json_object_array_get_idx(v, i));
		}
		return;
	}
	json_object_object_foreach(v, k, child)
	{
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		table_flatten(out, path, k, child);
	}
}

/* A list of objects: one line each, led by its name (or index). */
static void table_rows(FILE *out, const char *label, struct json_object *array)
{
	for (size_t i = 0; i < json_object_array_length(array); i++) {
		struct json_object *row = json_object_array_get_idx(array, i), *name;

		bool named = json_object_object_get_ex(row, "name", &name);

		if (named)
			fprintf(out, "  %s:", json_object_get_string(name));
		else
			fprintf(out, "  %s[%zu]:", label, i);
		json_object_object_foreach(row, k, v)
		{
			if (!named || strcmp(k, "name"))
				table_flatten(out, k, k, v);
		}
		fputc('\n', out);
	}
}

static void table_section(FILE *out, const char *name, struct json_object *v)
{
	bool scalars = false;

	fprintf(out, "%s:\n", name);
	if (json_object_is_type(v, json_type_array)) {
		table_rows(out, name, v);
		return;
	}
	/* Scalars of the section on its first line, then one line per member object. */
	json_object_object_foreach(v, k1, m1)
	{
		if (!table_is_scalar(m1))
			continue;
		fputs(scalars ? "" : " ", out);
		scalars = true;
		table_flatten(out, k1, k1, m1);
	}
	if (scalars)
		fputc('\n', out);
	json_object_object_foreach(v, k2, m2)
	{
		if (table_is_scalar(m2))
			continue;
		if (json_object_is_type(m2, json_type_array) && json_object_array_length(m2) &&
		    json_object_is_type(json_object_array_get_idx(m2, 0), json_type_object)) {
			table_rows(out, k2, m2);
			continue;
		}
		if (json_object_is_type(m2, json_type_array) && !json_object_array_length(m2)) {
			fprintf(out, "  %s: none\n", k2);
			continue;
		}
		fprintf(out, "  %s:", k2);
		table_flatten(out, "", k2, m2);
		fputc('\n', out);
	}
}

void stats_print_table(struct json_object *doc, FILE *out)
{
	struct json_object *v;

	fprintf(out, "minivmm statistics (%s version %d)\n",
		json_object_object_get_ex(doc, "format", &v) ? json_object_get_string(v) : "?",
		json_object_object_get_ex(doc, "version", &v) ? json_object_get_int(v) : 0);
	json_object_object_foreach(doc, key, val)
	{
		if (!table_is_scalar(val))
			table_section(out, key, val);
	}
	fflush(out);
}
