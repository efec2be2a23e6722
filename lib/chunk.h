/*
 * Buffer chunks and batch ids (lib/chunk.c, not installed); the byte
 * layout is in chunk.c's opening comment and simlog(7) BUFFER FORMAT.
 */
#ifndef SIMLOG_CHUNK_H
#define SIMLOG_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "simlog.h"

/*
 * A chunk is the unit simlog-push stores in Redis: many records, LZ4
 * compressed, with a unique batch id that makes delivery idempotent.  See
 * simlog(7) for the byte layout.
 */
#define SIMLOG_BATCH_ID_LEN 16
#define SIMLOG_CHUNK_HDR 36
#define SIMLOG_CHUNK_MAXRAW (256u << 20)
/* Bounds on what a drain or a replay takes from outside (Redis, a spool):
 * a chunk or entry beyond them is set aside undecoded (simlog(7) BOUNDS).
 * simlog-push never writes past them. */
#define SIMLOG_CHUNK_MAXTYPES 256	/* record types in one chunk */
#define SIMLOG_RECORD_MAX (64u << 20)	/* bytes of one record */
#define SIMLOG_ENTRY_MAXFIELDS 8	/* fields of one stream entry (push
					 * writes one, "c") */
#define SIMLOG_SIM_MAXTYPES 1024	/* record types (so tables) of one
					 * simulation a drain takes */

struct simlog_typecount {
	char name[64];
	uint32_t records;
	uint64_t bytes;
};

struct simlog_chunk {
	unsigned char id[SIMLOG_BATCH_ID_LEN];
	uint32_t records;
	char *raw;			/* "type\tjson\n" per record */
	size_t rawlen, rawcap;
	struct simlog_typecount *types;	/* per-type tallies of this chunk */
	size_t ntypes, typecap;
	int checked;			/* decoded: its writer checked every
					 * record as a JSON object in UTF-8 */
	char *enc;			/* encoded chunk after _seal */
	size_t enclen, enccap;
};
/* The record count a chunk's header claims, unchecked (0 when buf is no
 * chunk): an estimate, for deciding how much to read ahead. */
uint32_t simlog_chunk_peek_records(const char *buf, size_t len);
/* The batch id its header gives, unchecked as above: 0, or -1. */
int simlog_chunk_peek_id(const char *buf, size_t len,
			 unsigned char id[SIMLOG_BATCH_ID_LEN]);

void simlog_chunk_init(struct simlog_chunk *ch);
void simlog_chunk_clear(struct simlog_chunk *ch);	/* frees memory */
void simlog_chunk_reset(struct simlog_chunk *ch);	/* empties, keeps memory */
int simlog_chunk_add(struct simlog_chunk *ch, const char *type, size_t tlen,
		     const char *json, size_t jlen);
/*
 * Encode the chunk under the given batch id into ch->enc: LZ4-compressed
 * with SIMLOG_SEAL_LZ4 (when that makes it smaller); with
 * SIMLOG_SEAL_CHECKED the caller vouches that it checked every record as
 * a JSON object in UTF-8, and a reader need not check them again.
 */
#define SIMLOG_SEAL_LZ4		1u
#define SIMLOG_SEAL_CHECKED	2u
int simlog_chunk_seal(struct simlog_chunk *ch,
		      const unsigned char id[SIMLOG_BATCH_ID_LEN], unsigned how);
/* Decode an encoded chunk into ch (raw, records, types, id). */
int simlog_chunk_decode(struct simlog_chunk *ch, const char *buf, size_t len,
			struct simlog_err *err);

/* Take encoded bytes as the chunk's encoding (e.g. a spooled chunk, sent
 * again as it was); the raw records stay as decoded. */
int simlog_chunk_set_enc(struct simlog_chunk *ch, const char *enc,
			 size_t len);

/* Iterate the records of a decoded chunk.  *pos starts at 0. */
int simlog_chunk_next(const struct simlog_chunk *ch, size_t *pos,
		      const char **type, size_t *tlen,
		      const char **json, size_t *jlen);

/* Batch ids: 8 random bytes per producer + a 64-bit sequence. */
struct simlog_idgen {
	unsigned char prefix[8];
	uint64_t seq;
};
int simlog_idgen_init(struct simlog_idgen *g);
void simlog_idgen_next(struct simlog_idgen *g,
		       unsigned char out[SIMLOG_BATCH_ID_LEN]);


#endif
