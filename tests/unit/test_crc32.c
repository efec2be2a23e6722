/* The CRC-32 of chunks: zlib's, bit for bit, whatever the length, the
 * alignment and however the buffer is split between calls. */
#include <stdlib.h>

#include <zlib.h>

#include "util.h"
#include "tap.h"

int
main(void)
{
	enum { MAX = 4096 + 64 };
	unsigned char *buf = malloc(MAX + 16);
	uint32_t x = 2463534242u;
	int bad_len = 0, bad_split = 0, bad_seed = 0;

	for (size_t i = 0; i < MAX + 16; i++) {
		/* xorshift: bytes of every value, no pattern to hide in */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n <= MAX; n += n < 300 ? 1 : 61)
			if (simlog_crc32(0, buf + off, n) !=
			    (uint32_t)crc32(0L, buf + off, (uInt)n))
				bad_len++;
	ok(bad_len == 0, "lengths 0 to %d at 16 alignments: %d differ from "
	    "zlib", MAX, bad_len);
	for (size_t cut = 0; cut <= 1000; cut += 7) {
		uint32_t c = simlog_crc32(0, buf, cut);

		if (simlog_crc32(c, buf + cut, 1000 - cut) !=
		    (uint32_t)crc32(0L, buf, 1000))
			bad_split++;
	}
	ok(bad_split == 0, "a buffer in two calls: %d cuts differ", bad_split);
	for (uint32_t seed = 1; seed < 0xF0000000u; seed = seed * 3 + 0x1234567)
		if (simlog_crc32(seed, buf, 777) !=
		    (uint32_t)crc32(seed, buf, 777))
			bad_seed++;
	ok(bad_seed == 0, "chained from other values: %d differ", bad_seed);
	memset(buf, 0, 256);
	ok(simlog_crc32(0, buf, 256) == (uint32_t)crc32(0L, buf, 256),
	    "zeros");
	memset(buf, 0xff, 256);
	ok(simlog_crc32(0, buf, 256) == (uint32_t)crc32(0L, buf, 256),
	    "ones");
	ok(simlog_crc32(0, "123456789", 9) == 0xcbf43926u,
	    "the check value of CRC-32");
	free(buf);
	return tap_done();
}
