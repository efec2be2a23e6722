/*
 * libsimlog backlog housekeeping: what is set aside in a simulation's
 * corrupt stream (simlog:{SIM}:corrupt), read and purged, and a whole
 * backlog discarded on purpose, its stream and counters together.
 *
 * Same conventions as simlog.h: 0 on success, -1 with a struct simlog_err
 * filled on failure; nothing here prints or exits; every *_free() accepts
 * NULL.
 */
#ifndef SIMLOG_BACKLOG_H
#define SIMLOG_BACKLOG_H

#include "simlog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One field of a stream entry, as Redis holds it (binary-safe). */
struct simlog_field {
	char *name, *val;
	size_t nlen, vlen;
};

/* An entry the drain set aside: its id in the corrupt stream, the id it
 * had in the buffer, why, and the original entry's fields. */
struct simlog_corrupt {
	struct simlog_sid entry;
	char id[48];
	char *why;
	struct simlog_field *fields;
	size_t nfields;
};

/* Up to count entries of sim's corrupt stream after *after (NULL: from the
 * start).  *out is malloc'd; free it with simlog_corrupt_free. */
int simlog_corrupt_read(struct simlog_conn *conn, const char *sim,
			const struct simlog_sid *after, size_t count,
			struct simlog_corrupt **out, size_t *n,
			struct simlog_err *err);
void simlog_corrupt_free(struct simlog_corrupt *c, size_t n);
/* Delete these entries of the corrupt stream (the stream too once it is
 * empty), atomically; *deleted counts those that were there. */
int simlog_corrupt_delete(struct simlog_conn *conn, const char *sim,
			  const struct simlog_corrupt *c, size_t n,
			  unsigned long long *deleted, struct simlog_err *err);

/* Delete sim's whole backlog, undrained: the stream and its counters in
 * one step (and its name in the old layout's simlog:sims).  *entries and
 * *records say what went. */
int simlog_backlog_discard(struct simlog_conn *conn, const char *sim,
			   unsigned long long *entries,
			   unsigned long long *records, struct simlog_err *err);

/* Base64 (RFC 4648, padded) of p[0..n) into out, which holds
 * 4 * ((n + 2) / 3) + 1 bytes. */
void simlog_base64(const unsigned char *p, size_t n, char *out);

#ifdef __cplusplus
}
#endif

#endif
