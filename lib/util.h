/*
 * Small helpers the library's files share and nothing outside it needs
 * (not installed): little-endian integers in byte layouts, checksums.
 */
#ifndef SIMLOG_UTIL_H
#define SIMLOG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* zlib's crc32(crc, buf, len), faster where the CPU can (crc32.c). */
uint32_t simlog_crc32(uint32_t crc, const void *buf, size_t len);

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
