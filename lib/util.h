/*
 * Small helpers the library's files and the tools share (lib/util.c, not
 * installed): errors filled in, numbers and names checked, clocks, hex
 * and base64, little-endian integers in byte layouts, a text check,
 * checksums.
 */
#ifndef SIMLOG_UTIL_H
#define SIMLOG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "simlog.h"

/* Fill err (if not NULL) and return -1. */
int simlog_seterr(struct simlog_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for a failed system call whose errno is e: "WHAT: strerror",
 * with code, or with SIMLOG_EX_OSERR and the limit named when e is this
 * process's own trouble (open files, memory, local ports). */
int simlog_seterrno(struct simlog_err *err, int code, int e,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Whether errno value e is this process's own trouble, and which limit
 * it met (*hint, may be NULL). */
int simlog_errno_local(int e, const char **hint);

/* --- numbers and names ------------------------------------------------- */

/*
 * Parse a whole decimal integer in [min, max].  Returns 0, or -1 with a
 * reason ("not a number", "too small", "too large") in *why.
 */
int simlog_parse_ll(const char *s, long long min, long long max,
		    long long *out, const char **why);
/* A whole number in [min, max] from the environment variable name: 1 set
 * (in *out), 0 unset or empty, -1 invalid (err names the variable). */
int simlog_env_ll(const char *name, long long min, long long max,
		  long long *out, struct simlog_err *err);
/* Parse a non-negative number of seconds, fractions allowed, <= max. */
int simlog_parse_seconds(const char *s, double max, double *out,
			 const char **why);

/* Record type: [A-Za-z_][A-Za-z0-9_]{0,62}, and no reserved prefix. */
int simlog_valid_type(const char *s, size_t len, const char **why);
/* Simulation name: [A-Za-z0-9_.-]{1,64}. */
int simlog_valid_sim(const char *s, size_t len);

/* FNV-1a, 64 bits: names for state files derived from endpoints. */
uint64_t simlog_fnv1a(const char *s, size_t len);
/* The wall clock, in seconds (simlog_now_mono: simlog.h). */
double simlog_now_wall(void);
double simlog_now_mono(void);
double simlog_now_wall(void);
/* How many fork(2)s separate this process from the one that first called
 * this: an object made before a fork can tell it is in a child that must
 * leave it alone (its threads stayed in the parent). */
unsigned long simlog_forks(void);

void simlog_hex(const unsigned char *p, size_t n, char *out);	/* 2n+1 */
/* Base64 (RFC 4648, padded) of p[0..n) into out, which holds
 * 4 * ((n + 2) / 3) + 1 bytes. */
void simlog_base64(const unsigned char *p, size_t n, char *out);

/* zlib's crc32(crc, buf, len), faster where the CPU can (crc32.c). */
uint32_t simlog_crc32(uint32_t crc, const void *buf, size_t len);

/* A diagnostic for a caller's say callback (fn may be NULL: nothing). */
void simlog_say(void (*fn)(void *, const char *), void *arg,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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
