/* libFuzzer target (make fuzz): schema files (simlog-schema(5)), through
 * the public parser only: any bytes give a schema or an error naming the
 * file and line, and nothing else. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema.h"
#include "simlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[96];
	struct simlog_schema *s;
	struct simlog_err e;
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/simlog-fuzz.%d.schema",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if ((s = simlog_schema_load(path, &e)) == NULL) {
		if (strstr(e.msg, path) == NULL)
			abort();	/* an error names the file */
	} else
		simlog_schema_free(s);
	unlink(path);
	return 0;
}
