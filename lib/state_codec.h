/*
 * The state store's codec (lib/state_codec.c, not installed): compressing
 * a state, and a decoder that verifies a stored value as it comes in.
 * Names, values and the compression handle are public (simlog_state.h).
 */
#ifndef SIMLOG_STATE_CODEC_H
#define SIMLOG_STATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "simlog_state.h"

/*
 * Compress raw[0..len) into a new malloc'd buffer *out (the caller frees),
 * with enc's state, or a passing one when enc is NULL.  For
 * SIMLOG_STATE_NONE nothing is allocated: *out = NULL, *outlen = len, and
 * the raw bytes are the stored value.
 */
int simlog_state_compress(struct simlog_state_enc *enc,
			  enum simlog_state_comp c, const char *raw,
			  size_t len, char **out, size_t *outlen,
			  struct simlog_err *err);

/*
 * A decoder fed the stored value in pieces.  It never produces more than
 * the recorded size (so a damaged or hostile value cannot make it allocate
 * more), and _finish fails unless the output is exactly that size with the
 * recorded checksum.  Errors are SIMLOG_EX_DATAERR.
 */
struct simlog_state_dec;
struct simlog_state_dec *simlog_state_dec_new(enum simlog_state_comp c,
					      uint64_t size,
					      uint64_t stored_size,
					      struct simlog_err *err);
int simlog_state_dec_feed(struct simlog_state_dec *d, const char *p, size_t n,
			  struct simlog_err *err);
/* On success *raw is the malloc'd state (the caller frees; never NULL, even
 * for an empty state) and *len its size. */
int simlog_state_dec_finish(struct simlog_state_dec *d, uint32_t checksum,
			    char **raw, size_t *len, struct simlog_err *err);
void simlog_state_dec_free(struct simlog_state_dec *d);

#endif
