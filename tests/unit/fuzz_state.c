/* libFuzzer target (make fuzz): the state codec, for values read back from
 * Redis, and the batch-line parser.  A stored value decodes to at most the
 * recorded size, and only with the recorded checksum; what is compressed
 * decompresses to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simlog_state.h"
#include "state_codec.h"
#include "state_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed p[0..n) in up to three pieces, cut where the input says. */
static int
decode(enum simlog_state_comp c, uint64_t sz, uint64_t stored, uint32_t crc,
       const char *p, size_t n, unsigned cut, char **raw, size_t *len)
{
	struct simlog_err e;
	struct simlog_state_dec *d = simlog_state_dec_new(c, sz, stored, &e);
	size_t a = n ? cut % (n + 1) : 0, b = n ? (cut / 7) % (n + 1) : 0;
	int rc;

	if (d == NULL)
		return -1;
	if (b < a)
		b = a;
	rc = simlog_state_dec_feed(d, p, a, &e);
	if (rc == 0)
		rc = simlog_state_dec_feed(d, p + a, b - a, &e);
	if (rc == 0)
		rc = simlog_state_dec_feed(d, p + b, n - b, &e);
	if (rc == 0)
		rc = simlog_state_dec_finish(d, crc, raw, len, &e);
	simlog_state_dec_free(d);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct simlog_state_enc *enc;
	struct simlog_state_batch b;
	struct simlog_err e;
	const char *why, *p;
	char *raw, *out;
	size_t len, outlen, n;
	uint64_t sz;
	uint32_t crc;
	enum simlog_state_comp c;

	if (size < 12)
		return 0;
	if (enc == NULL && (enc = simlog_state_enc_new()) == NULL)
		abort();
	/* byte 0: compression; 1-3: the recorded size (up to 1 MiB);
	 * 4-7: the checksum; 8-11: where to cut; the rest: the value. */
	c = (enum simlog_state_comp)(data[0] % 3);
	sz = (uint64_t)data[1] | (uint64_t)data[2] << 8 |
	    (uint64_t)(data[3] & 15) << 16;
	memcpy(&crc, data + 4, 4);
	p = (const char *)data + 12;
	n = size - 12;
	if (decode(c, sz, n, crc, p, n, (unsigned)data[8] |
	    (unsigned)data[9] << 8, &raw, &len) == 0) {
		if (len != sz || simlog_state_crc32(raw, len) != crc)
			abort();
		free(raw);
	}
	/* Every compression takes the value back to itself. */
	if (simlog_state_compress(enc, c, p, n, &out, &outlen, &e) < 0)
		abort();
	if (decode(c, n, outlen, simlog_state_crc32(p, n), out ? out : p,
	    outlen, data[10], &raw, &len) < 0 || len != n ||
	    memcmp(raw, p, n) != 0)
		abort();
	free(raw);
	free(out);
	/* The same bytes as a batch line. */
	simlog_state_batch_parse(p, n, data[11] & 1, &b, &why);
	return 0;
}
