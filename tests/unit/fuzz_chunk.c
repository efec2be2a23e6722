/* libFuzzer target (make fuzz): chunk decoding, for chunks read from Redis
 * or a spool.  A chunk that decodes keeps every bound of simlog(7), and
 * its records, added to a new chunk and sealed, decode to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "simlog.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct simlog_chunk ch, again, back;
	struct simlog_err e;
	const char *type, *json, *why;
	size_t tlen, jlen, pos = 0;
	char *copy = malloc(size ? size : 1);	/* exact size: ASan sees overruns */
	uint32_t n = 0;

	memcpy(copy, data, size);
	if (simlog_chunk_decode(&ch, copy, size, &e) < 0) {
		if (e.code != SIMLOG_EX_DATAERR && e.code != SIMLOG_EX_SOFTWARE)
			abort();
		free(copy);
		return 0;
	}
	if (ch.ntypes > SIMLOG_CHUNK_MAXTYPES)
		abort();
	simlog_chunk_reset(&again);
	while (simlog_chunk_next(&ch, &pos, &type, &tlen, &json, &jlen) > 0) {
		if (simlog_valid_type(type, tlen, &why) < 0 ||
		    jlen > SIMLOG_RECORD_MAX ||
		    simlog_chunk_add(&again, type, tlen, json, jlen) < 0)
			abort();
		n++;
	}
	if (n != ch.records || pos != ch.rawlen ||
	    simlog_chunk_seal(&again, ch.id, (size & 1 ? SIMLOG_SEAL_LZ4 : 0) |
	    (ch.checked ? SIMLOG_SEAL_CHECKED : 0)) < 0 ||
	    simlog_chunk_decode(&back, again.enc, again.enclen, &e) < 0 ||
	    back.rawlen != ch.rawlen || back.records != ch.records ||
	    back.ntypes != ch.ntypes || back.checked != ch.checked ||
	    memcmp(back.raw, ch.raw, ch.rawlen) != 0)
		abort();
	free(copy);
	return 0;
}
