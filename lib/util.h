/*
 * Small helpers the library's files share and nothing outside it needs
 * (not installed): little-endian integers in byte layouts, a text check,
 * checksums.
 */
#ifndef SIMLOG_UTIL_H
#define SIMLOG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* zlib's crc32(crc, buf, len), faster where the CPU can (crc32.c). */
uint32_t simlog_crc32(uint32_t crc, const void *buf, size_t len);

/* A diagnostic for a caller's say callback (fn may be NULL: nothing). */
void simlog_say(void (*fn)(void *, const char *), void *arg,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct redisReply;
struct simlog_entry;
/* The entries of an XRANGE reply (lib/queue.c), their chunks taken out
 * of r: 0, -1 when r is no such reply, -2 out of memory. */
int simlog_queue_entries(struct redisReply *r, struct simlog_entry **out,
			 size_t *n);

/* Whether s[0..n) is well-formed UTF-8 without a NUL: text every
 * database takes as it is (lib/jsonw.c). */
int simlog_utf8_text(const char *s, size_t n);

static inline void
put32le(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t
get32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline void
put64le(unsigned char *p, uint64_t v)
{
	put32le(p, (uint32_t)v);
	put32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t
get64le(const unsigned char *p)
{
	return (uint64_t)get32le(p) | (uint64_t)get32le(p + 4) << 32;
}

#endif
