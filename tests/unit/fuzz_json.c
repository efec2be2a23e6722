/* libFuzzer target (make fuzz): the record scanner must agree with jansson
 * on every input, and never read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "simlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Whether a NUL byte stands outside every string.  JSON allows none
 * there, but jansson 2.14 takes one right after a number as its end
 * ({"":3\0} loads), so where simlog rejects such input jansson is wrong.
 */
static int
nul_outside_strings(const uint8_t *p, size_t n)
{
	int in_string = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_string = 0;
		} else if (p[i] == '"')
			in_string = 1;
		else if (p[i] == '\0')
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct simlog_jfield f;
	json_error_t e;
	const char *why;
	size_t at;
	char *copy = malloc(size ? size : 1);	/* exact size: ASan sees overruns */
	json_t *root;
	int got, want;

	memcpy(copy, data, size);
	got = simlog_json_scan(copy, size, "type", 4, &f, &why, &at) == 0;
	root = json_loadb(copy, size, 0, &e);
	want = root != NULL && json_is_object(root);
	if (root == NULL && (strstr(e.text, "too big") || strstr(e.text,
	    "overflow") || strstr(e.text, "too deep")))
		want = got;
	if (root != NULL && nul_outside_strings(data, size))
		want = 0;
	if (got != want)
		abort();
	json_decref(root);
	free(copy);
	return 0;
}
