/* libFuzzer target (make fuzz): a spool segment as replay and
 * --spool-status read it.  Whatever its bytes, the records it gives are
 * readable chunks' and no loss is counted larger than the file could
 * have held. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simlog.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static int
check(void *arg, const struct simlog_spool_stat *st)
{
	size_t len = *(size_t *)arg;

	/* 86 records a byte at most (lib/spool.c), per gap and per frame;
	 * a count from the name may claim a segment's largest size. */
	if (st->loss.records > 96 * (uint64_t)len + 86 &&
	    st->loss.records > 86ull * (1ull << 30))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128];
	FILE *f;
	size_t len;

	if (size < 1)
		return 0;
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/simlog-fuzz-spool.%d",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
		mkdir(dir, 0700);
	}
	/* The first byte picks a name: an open segment, or a closed one
	 * whose name says how many records it holds. */
	if (data[0] & 1)
		snprintf(path, sizeof(path), "%s/1-1-1.n%u.seg", dir,
		    (unsigned)data[0] * 1000003u);
	else
		snprintf(path, sizeof(path), "%s/1-1-1.seg", dir);
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	len = size - 1;
	fwrite(data + 1, 1, len, f);
	fclose(f);
	simlog_spool_status(dir, check, &len);
	unlink(path);
	return 0;
}
