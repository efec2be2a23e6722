/*
 * libsimlog state store: versioned, compressed, checksummed states in
 * Redis (simlog-state(1); key layout in simlog(7)).
 *
 * Same conventions as simlog.h: 0 on success, -1 on failure with a struct
 * simlog_err whose code is one of enum simlog_exit (SIMLOG_EX_NOINPUT for
 * an ID or version that does not exist, SIMLOG_EX_DATAERR for a damaged
 * stored state, SIMLOG_EX_CONFLICT for an --expect-version conflict); the
 * library never prints and never exits; every *_free() and *_clear()
 * accepts NULL.
 */
#ifndef SIMLOG_STATE_H
#define SIMLOG_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "simlog.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIMLOG_STATE_IDMAX 128		/* ID: [A-Za-z0-9_.:-]{1,128} */
#define SIMLOG_STATE_TAGMAX 64		/* tag: [A-Za-z0-9_.:-]{1,64} */
#define SIMLOG_STATE_MAXTAGS 32		/* tags per version */
/* Tags as stored: comma-separated, so room for MAXTAGS of TAGMAX + ','. */
#define SIMLOG_STATE_TAGSLEN (SIMLOG_STATE_MAXTAGS * (SIMLOG_STATE_TAGMAX + 1))
/* The largest state: Redis's default limit on a string (proto-max-bulk-len). */
#define SIMLOG_STATE_MAXSIZE ((uint64_t)512 << 20)
/* Stored values larger than this travel in pieces of this size. */
#define SIMLOG_STATE_PIECE ((size_t)4 << 20)

/* Key names.  The ID is a hash tag: every key of one state is in one slot. */
#define SIMLOG_STATE_PREFIX "simlog:state:"

enum simlog_state_comp {
	SIMLOG_STATE_NONE,
	SIMLOG_STATE_LZ4,
	SIMLOG_STATE_ZLIB,
};

/* --- names and values -------------------------------------------------- */

SIMLOG_API
int simlog_state_valid_id(const char *s, size_t len);
SIMLOG_API
int simlog_state_valid_tag(const char *s, size_t len);
/* "lz4", "zlib", "none" to the enum; -1 for anything else. */
SIMLOG_API
int simlog_state_comp_parse(const char *s, enum simlog_state_comp *c);
SIMLOG_API
const char *simlog_state_comp_name(enum simlog_state_comp c);
/* CRC-32 (zlib's, the ISO-HDLC one) of p[0..n). */
SIMLOG_API
uint32_t simlog_state_crc32(const void *p, size_t n);
/* Add tag to a comma-separated tag list (a no-op if already there).
 * tags holds SIMLOG_STATE_TAGSLEN bytes. */
SIMLOG_API
int simlog_state_tags_add(char *tags, const char *tag, size_t len,
			  struct simlog_err *err);
/* Whether a comma-separated tag list holds tag. */
SIMLOG_API
int simlog_state_tags_has(const char *tags, const char *tag);

/* --- encoding ---------------------------------------------------------- */

/* Compression state kept between states, which spares zlib setting up
 * its quarter megabyte of tables for each small state. */
struct simlog_state_enc;
SIMLOG_API
struct simlog_state_enc *simlog_state_enc_new(void);
SIMLOG_API
void simlog_state_enc_free(struct simlog_state_enc *e);

/* --- what is stored about one version ---------------------------------- */

struct simlog_state_meta {
	long long version;
	uint64_t size;			/* bytes as saved */
	uint64_t stored_size;		/* bytes in Redis */
	enum simlog_state_comp comp;
	uint32_t checksum;		/* CRC-32 of the saved bytes */
	int raw;			/* saved with --raw: maybe not JSON */
	long long created_ms;		/* Redis server time, ms since 1970 */
	long long rollback_of;		/* 0, or the version it copies */
	char tags[SIMLOG_STATE_TAGSLEN];	/* comma-separated */
	int damaged;			/* (describe) the version is listed
					 * but its metadata is missing or
					 * damaged: only version is known */
};

/* What is known of one ID as a whole. */
struct simlog_state_info {
	long long versions;		/* how many exist */
	uint64_t raw_bytes, stored_bytes;	/* over all of them */
	long long expires_ms;		/* when every key goes; 0: never */
};

/* --- saving ------------------------------------------------------------ */

/* One state to save.  _prepare computes the checksum and the stored value. */
struct simlog_state_item {
	char id[SIMLOG_STATE_IDMAX + 1];
	char tags[SIMLOG_STATE_TAGSLEN];
	enum simlog_state_comp comp;
	int raw;			/* record it as not-JSON */
	long long ttl_ms;		/* 0: the ID never expires */
	long long max_versions;		/* 0: keep every version */
	long long expect_version;	/* -1: no check; 0: must not exist */
	int wait_replicas;		/* WAIT until this many replicas have
					 * it (0: no WAIT); fewer: TEMPFAIL */

	uint64_t size;
	uint32_t checksum;
	const char *stored;		/* the value to store */
	size_t stored_len;
	char *owned;			/* what _item_clear frees */
};

/* Checksum and compress raw[0..len) (enc may be NULL), which must outlive
 * the item when the compression is none (the item then points into it). */
SIMLOG_API
int simlog_state_prepare(struct simlog_state_item *it,
			 struct simlog_state_enc *enc, const char *raw,
			 size_t len, struct simlog_err *err);
/* Copy the stored value into the item if it points into the raw bytes
 * (compression none), so the raw bytes may go. */
SIMLOG_API
int simlog_state_item_own(struct simlog_state_item *it,
			  struct simlog_err *err);
