/*
 * JSON numbers written with a fixed number of decimals: json-c writes a
 * double's shortest exact form (0.014017445999999999), which no reader wants.
 */
#ifndef MINIVMM_JSON_NUMBER_H
#define MINIVMM_JSON_NUMBER_H

#include <json-c/json.h>

/* A JSON number with @value, written with @decimals digits after the point. */
struct json_object *json_fixed_double(double value, int decimals);

#endif
