/* The line reader: limits, skipped long lines, a last line without '\n'. */
#include <stdlib.h>
#include <unistd.h>

#include "lines.h"
#include "simlog.h"
#include "tap.h"

static struct simlog_lines *
reader(const char *data, size_t len, size_t maxlen)
{
	char path[] = "/tmp/simlog-lines-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		return NULL;
	lseek(fd, 0, SEEK_SET);
	unlink(path);
	return simlog_lines_new(fd, maxlen);
}

static void
expect(struct simlog_lines *r, enum simlog_line_status st, const char *line,
       size_t len, const char *what)
{
	const char *l = NULL;
	size_t n = 0;
	enum simlog_line_status got = simlog_lines_next(r, &l, &n);

	ok(got == st && n == len && (line == NULL || memcmp(l, line, n) == 0),
	    "%s (status %d, len %zu)", what, got, n);
}

int
main(void)
{
	struct simlog_lines *r;
	size_t big = 3 * 1024 * 1024;
	char *data;

	r = reader("a\n\nbc\r\nlast", 11, 100);
	expect(r, SIMLOG_LINE_OK, "a", 1, "first line");
	expect(r, SIMLOG_LINE_OK, "", 0, "empty line");
	expect(r, SIMLOG_LINE_OK, "bc\r", 3, "CR kept for the caller");
	expect(r, SIMLOG_LINE_OK, "last", 4, "last line without newline");
	ok(simlog_lines_number(r) == 4, "line numbers count");
	expect(r, SIMLOG_LINE_EOF, NULL, 0, "then EOF");
	simlog_lines_free(r);

	/* A line far longer than the buffer is skipped and measured. */
	data = malloc(big + 16);
	memset(data, 'x', big);
	memcpy(data + big, "\nok\n", 4);
	r = reader(data, big + 4, 1000);
	expect(r, SIMLOG_LINE_TOOLONG, NULL, big, "3 MiB line skipped");
	expect(r, SIMLOG_LINE_OK, "ok", 2, "next line intact");
	ok(simlog_lines_number(r) == 2, "skipped line still numbered");
	simlog_lines_free(r);

	r = reader(data, big, 1000);
	expect(r, SIMLOG_LINE_TOOLONG, NULL, big, "long last line, no newline");
	expect(r, SIMLOG_LINE_EOF, NULL, 0, "then EOF");
	simlog_lines_free(r);

	/* Exactly at the limit is fine; one more byte is not. */
	memset(data, 'y', 1001);
	data[1000] = '\n';
	r = reader(data, 1001, 1000);
	expect(r, SIMLOG_LINE_OK, data, 1000, "line of exactly --max-record");
	simlog_lines_free(r);
	data[1000] = 'y';
	data[1001] = '\n';
	r = reader(data, 1002, 1000);
	expect(r, SIMLOG_LINE_TOOLONG, NULL, 1001, "one byte over");
	simlog_lines_free(r);

	/* Many lines across buffer refills keep their content. */
	size_t n = 0, total = 200000;
	char *p = data;
	for (size_t i = 0; i < total; i++)
		p += sprintf(p, "%zu\n", i);
	r = reader(data, (size_t)(p - data), 64);
	const char *l;
	size_t len, good = 0;
	while (simlog_lines_next(r, &l, &len) == SIMLOG_LINE_OK) {
		char want[24];

		if ((size_t)sprintf(want, "%zu", n) == len &&
		    memcmp(want, l, len) == 0)
			good++;
		n++;
	}
	ok(n == total && good == total, "200000 lines across refills (%zu)",
	    good);
	simlog_lines_free(r);
	simlog_lines_free(NULL);
	free(data);
	return tap_done();
}
