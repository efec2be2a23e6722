/* State values: names, tags, checksums, and compression with decoding that
 * is bounded by the recorded size. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zlib.h>

#include "simlog_state.h"
#include "state_codec.h"
#include "util.h"

static int
name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	    c == '-';
}

static int
valid_name(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

int
simlog_state_valid_id(const char *s, size_t len)
{
	return valid_name(s, len, SIMLOG_STATE_IDMAX);
}

int
simlog_state_valid_tag(const char *s, size_t len)
{
	return valid_name(s, len, SIMLOG_STATE_TAGMAX);
}

static const char *const comp_names[] = { "none", "lz4", "zlib" };

int
simlog_state_comp_parse(const char *s, enum simlog_state_comp *c)
{
	size_t i;

	for (i = 0; i < sizeof(comp_names) / sizeof(comp_names[0]); i++)
		if (strcmp(s, comp_names[i]) == 0) {
			*c = (enum simlog_state_comp)i;
			return 0;
		}
	return -1;
}

const char *
simlog_state_comp_name(enum simlog_state_comp c)
{
	return (unsigned)c < sizeof(comp_names) / sizeof(comp_names[0]) ?
	    comp_names[c] : "unknown";
}

uint32_t
simlog_state_crc32(const void *p, size_t n)
{
	const unsigned char *b = p;
	uLong crc = crc32(0L, Z_NULL, 0);

	/* zlib takes a uInt length: feed large buffers in slices. */
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = crc32(crc, b, k);
		b += k;
		n -= k;
	}
	return (uint32_t)crc;
}

int
simlog_state_tags_has(const char *tags, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = tags;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);

		if (k == n && memcmp(p, tag, n) == 0)
			return 1;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return 0;
}

int
simlog_state_tags_add(char *tags, const char *tag, size_t len,
		      struct simlog_err *err)
{
	size_t have = strlen(tags), ntags = 0;
	char t[SIMLOG_STATE_TAGMAX + 1];
	const char *p;

	if (!simlog_state_valid_tag(tag, len))
		return simlog_seterr(err, SIMLOG_EX_USAGE, "invalid tag "
		    "'%.*s%s': use 1-%d of [A-Za-z0-9_.:-]",
		    (int)(len > 40 ? 40 : len), tag, len > 40 ? "..." : "",
		    SIMLOG_STATE_TAGMAX);
	memcpy(t, tag, len);
	t[len] = '\0';
	if (simlog_state_tags_has(tags, t))
		return 0;
	for (p = tags; *p != '\0'; p++)
		ntags += *p == ',';
	if (have > 0)
		ntags++;
	if (ntags >= SIMLOG_STATE_MAXTAGS)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "more than %d tags", SIMLOG_STATE_MAXTAGS);
	if (have > 0)
		tags[have++] = ',';
	memcpy(tags + have, t, len + 1);
	return 0;
}

struct simlog_state_enc {
	z_stream z;
	int zinit;
};

struct simlog_state_enc *
simlog_state_enc_new(void)
{
	return calloc(1, sizeof(struct simlog_state_enc));
}

void
simlog_state_enc_free(struct simlog_state_enc *e)
{
	if (e == NULL)
		return;
	if (e->zinit)
		deflateEnd(&e->z);
	free(e);
}

static int
deflate_all(struct simlog_state_enc *e, const char *raw, size_t len,
	    char **out, size_t *outlen, struct simlog_err *err)
{
	uLong bound;
	int rc;

	if (!e->zinit) {
		if (deflateInit(&e->z, Z_DEFAULT_COMPRESSION) != Z_OK)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		e->zinit = 1;
	} else if (deflateReset(&e->z) != Z_OK)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "zlib compression failed");
	bound = deflateBound(&e->z, (uLong)len);
	if ((*out = malloc(bound)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	/* len is at most SIMLOG_STATE_MAXSIZE, which fits a uInt. */
	e->z.next_in = (Bytef *)(uintptr_t)raw;
	e->z.avail_in = (uInt)len;
	e->z.next_out = (Bytef *)*out;
	e->z.avail_out = (uInt)bound;
	rc = deflate(&e->z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "zlib compression failed");
	}
	*outlen = (size_t)e->z.total_out;
	return 0;
}

int
simlog_state_compress(struct simlog_state_enc *enc, enum simlog_state_comp c,
		      const char *raw, size_t len, char **out, size_t *outlen,
		      struct simlog_err *err)
{
	*out = NULL;
	*outlen = len;
	if ((uint64_t)len > SIMLOG_STATE_MAXSIZE)
		return simlog_seterr(err, SIMLOG_EX_DATAERR,
		    "state of %zu bytes is larger than the limit of %llu",
		    len, (unsigned long long)SIMLOG_STATE_MAXSIZE);
	switch (c) {
	case SIMLOG_STATE_NONE:
		return 0;
	case SIMLOG_STATE_LZ4: {
		int bound = LZ4_compressBound((int)len), n;

		if (bound <= 0 || (*out = malloc((size_t)bound)) == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		n = LZ4_compress_default(raw, *out, (int)len, bound);
		if (n <= 0) {
			free(*out);
			*out = NULL;
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "LZ4 compression failed");
		}
		*outlen = (size_t)n;
		return 0;
	}
	case SIMLOG_STATE_ZLIB: {
		struct simlog_state_enc *e = enc ? enc : simlog_state_enc_new();
		int rc;

		if (e == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		rc = deflate_all(e, raw, len, out, outlen, err);
		if (e != enc)
			simlog_state_enc_free(e);
		return rc;
	}
	}
	return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "unknown compression");
}

