/*
 * The state store's JSON (lib/state_json.c, not installed): what
 * simlog-state(1) prints for a version, and its --batch lines.
 */
#ifndef SIMLOG_STATE_JSON_H
#define SIMLOG_STATE_JSON_H

#include <stddef.h>

#include "simlog_state.h"

/* The members simlog-state(1) prints for a version (id, version, size,
 * stored_size, compression, checksum, format, created_at, tags,
 * expires_at, rollback_of), into an object w has begun. */
void simlog_state_meta_put(struct simlog_jw *w, const char *id,
			   const struct simlog_state_meta *m,
			   long long expires_ms);
/* The member "tags" as an array, from a comma-separated tag list. */
void simlog_state_tags_put(struct simlog_jw *w, const char *tags);

/* --- batch lines ------------------------------------------------------- */

/*
 * One line of save --batch ({"id","state","ttl","tags","expect_version"})
 * or load --batch ({"id","version"}).  Pointers go into the line.
 */
struct simlog_state_batch {
	char id[SIMLOG_STATE_IDMAX + 1];
	const char *state;		/* the raw JSON text of "state" */
	size_t state_len;
	int has_ttl;
	double ttl;			/* seconds */
	int has_tags;
	char tags[SIMLOG_STATE_TAGSLEN];
	long long version;		/* 0 when absent */
	long long expect_version;	/* -1 when absent */
};
/* Parse a line; `load` picks which members are allowed.  Returns -1 with
 * *why naming the problem. */
int simlog_state_batch_parse(const char *line, size_t len, int load,
			     struct simlog_state_batch *b, const char **why);

#endif
