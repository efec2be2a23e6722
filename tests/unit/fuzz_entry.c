/* libFuzzer target (make fuzz): what a drain does with a reply of XRANGE
 * from Redis (RESP bytes): entries parsed, each within the bounds of
 * simlog(7) or refused, its chunk decoded and each record looked at as a
 * schema-less drain would (a JSON object in UTF-8, else a dead letter). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "chunk.h"
#include "json.h"
#include "queue.h"
#include "simlog.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drain_entry(struct simlog_chunk *ch, const struct simlog_entry *ent)
{
	struct simlog_err e;
	struct simlog_jfield f;
	const char *type, *json, *why;
	size_t tlen, jlen, pos = 0, at;

	if (ent->nfields > SIMLOG_ENTRY_MAXFIELDS || ent->data == NULL ||
	    simlog_chunk_decode(ch, ent->data, ent->len, &e) < 0)
		return;		/* set aside */
	while (simlog_chunk_next(ch, &pos, &type, &tlen, &json, &jlen) > 0) {
		if (simlog_valid_type(type, tlen, &why) < 0)
			abort();
		if (simlog_json_scan(json, jlen, NULL, 0, &f, &why, &at) == 0 &&
		    !simlog_utf8_text(json, jlen))
			abort();	/* valid JSON is UTF-8 text */
	}
}

/*
 * Whether an array header claims more elements than the input has bytes:
 * hiredis 0.14 allocates what it is told (a Redis server is trusted that
 * far), which is hiredis's matter, not the drain's.
 */
static int
claims_too_much(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned long long v = 0;
		size_t j;

		if (p[i] != '*' || (i > 0 && p[i - 1] != '\n'))
			continue;
		for (j = i + 1; j < n && p[j] >= '0' && p[j] <= '9' &&
		    v <= n; j++)
			v = v * 10 + (p[j] - '0');
		if (v > n)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct simlog_chunk ch;
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;
	struct simlog_entry *ents;
	size_t n;

	if (rd == NULL)
		return 0;
	if (claims_too_much(data, size)) {
		redisReaderFree(rd);
		return 0;
	}
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK &&
	    redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
		if (simlog_queue_entries(reply, &ents, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				drain_entry(&ch, &ents[i]);
			simlog_entries_free(ents, n);
		}
		freeReplyObject(reply);
	}
	redisReaderFree(rd);
	return 0;
}