struct simlog_state_dec {
	enum simlog_state_comp comp;
	size_t size, stored_size;
	char *raw;			/* size bytes (at least 1) */
	size_t rawlen;			/* produced so far */
	char *in;			/* LZ4: the stored value, gathered */
	size_t inlen;			/* bytes fed so far */
	z_stream z;
	int zinit, zend;
};

static int
corrupt(struct simlog_err *err, const char *why)
{
	return simlog_seterr(err, SIMLOG_EX_DATAERR,
	    "stored state is corrupt: %s", why);
}

struct simlog_state_dec *
simlog_state_dec_new(enum simlog_state_comp c, uint64_t size,
		     uint64_t stored_size, struct simlog_err *err)
{
	struct simlog_state_dec *d;

	if (size > SIMLOG_STATE_MAXSIZE || stored_size > SIMLOG_STATE_MAXSIZE +
	    SIMLOG_STATE_MAXSIZE / 64 + 4096) {
		corrupt(err, "recorded size out of range");
		return NULL;
	}
	if (c == SIMLOG_STATE_NONE && stored_size != size) {
		corrupt(err, "stored size differs from the size");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->raw = malloc(size > 0 ? size : 1)) == NULL) {
		free(d);
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	d->comp = c;
	d->size = (size_t)size;
	d->stored_size = (size_t)stored_size;
	switch (c) {
	case SIMLOG_STATE_NONE:
		break;
	case SIMLOG_STATE_LZ4:
		if (stored_size > (uint64_t)LZ4_compressBound(
		    (int)(size > 0 ? size : 1)) || stored_size == 0) {
			simlog_state_dec_free(d);
			corrupt(err, "stored size impossible for LZ4");
			return NULL;
		}
		if ((d->in = malloc(d->stored_size)) == NULL) {
			simlog_state_dec_free(d);
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
			return NULL;
		}
		break;
	case SIMLOG_STATE_ZLIB:
		if (inflateInit(&d->z) != Z_OK) {
			simlog_state_dec_free(d);
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
			return NULL;
		}
		d->zinit = 1;
		d->z.next_out = (Bytef *)d->raw;
		break;
	default:
		simlog_state_dec_free(d);
		corrupt(err, "unknown compression");
		return NULL;
	}
	return d;
}

static int
zlib_feed(struct simlog_state_dec *d, const char *p, size_t n,
	  struct simlog_err *err)
{
	d->z.next_in = (Bytef *)(uintptr_t)p;
	while (n > 0 || d->z.avail_in > 0) {
		int rc;

		if (d->z.avail_in == 0) {
			uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;

			d->z.avail_in = k;
			n -= k;
		}
		/* Room only up to the recorded size: never more output. */
		{
			size_t room = d->size - d->rawlen;

			d->z.avail_out = room > (1u << 30) ? (1u << 30) :
			    (uInt)room;
		}
		if (d->zend)
			return corrupt(err, "data after the zlib stream");
		rc = inflate(&d->z, Z_NO_FLUSH);
		d->rawlen = (size_t)((char *)d->z.next_out - d->raw);
		if (rc == Z_STREAM_END) {
			d->zend = 1;
			if (d->z.avail_in > 0 || n > 0)
				return corrupt(err,
				    "data after the zlib stream");
			return 0;
		}
		if (rc == Z_BUF_ERROR && d->rawlen == d->size)
			return corrupt(err, "zlib stream longer than the "
			    "recorded size");
		if (rc != Z_OK)
			return corrupt(err, d->z.msg ? d->z.msg :
			    "bad zlib stream");
	}
	return 0;
}

int
simlog_state_dec_feed(struct simlog_state_dec *d, const char *p, size_t n,
		      struct simlog_err *err)
{
	if (n > d->stored_size - d->inlen)
		return corrupt(err, "stored value longer than recorded");
	switch (d->comp) {
	case SIMLOG_STATE_NONE:
		memcpy(d->raw + d->inlen, p, n);
		d->rawlen += n;
		break;
	case SIMLOG_STATE_LZ4:
		memcpy(d->in + d->inlen, p, n);
		break;
	case SIMLOG_STATE_ZLIB:
		if (zlib_feed(d, p, n, err) < 0)
			return -1;
		break;
	}
	d->inlen += n;
	return 0;
}

int
simlog_state_dec_finish(struct simlog_state_dec *d, uint32_t checksum,
			char **raw, size_t *len, struct simlog_err *err)
{
	if (d->inlen != d->stored_size)
		return corrupt(err, "stored value shorter than recorded");
	if (d->comp == SIMLOG_STATE_LZ4) {
		int n = LZ4_decompress_safe(d->in, d->raw, (int)d->stored_size,
		    (int)d->size);

		if (n < 0)
			return corrupt(err, "bad LZ4 block");
		d->rawlen = (size_t)n;
	} else if (d->comp == SIMLOG_STATE_ZLIB && !d->zend)
		return corrupt(err, "zlib stream ends early");
	if (d->rawlen != d->size)
		return corrupt(err, "decoded size differs from the recorded size");
	if (simlog_state_crc32(d->raw, d->rawlen) != checksum)
		return corrupt(err, "checksum mismatch");
	*raw = d->raw;
	*len = d->rawlen;
	d->raw = NULL;
	return 0;
}

void
simlog_state_dec_free(struct simlog_state_dec *d)
{
	if (d == NULL)
		return;
	if (d->zinit)
		inflateEnd(&d->z);
	free(d->raw);
	free(d->in);
	free(d);
}
