/*
 * The buffer format: a chunk holds many records as "type\tjson\n" lines,
 * LZ4-compressed behind a fixed header (layout in simlog(7)):
 *
 *   0  4  "SLC" and format version 1
 *   4  1  flags: bit 0 = payload is an LZ4 block; bit 1 = the writer
 *         checked every record as a JSON object in UTF-8
 *   5  3  zero
 *   8 16  batch id (8 producer bytes, 64-bit big-endian sequence)
 *  24  4  record count, little-endian
 *  28  4  raw payload length, little-endian
 *  32  4  CRC-32 of the raw payload, little-endian (starting from
 *         CHECKED_CRC_SEED instead of 0 when bit 1 is set)
 *  36     payload
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <lz4.h>

#include "chunk.h"
#include "simlog.h"
#include "util.h"

#define FLAG_LZ4	1
#define FLAG_CHECKED	2

/* The CRC of a checked chunk starts here rather than at 0: a flag bit
 * flipped either way is a checksum mismatch, so a chunk nobody checked is
 * never taken for a checked one by accident. */
#define CHECKED_CRC_SEED 0x534c4332u

static int
grow(char **p, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	char *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if ((q = realloc(*p, n)) == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

void
simlog_chunk_init(struct simlog_chunk *ch)
{
	memset(ch, 0, sizeof(*ch));
}

void
simlog_chunk_clear(struct simlog_chunk *ch)
{
	if (ch == NULL)
		return;
	free(ch->raw);
	free(ch->types);
	free(ch->enc);
	memset(ch, 0, sizeof(*ch));
}

void
simlog_chunk_reset(struct simlog_chunk *ch)
{
	ch->records = 0;
	ch->rawlen = 0;
	ch->ntypes = 0;
	ch->checked = 0;
	ch->enclen = 0;
}

/* Count one record of type[0..tlen): 0, -1 out of memory, 1 a type beyond
 * SIMLOG_CHUNK_MAXTYPES, 2 a type that is not valid (*why says how).  A
 * type is checked when it is first met: the ones counted already are. */
static int
tally(struct simlog_chunk *ch, const char *type, size_t tlen, size_t bytes,
      const char **why)
{
	size_t i;

	/* Records of one type come in runs; look at the last one first.
	 * At most SIMLOG_CHUNK_MAXTYPES to look at: linear per record. */
	for (i = ch->ntypes; i-- > 0;) {
		struct simlog_typecount *t = &ch->types[i];

		if (tlen < sizeof(t->name) && memcmp(t->name, type, tlen) == 0 &&
		    t->name[tlen] == '\0') {
			t->records++;
			t->bytes += bytes;
			return 0;
		}
	}
	if (simlog_valid_type(type, tlen, why) < 0)
		return 2;
	if (ch->ntypes >= SIMLOG_CHUNK_MAXTYPES)
		return 1;
	if (ch->ntypes == ch->typecap) {
		size_t n = ch->typecap ? ch->typecap * 2 : 8;
		struct simlog_typecount *q = realloc(ch->types, n * sizeof(*q));

		if (q == NULL)
			return -1;
		ch->types = q;
		ch->typecap = n;
	}
	memcpy(ch->types[ch->ntypes].name, type, tlen);
	ch->types[ch->ntypes].name[tlen] = '\0';
	ch->types[ch->ntypes].records = 1;
	ch->types[ch->ntypes].bytes = bytes;
	ch->ntypes++;
	return 0;
}

int
simlog_chunk_add(struct simlog_chunk *ch, const char *type, size_t tlen,
		 const char *json, size_t jlen)
{
	size_t need = ch->rawlen + tlen + jlen + 2;
	const char *why;
	char *p;

	if (need > SIMLOG_CHUNK_MAXRAW || tlen >= sizeof(ch->types[0].name))
		return -1;
	if (grow(&ch->raw, &ch->rawcap, need) < 0)
		return -1;
	if (tally(ch, type, tlen, jlen, &why) != 0)
		return -1;
	p = ch->raw + ch->rawlen;
	memcpy(p, type, tlen);
	p[tlen] = '\t';
	memcpy(p + tlen + 1, json, jlen);
	p[tlen + 1 + jlen] = '\n';
	ch->rawlen = need;
	ch->records++;
	return 0;
}

int
simlog_chunk_seal(struct simlog_chunk *ch,
		  const unsigned char id[SIMLOG_BATCH_ID_LEN], unsigned how)
{
	int checked = (how & SIMLOG_SEAL_CHECKED) != 0;
	unsigned char *h;
	size_t bound = (size_t)LZ4_compressBound((int)ch->rawlen);
	int clen = 0;

	if (grow(&ch->enc, &ch->enccap, SIMLOG_CHUNK_HDR + bound) < 0)
		return -1;
	memcpy(ch->id, id, SIMLOG_BATCH_ID_LEN);
	h = (unsigned char *)ch->enc;
	memcpy(h, "SLC\001", 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, id, SIMLOG_BATCH_ID_LEN);
	put32le(h + 24, ch->records);
	put32le(h + 28, (uint32_t)ch->rawlen);
	put32le(h + 32, simlog_crc32(checked ? CHECKED_CRC_SEED : 0, ch->raw,
	    ch->rawlen));
	h[4] = checked ? FLAG_CHECKED : 0;
	if (how & SIMLOG_SEAL_LZ4)
		clen = LZ4_compress_default(ch->raw, ch->enc + SIMLOG_CHUNK_HDR,
		    (int)ch->rawlen, (int)bound);
	if (clen > 0 && (size_t)clen < ch->rawlen) {
		h[4] |= FLAG_LZ4;
		ch->enclen = SIMLOG_CHUNK_HDR + (size_t)clen;
	} else {
		/* An empty chunk may have no raw buffer at all. */
		if (ch->rawlen > 0)
			memcpy(ch->enc + SIMLOG_CHUNK_HDR, ch->raw, ch->rawlen);
		ch->enclen = SIMLOG_CHUNK_HDR + ch->rawlen;
	}
	return 0;
}

uint32_t
simlog_chunk_peek_records(const char *buf, size_t len)
{
	const unsigned char *h = (const unsigned char *)buf;

	if (buf == NULL || len < SIMLOG_CHUNK_HDR || memcmp(h, "SLC", 3) != 0)
		return 0;
	return get32le(h + 24);
}

/*
 * Every record of a decoded chunk as push would have written it: a valid
 * type (simlog_valid_type: by length, so a NUL inside is refused), at most
 * SIMLOG_RECORD_MAX bytes, at most SIMLOG_CHUNK_MAXTYPES types, and as many
 * records as the header says.  One pass, linear in the chunk's size.
 */
static int
check_records(struct simlog_chunk *ch, uint32_t nrec, struct simlog_err *err)
{
	const char *type, *json, *why;
	size_t tlen, jlen, pos = 0;
	int rc;

	while ((rc = simlog_chunk_next(ch, &pos, &type, &tlen, &json,
	    &jlen)) > 0) {
		rc = tally(ch, type, tlen, jlen, &why);
		if (rc == 2)
			return simlog_seterr(err, SIMLOG_EX_DATAERR, "record %u "
			    "has a record type that is not valid: %s",
			    ch->records + 1, why);
		if (jlen > SIMLOG_RECORD_MAX)
			return simlog_seterr(err, SIMLOG_EX_DATAERR, "record %u "
			    "is %zu bytes, more than a record may be (%u)",
			    ch->records + 1, jlen, SIMLOG_RECORD_MAX);
		if (rc < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		if (rc > 0)
			return simlog_seterr(err, SIMLOG_EX_DATAERR, "chunk "
			    "holds more than %d record types",
			    SIMLOG_CHUNK_MAXTYPES);
		ch->records++;
	}
	if (rc < 0 || ch->records != nrec)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk holds %s%u records, header says %u", rc < 0 ?
		    "a cut-off line after " : "", ch->records, nrec);
	return 0;
}

int
simlog_chunk_peek_id(const char *buf, size_t len,
		     unsigned char id[SIMLOG_BATCH_ID_LEN])
{
	if (buf == NULL || len < SIMLOG_CHUNK_HDR || memcmp(buf, "SLC", 3) != 0)
		return -1;
	memcpy(id, buf + 8, SIMLOG_BATCH_ID_LEN);
	return 0;
}

int
simlog_chunk_decode(struct simlog_chunk *ch, const char *buf, size_t len,
		    struct simlog_err *err)
{
	const unsigned char *h = (const unsigned char *)buf;
	uint32_t nrec, rawlen, crc;

	simlog_chunk_reset(ch);
	if (len < SIMLOG_CHUNK_HDR || memcmp(h, "SLC", 3) != 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "not a simlog chunk");
	if (h[3] != 1)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk format version %u is not supported", h[3]);
	if ((h[4] & ~(FLAG_LZ4 | FLAG_CHECKED)) != 0 || h[5] != 0 || h[6] != 0 || h[7] != 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk has unknown flags");
	nrec = get32le(h + 24);
	rawlen = get32le(h + 28);
	crc = get32le(h + 32);
	if (rawlen > SIMLOG_CHUNK_MAXRAW)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk claims %u bytes", rawlen);
	if (grow(&ch->raw, &ch->rawcap, rawlen ? rawlen : 1) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (len - SIMLOG_CHUNK_HDR > INT_MAX)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk of %zu bytes is too large", len);
	if (h[4] & FLAG_LZ4) {
		int n = LZ4_decompress_safe(buf + SIMLOG_CHUNK_HDR, ch->raw,
		    (int)(len - SIMLOG_CHUNK_HDR), (int)rawlen);

		if (n < 0 || (uint32_t)n != rawlen)
			return simlog_seterr(err, SIMLOG_EX_DATAERR,
			    "chunk does not decompress");
	} else {
		if (len - SIMLOG_CHUNK_HDR != rawlen)
			return simlog_seterr(err, SIMLOG_EX_DATAERR,
			    "chunk is truncated");
		memcpy(ch->raw, buf + SIMLOG_CHUNK_HDR, rawlen);
	}
	ch->rawlen = rawlen;
	ch->checked = (h[4] & FLAG_CHECKED) != 0;
	if (simlog_crc32(ch->checked ? CHECKED_CRC_SEED : 0, ch->raw,
	    rawlen) != crc)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "chunk checksum mismatch");
	memcpy(ch->id, h + 8, SIMLOG_BATCH_ID_LEN);
	return check_records(ch, nrec, err);
}

int
simlog_chunk_set_enc(struct simlog_chunk *ch, const char *enc, size_t len)
{
	if (grow(&ch->enc, &ch->enccap, len ? len : 1) < 0)
		return -1;
	memcpy(ch->enc, enc, len);
	ch->enclen = len;
	return 0;
}

int
simlog_chunk_next(const struct simlog_chunk *ch, size_t *pos,
		  const char **type, size_t *tlen, const char **json,
		  size_t *jlen)
{
	const char *p = ch->raw + *pos, *end = ch->raw + ch->rawlen;
	const char *tab, *nl;

	if (p >= end)
		return 0;
	if ((tab = memchr(p, '\t', (size_t)(end - p))) == NULL ||
	    (nl = memchr(tab, '\n', (size_t)(end - tab))) == NULL)
		return -1;
	*type = p;
	*tlen = (size_t)(tab - p);
	*json = tab + 1;
	*jlen = (size_t)(nl - tab - 1);
	*pos = (size_t)(nl + 1 - ch->raw);
	return 1;
}

int
simlog_idgen_init(struct simlog_idgen *g)
{
	size_t got = 0;

	while (got < sizeof(g->prefix)) {
		ssize_t n = getrandom(g->prefix + got, sizeof(g->prefix) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	g->seq = 0;
	return 0;
}

void
simlog_idgen_next(struct simlog_idgen *g, unsigned char out[SIMLOG_BATCH_ID_LEN])
{
	/* Threads of one producer share the generator. */
	uint64_t s = __atomic_add_fetch(&g->seq, 1, __ATOMIC_RELAXED);
	int i;

	memcpy(out, g->prefix, 8);
	for (i = 0; i < 8; i++)
		out[8 + i] = (unsigned char)(s >> (56 - 8 * i));
}
