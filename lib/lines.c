/* A line reader with a hard length limit: an over-long line is measured and
 * skipped, never held in memory whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"
#include "simlog.h"

struct simlog_lines {
	int fd;
	size_t maxlen;
	char *buf;
	size_t cap;
	size_t start, end;	/* unread bytes are buf[start..end) */
	size_t scanned;		/* of those, how many hold no newline */
	size_t skipped;		/* bytes of an over-long line dropped so far */
	int eof;
	int stopping;		/* stopped by the caller, not by EOF */
	unsigned long long lineno;
};

struct simlog_lines *
simlog_lines_new(int fd, size_t maxlen)
{
	struct simlog_lines *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fd = fd;
	r->maxlen = maxlen;
	/* Room for a whole maximal line plus its newline, and big reads. */
	r->cap = maxlen + 1 < 256 * 1024 ? 256 * 1024 : maxlen + 1 + 64 * 1024;
	if ((r->buf = malloc(r->cap)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
simlog_lines_free(struct simlog_lines *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* Read more input after buf[end]; 1 read, 0 EOF, -1 error/EINTR. */
static int
fill(struct simlog_lines *r)
{
	ssize_t n;

	if (r->start > 0 && (r->end == r->cap || r->start > r->cap / 2)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	n = read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n < 0)
		return -1;
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	r->end += (size_t)n;
	return 1;
}

enum simlog_line_status
simlog_lines_next(struct simlog_lines *r, const char **line, size_t *len)
{
	for (;;) {
		size_t have = r->end - r->start;
		char *nl = memchr(r->buf + r->start + r->scanned, '\n',
		    have - r->scanned);

		if (nl != NULL) {
			size_t n = (size_t)(nl - (r->buf + r->start));
			size_t total = r->skipped + n;

			r->lineno++;
			r->start += n + 1;
			r->scanned = 0;
			r->skipped = 0;
			if (total > r->maxlen) {
				*len = total;
				return SIMLOG_LINE_TOOLONG;
			}
			*line = r->buf + r->start - n - 1;
			*len = n;
			return SIMLOG_LINE_OK;
		}
		r->scanned = have;
		if (r->skipped + have > r->maxlen) {
			/* Too long already: drop what we hold and go on. */
			r->skipped += have;
			r->start = r->end = r->scanned = 0;
			have = 0;
		}
		if (r->eof) {
			size_t total = r->skipped + have;

			if (total == 0)
				return SIMLOG_LINE_EOF;
			r->lineno++;
			r->start = r->end;
			r->scanned = 0;
			r->skipped = 0;
			if (total > r->maxlen) {
				*len = total;
				return SIMLOG_LINE_TOOLONG;
			}
			*line = r->buf + r->end - have;
			*len = have;
			/* Stopped mid-line: the writer was still at it. */
			return r->stopping ? SIMLOG_LINE_PARTIAL : SIMLOG_LINE_OK;
		}
		if (fill(r) < 0)
			return errno == EINTR ? SIMLOG_LINE_INTR :
			    SIMLOG_LINE_ERROR;
	}
}

int
simlog_lines_ready(struct simlog_lines *r)
{
	size_t have = r->end - r->start;

	if (r->eof || memchr(r->buf + r->start + r->scanned, '\n',
	    have - r->scanned) != NULL)
		return 1;
	r->scanned = have;
	return 0;
}

unsigned long long
simlog_lines_number(const struct simlog_lines *r)
{
	return r->lineno;
}

void
simlog_lines_stop(struct simlog_lines *r)
{
	if (!r->eof)
		r->stopping = 1;
	r->eof = 1;
}