SIMLOG_API
void simlog_state_item_clear(struct simlog_state_item *it);

/* Save as the next version: one round trip, or for a stored value larger
 * than SIMLOG_STATE_PIECE an upload in pieces and then one commit.  *m is
 * the new version's metadata and *expires_ms the ID's expiry (0 never). */
SIMLOG_API
int simlog_state_save(struct simlog_conn *conn,
		      const struct simlog_state_item *it,
		      struct simlog_state_meta *m, long long *expires_ms,
		      struct simlog_err *err);
/* Pipelined saves (stored values up to SIMLOG_STATE_PIECE only): send
 * several, then read their replies in order. */
SIMLOG_API
int simlog_state_save_send(struct simlog_conn *conn,
			   const struct simlog_state_item *it,
			   struct simlog_err *err);
SIMLOG_API
int simlog_state_save_recv(struct simlog_conn *conn,
			   const struct simlog_state_item *it,
			   struct simlog_state_meta *m, long long *expires_ms,
			   struct simlog_err *err);

/* --- loading ----------------------------------------------------------- */

/* A version read back: the metadata and the verified bytes. */
struct simlog_state_loaded {
	struct simlog_state_meta meta;
	long long expires_ms;
	char *data;			/* malloc'd; NULL until fetched */
	size_t len;
	int need_fetch;			/* too large to come inline */
	long long asked;		/* the version asked for (0 latest) */
};
SIMLOG_API
void simlog_state_loaded_clear(struct simlog_state_loaded *l);

/* version 0 means the latest.  The whole state is held in memory: it is
 * verified before the caller writes any of it.  The version read is the
 * one asked for, whatever its metadata says (they disagree: DATAERR).  A
 * large value is read in pieces; when a newer save (or a delete) takes
 * the version away meanwhile, the latest is read again, whole, in one
 * step, and a version asked for by number fails with SIMLOG_EX_CONFLICT
 * (NOINPUT stays "no such ID or version"). */
SIMLOG_API
int simlog_state_load(struct simlog_conn *conn, const char *id,
		      long long version, struct simlog_state_loaded *l,
		      struct simlog_err *err);
/* Pipelined loads: values up to `inline_max` bytes come with the reply;
 * larger ones come back with need_fetch set, for simlog_state_fetch once
 * no reply is outstanding. */
SIMLOG_API
int simlog_state_load_send(struct simlog_conn *conn, const char *id,
			   long long version, size_t inline_max,
			   struct simlog_err *err);
SIMLOG_API
int simlog_state_load_recv(struct simlog_conn *conn, const char *id,
			   struct simlog_state_loaded *l,
			   struct simlog_err *err);
SIMLOG_API
int simlog_state_fetch(struct simlog_conn *conn, const char *id,
		       struct simlog_state_loaded *l, struct simlog_err *err);

/* --- metadata ---------------------------------------------------------- */

#define SIMLOG_STATE_ALL (-1LL)		/* every version, oldest first */
#define SIMLOG_STATE_LATEST 0LL
#define SIMLOG_STATE_NOVERSIONS (-2LL)	/* the ID's totals only */

/* The ID's totals and the metadata of the versions `which` selects (a
 * version number or one of the above).  *metas is malloc'd (the caller
 * frees it); a version listed with missing or damaged metadata comes with
 * damaged set.  Not found (SIMLOG_EX_NOINPUT) when the ID does not exist
 * or the version asked for does not. */
SIMLOG_API
int simlog_state_describe(struct simlog_conn *conn, const char *id,
			  long long which, struct simlog_state_info *info,
			  struct simlog_state_meta **metas, size_t *n,
			  struct simlog_err *err);
/* Pipelined form of the above; `which` is LATEST or NOVERSIONS. */
SIMLOG_API
int simlog_state_describe_send(struct simlog_conn *conn, const char *id,
			       long long which, struct simlog_err *err);
/* *found = 0 when the ID has gone (expired or deleted since listed);
 * DATAERR when its latest version's metadata is missing or damaged. */
SIMLOG_API
int simlog_state_describe_recv(struct simlog_conn *conn, const char *id,
			       struct simlog_state_info *info,
			       struct simlog_state_meta *latest, int *found,
			       struct simlog_err *err);

/* IDs that exist now (expired ones are never listed), sorted; a malloc'd
 * array of malloc'd strings (free with simlog_strv_free). */
SIMLOG_API
int simlog_state_ids(struct simlog_conn *conn, char ***ids, size_t *n,
		     struct simlog_err *err);

/* --- changing history -------------------------------------------------- */

/* Store version `to`'s content as a new latest version (history stays
 * linear); *m is the new version, *expires_ms the ID's expiry (0 never). */
SIMLOG_API
int simlog_state_rollback(struct simlog_conn *conn, const char *id,
			  long long to, struct simlog_state_meta *m,
			  long long *expires_ms, struct simlog_err *err);
/* Delete one version, or with version 0 the whole ID; *deleted versions
 * went.  Deleting the last version deletes the ID. */
SIMLOG_API
int simlog_state_delete(struct simlog_conn *conn, const char *id,
			long long version, long long *deleted,
			struct simlog_err *err);
/* Delete all but the newest `keep` versions. */
SIMLOG_API
int simlog_state_prune(struct simlog_conn *conn, const char *id,
		       long long keep, long long *deleted,
		       struct simlog_err *err);

/* Redis's INFO memory used_memory. */
SIMLOG_API
int simlog_state_used_memory(struct simlog_conn *conn, long long *bytes,
			     struct simlog_err *err);

#ifdef __cplusplus
}
#endif

#endif
