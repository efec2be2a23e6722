/* The buffer format: round trips, tallies, and corruption caught. */
#include <stdlib.h>

#include "chunk.h"
#include "simlog.h"
#include "tap.h"

static void
fill(struct simlog_chunk *ch, int n)
{
	char json[128];

	for (int i = 0; i < n; i++) {
		const char *type = i % 3 == 0 ? "agent" : "action";
		int len = snprintf(json, sizeof(json),
		    "{\"type\":\"%s\",\"i\":%d,\"pad\":\"%0*d\"}", type, i,
		    i % 50, 7);

		simlog_chunk_add(ch, type, strlen(type), json, (size_t)len);
	}
}

static int
same_records(const struct simlog_chunk *a, const struct simlog_chunk *b)
{
	return a->rawlen == b->rawlen && memcmp(a->raw, b->raw, a->rawlen) == 0 &&
	    a->records == b->records;
}

int
main(void)
{
	struct simlog_chunk a, b;
	struct simlog_idgen g;
	struct simlog_err e;
	unsigned char id[SIMLOG_BATCH_ID_LEN], id2[SIMLOG_BATCH_ID_LEN];
	const char *type, *json;
	size_t tlen, jlen, pos = 0;
	char *bad;

	simlog_chunk_init(&a);
	simlog_chunk_init(&b);
	ok(simlog_idgen_init(&g) == 0, "id generator");
	simlog_idgen_next(&g, id);
	simlog_idgen_next(&g, id2);
	ok(memcmp(id, id2, 8) == 0 && memcmp(id, id2, 16) != 0,
	    "batch ids share the producer prefix and differ");
	ok(id2[15] == 2 && id[15] == 1, "sequence is big-endian, counts up");

	fill(&a, 300);
	ok(a.records == 300, "300 records added");
	ok(a.ntypes == 2 && a.types[0].records == 100 &&
	    a.types[1].records == 200, "per-type tallies");
	ok(simlog_chunk_seal(&a, id, SIMLOG_SEAL_LZ4) == 0, "seal with LZ4");
	ok(a.enclen < a.rawlen / 2, "compressed: %zu of %zu bytes", a.enclen,
	    a.rawlen);
	ok(simlog_chunk_decode(&b, a.enc, a.enclen, &e) == 0, "decode");
	ok(same_records(&a, &b), "round trip is exact");
	ok(memcmp(b.id, id, sizeof(id)) == 0, "batch id kept");
	ok(b.checked == 0, "a chunk sealed without SIMLOG_SEAL_CHECKED is not "
	    "taken as checked");
	ok(b.ntypes == 2 && b.types[0].records == 100 &&
	    b.types[0].bytes == a.types[0].bytes, "tallies rebuilt on decode");
	ok(simlog_chunk_next(&b, &pos, &type, &tlen, &json, &jlen) == 1 &&
	    tlen == 5 && memcmp(type, "agent", 5) == 0 &&
	    memcmp(json, "{\"type\":\"agent\",\"i\":0,", 22) == 0,
	    "first record iterates back");

	/* Every flipped byte is caught (header, payload, checksum), or leaves
	 * the records intact (an LZ4 match offset that points at equal bytes). */
	bad = malloc(a.enclen);
	int caught = 0;
	for (size_t i = 0; i < a.enclen; i++) {
		memcpy(bad, a.enc, a.enclen);
		bad[i] ^= 0x20;
		if (i >= 8 && i < 24) {
			caught++;	/* the batch id is not checksummed */
			continue;
		}
		if (simlog_chunk_decode(&b, bad, a.enclen, &e) < 0 ||
		    same_records(&a, &b))
			caught++;
	}
	ok(caught == (int)a.enclen, "every flipped byte caught (%d of %zu)",
	    caught, a.enclen);
	ok(simlog_chunk_decode(&b, a.enc, a.enclen - 1, &e) < 0,
	    "truncated chunk refused: %s", e.msg);
	ok(simlog_chunk_decode(&b, a.enc, 10, &e) < 0 &&
	    e.code == SIMLOG_EX_DATAERR, "short chunk refused");
	memcpy(bad, a.enc, a.enclen);
	bad[3] = 9;
	ok(simlog_chunk_decode(&b, bad, a.enclen, &e) < 0 &&
	    strstr(e.msg, "version 9") != NULL, "unknown version named");
	/* A header that lies about the size does not make us allocate it. */
	memcpy(bad, a.enc, a.enclen);
	bad[31] = 0x7f;
	ok(simlog_chunk_decode(&b, bad, a.enclen, &e) < 0, "huge size refused");
	free(bad);

	/* A chunk whose writer checked its records says so, under its
	 * checksum: the flag flipped either way is a mismatch. */
	simlog_chunk_reset(&a);
	fill(&a, 40);
	ok(simlog_chunk_seal(&a, id, SIMLOG_SEAL_LZ4 | SIMLOG_SEAL_CHECKED) ==
	    0 && (a.enc[4] & 3) == 3, "sealed as checked: flags LZ4 and "
	    "checked");
	ok(simlog_chunk_decode(&b, a.enc, a.enclen, &e) == 0 && b.checked &&
	    same_records(&a, &b), "decoded as checked, records exact");
	bad = malloc(a.enclen);
	memcpy(bad, a.enc, a.enclen);
	bad[4] &= ~2;
	ok(simlog_chunk_decode(&b, bad, a.enclen, &e) < 0 &&
	    strstr(e.msg, "checksum") != NULL, "checked flag cleared: %s",
	    e.msg);
	simlog_chunk_reset(&a);
	fill(&a, 40);
	ok(simlog_chunk_seal(&a, id, SIMLOG_SEAL_LZ4) == 0, "sealed unchecked");
	memcpy(bad, a.enc, a.enclen);
	bad[4] |= 2;
	ok(simlog_chunk_decode(&b, bad, a.enclen, &e) < 0 &&
	    strstr(e.msg, "checksum") != NULL, "checked flag set on an "
	    "unchecked chunk: %s", e.msg);
	memcpy(bad, a.enc, a.enclen);
	bad[4] |= 4;
	ok(simlog_chunk_decode(&b, bad, a.enclen, &e) < 0 &&
	    strstr(e.msg, "unknown flags") != NULL, "a flag of no meaning: %s",
	    e.msg);
	free(bad);

	/* Incompressible payloads are stored raw. */
	simlog_chunk_reset(&a);
	simlog_chunk_add(&a, "t", 1, "{}", 2);
	ok(simlog_chunk_seal(&a, id, SIMLOG_SEAL_LZ4) == 0 && (a.enc[4] & 1) == 0 &&
	    a.enclen == SIMLOG_CHUNK_HDR + 5, "tiny chunk stored raw");
	ok(simlog_chunk_decode(&b, a.enc, a.enclen, &e) == 0 &&
	    same_records(&a, &b), "raw chunk round trip");
	simlog_chunk_reset(&a);
	ok(simlog_chunk_seal(&a, id, SIMLOG_SEAL_LZ4) == 0 &&
	    simlog_chunk_decode(&b, a.enc, a.enclen, &e) == 0 && b.records == 0,
	    "empty chunk round trip");

	simlog_chunk_clear(&a);
	simlog_chunk_clear(&b);
	simlog_chunk_clear(NULL);
	return tap_done();
}
