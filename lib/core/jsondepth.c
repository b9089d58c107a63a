/*
 * How deep the arrays and objects of a JSON text nest, counted without
 * parsing it. cJSON recurses once per level (parsing, printing, freeing),
 * so a few hundred brackets overflow a small thread stack: CivetWeb's
 * workers have 100 KiB. Every caller checks the depth before cJSON sees a
 * text it did not write itself.
 */
#include "core/core.h"

size_t dbs__json_too_deep(const char *text, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			/* An escape hides the character after it, quote included. */
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return i;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return len;
}

DBS_API int dbs_json_check_depth(const char *text, size_t len)
{
	if (text == NULL && len > 0)
		return dbs__error_set(DBS_EINVAL, "dbs_json_check_depth: text is NULL");
	size_t at = dbs__json_too_deep(text, len, DBS_JSON_DEPTH_MAX);
	if (at < len)
		return dbs__error_set(DBS_ECONFIG,
		                      "arrays and objects nested deeper than %d levels at byte %zu",
		                      DBS_JSON_DEPTH_MAX, at);
	dbs__error_clear();
	return 0;
}
