/*
 * CRC-32 (the zlib and gzip one) of chunk payloads, by carry-less
 * multiplication where the CPU has it.  zlib's table-driven crc32 checks
 * about a byte per cycle: a tenth of a drain's time went into checking
 * its chunks.  Folding 64 bytes per step with PCLMULQDQ (Gopal et al.,
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
 * Instruction", Intel, 2009) is many times faster; zlib computes the
 * head of short buffers and the tail under 16 bytes, and everything on
 * CPUs without the instruction.  The result is zlib's, bit for bit
 * (tests/unit/test_crc32.c compares them).
 */
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define FOLD_MIN 64

/*
 * The constants are powers of x modulo the CRC-32 polynomial, bit-
 * reflected as the CRC is: x^(4*128+32) and x^(4*128-32) fold a 128-bit
 * lane 512 bits on; x^(128+32) and x^(128-32) fold it 128 bits on; x^64
 * folds 64 bits into 32; the last pair is the polynomial and its Barrett
 * quotient, x^64 / P.  Each is 33 bits wide.
 */
static const uint64_t k_512[2] = { 0x154442bd4, 0x1c6e41596 };
static const uint64_t k_128[2] = { 0x1751997d0, 0x0ccaa009e };
static const uint64_t k_64 = 0x163cd6124;
static const uint64_t k_barrett[2] = { 0x1db710641, 0x1f7011641 };

/* a's low or high half times b's: sel picks them as _mm_clmulepi64 does. */
#define CLMUL(a, b, sel) _mm_clmulepi64_si128((a), (b), (sel))

/* The register's CRC state c (not inverted) over p[0..n), n a multiple of
 * 16 and at least FOLD_MIN. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t
fold(uint32_t c, const unsigned char *p, size_t n)
{
	__m128i k = _mm_loadu_si128((const __m128i *)k_512);
	__m128i a = _mm_loadu_si128((const __m128i *)p);
	__m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
	__m128i d = _mm_loadu_si128((const __m128i *)(p + 32));
	__m128i e = _mm_loadu_si128((const __m128i *)(p + 48));
	__m128i mask = _mm_setr_epi32(-1, 0, -1, 0), t;

	a = _mm_xor_si128(a, _mm_cvtsi32_si128((int)c));
	p += 64;
	n -= 64;
	/* Four lanes, each folded 512 bits on onto the next 64 bytes. */
	for (; n >= 64; p += 64, n -= 64) {
#define FOLD4(r, off) \
		t = CLMUL(r, k, 0x00); \
		r = _mm_xor_si128(_mm_xor_si128(CLMUL(r, k, 0x11), t), \
		    _mm_loadu_si128((const __m128i *)(p + (off))))
		FOLD4(a, 0);
		FOLD4(b, 16);
		FOLD4(d, 32);
		FOLD4(e, 48);
#undef FOLD4
	}
	/* The lanes into one, then what is left 16 bytes at a time. */
	k = _mm_loadu_si128((const __m128i *)k_128);
#define FOLD1(r, next) \
	t = CLMUL(r, k, 0x00); \
	r = _mm_xor_si128(_mm_xor_si128(CLMUL(r, k, 0x11), t), (next))
	FOLD1(a, b);
	FOLD1(a, d);
	FOLD1(a, e);
	for (; n >= 16; p += 16, n -= 16) {
		FOLD1(a, _mm_loadu_si128((const __m128i *)p));
	}
#undef FOLD1
	/* 128 bits to 64, then to 32 (with 32 zero bits appended, as a CRC
	 * register shifts them in). */
	t = CLMUL(a, k, 0x10);
	a = _mm_xor_si128(_mm_srli_si128(a, 8), t);
	t = _mm_srli_si128(a, 4);
	a = CLMUL(_mm_and_si128(a, mask), _mm_cvtsi64_si128((long long)k_64),
	    0x00);
	a = _mm_xor_si128(a, t);
	/* Barrett reduction: a mod P, in the reflected bit order. */
	k = _mm_loadu_si128((const __m128i *)k_barrett);
	t = CLMUL(_mm_and_si128(a, mask), k, 0x10);
	t = CLMUL(_mm_and_si128(t, mask), k, 0x00);
	a = _mm_xor_si128(a, t);
	return (uint32_t)_mm_extract_epi32(a, 1);
}

/* libgcc's constructor has looked at the CPU by the time this runs. */
static int
have_clmul(void)
{
	return __builtin_cpu_supports("pclmul") &&
	    __builtin_cpu_supports("sse4.1");
}

uint32_t
simlog_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t n = len & ~(size_t)15;

	if (len < FOLD_MIN || !have_clmul())
		return (uint32_t)crc32_z(crc, p, len);
	crc = ~fold(~crc, p, n);
	return (uint32_t)crc32_z(crc, p + n, len - n);
}

#else

uint32_t
simlog_crc32(uint32_t crc, const void *buf, size_t len)
{
	return (uint32_t)crc32_z(crc, buf, len);
}

#endif
