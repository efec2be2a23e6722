/*
 * Connection URLs (lib/url.c, not installed): every form of simlog(7)
 * parsed, printed with the password hidden, and password files read.
 */
#ifndef SIMLOG_URL_H
#define SIMLOG_URL_H

#include "simlog.h"

/* Parse any URL form of simlog(7): redis[s]://[[user]:password@]host[:port]
 * [/db], unix:///path[?db=N], redis[s]-cluster://[[user]:password@]host:port
 * [,host:port...], redis[s]-sentinel://[[user]:password@]host:port[,...]
 * /MASTER[/db].  Messages never repeat the URL (it may hold a password). */
int simlog_url_parse(const char *s, struct simlog_url *u,
		     struct simlog_err *err);
void simlog_url_clear(struct simlog_url *u);
/* Print the URL with any password replaced by "***" into buf. */
void simlog_url_format(const struct simlog_url *u, char *buf, size_t len);
/* The same for a string that may not parse: the text between the
 * scheme's first ':' after "://" and the last '@' becomes "***". */
void simlog_url_redact(const char *s, char *buf, size_t len);
/* Whether a URL string carries a password (to warn about argv). */
int simlog_url_has_password(const char *s);

/* Read a password from a file: first line, trailing CR/LF removed.  Returns
 * a malloc'd string the caller frees, or NULL with err set. */
char *simlog_url_password_file(const char *path, struct simlog_err *err);


#endif
