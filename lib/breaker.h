/*
 * The circuit breaker shared across processes (lib/breaker.c, not
 * installed); its state enum and view are public (simlog.h).
 */
#ifndef SIMLOG_BREAKER_H
#define SIMLOG_BREAKER_H

#include "simlog.h"

struct simlog_clock;

/*
 * Closed / open / half-open, kept in a small file per Redis server under
 * $XDG_RUNTIME_DIR/simlog (else /tmp/simlog-UID), read and updated under
 * flock(2), so every simlog process of a user agrees on it.
 */
struct simlog_breaker {
	int fd;			/* -1: no state file (breaker disabled) */
	char path[512];
	int threshold;		/* consecutive failures that open it */
	double reset;		/* seconds open before a probe */
	enum simlog_bstate seen;	/* state after our last look */
	double retry_at;	/* when an open breaker lets a probe through */
	double opened_at;
	char why[SIMLOG_BREAKER_WHYLEN];	/* the failure that opened it */
	char changes[8][24];	/* transitions this process made */
	int nchanges;
	const struct simlog_clock *clock;	/* NULL: the real clock; a
					 * test's own (lib/clock.h) after
					 * _init */
};
/* Defaults 3 failures, 5 s; SIMLOG_BREAKER_FAILURES, SIMLOG_BREAKER_RESET;
 * SIMLOG_BREAKER_DIR overrides the directory. */
int simlog_breaker_init(struct simlog_breaker *b, const char *endpoint,
			int threshold, double reset, struct simlog_err *err);
/* May this process talk to Redis now?  force: yes, and become the probe. */
int simlog_breaker_allow(struct simlog_breaker *b, int force);
void simlog_breaker_success(struct simlog_breaker *b);
/* A failure (why: what it was, kept in the file for every process). */
void simlog_breaker_failure(struct simlog_breaker *b, const char *why);
/* Why an open breaker refuses, when it lets a probe through, what to run. */
void simlog_breaker_explain(const struct simlog_breaker *b, char *buf,
			    size_t len);
int simlog_breaker_read(const char *endpoint, struct simlog_breaker_view *v,
			struct simlog_err *err);
void simlog_breaker_clear(struct simlog_breaker *b);


#endif
