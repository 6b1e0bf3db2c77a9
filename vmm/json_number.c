/* Fixed-decimal JSON numbers (json_number.h). */
#include "json_number.h"

#include <stdio.h>

struct json_object *json_fixed_double(double value, int decimals)
{
	char text[64];

	snprintf(text, sizeof(text), "%.*f", decimals, value);
	return json_object_new_double_s(value, text);
}
