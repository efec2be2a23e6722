/* libFuzzer target (make fuzz): the record scanner must agree with jansson
 * on every input, and never read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "simlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	if (got != want)
		abort();
	json_decref(root);
	free(copy);
	return 0;
}
