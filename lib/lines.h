/*
 * The line reader (lib/lines.c, not installed).
 */
#ifndef SIMLOG_LINES_H
#define SIMLOG_LINES_H

#include <stddef.h>

/*
 * Reads '\n'-terminated lines from a file descriptor with a hard length
 * limit: a longer line is reported by length and skipped without being held
 * in memory.
 */
struct simlog_lines;
struct simlog_lines *simlog_lines_new(int fd, size_t maxlen);
void simlog_lines_free(struct simlog_lines *r);
enum simlog_line_status {
	SIMLOG_LINE_OK,		/* *line, *len valid until the next call */
	SIMLOG_LINE_TOOLONG,	/* *len = its length; it was skipped */
	SIMLOG_LINE_PARTIAL,	/* after _stop: an unfinished last line */
	SIMLOG_LINE_EOF,
	SIMLOG_LINE_INTR,	/* read(2) interrupted by a signal */
	SIMLOG_LINE_ERROR,	/* errno set */
};
enum simlog_line_status simlog_lines_next(struct simlog_lines *r,
					  const char **line, size_t *len);
/* Whether the next call returns without reading (a whole line is
 * buffered, or the input has ended): a caller may do other work before a
 * read that could wait. */
int simlog_lines_ready(struct simlog_lines *r);
/* Read nothing more: the next calls return what is buffered, then EOF. */
void simlog_lines_stop(struct simlog_lines *r);
/* Line number of the line just returned (1-based). */
unsigned long long simlog_lines_number(const struct simlog_lines *r);


#endif
