/*
 * Redis's maxmemory-policy, read and judged (lib/maxmemory.c, not
 * installed).
 */
#ifndef SIMLOG_MAXMEMORY_H
#define SIMLOG_MAXMEMORY_H

#include "simlog.h"

/* The maxmemory-policy, malloc'd, or NULL when it cannot be read. */
char *simlog_maxmemory_policy(struct simlog_conn *conn);
/* Whether a maxmemory-policy may evict simlog's keys. */
int simlog_maxmemory_evicts(const char *policy);


#endif
