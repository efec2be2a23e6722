/* The spool's frames: what a reader recovers, and what it counts as lost,
 * after damage of every kind. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simlog.h"
#include "spool.h"
#include "tap.h"

#define CHUNKS 20
#define PER 7			/* records per chunk */

static char top[] = "/tmp/simlog-spool-XXXXXX";
static char dir[600];

/* A fresh spool with CHUNKS chunks of PER records; returns the segment's
 * path (closed and named with its count). */
static void
make_segment(char *path, size_t len)
{
	struct simlog_spool *sp;
	struct simlog_err e;
	char chunk[300];
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", top);
	if (system(cmd) != 0)
		abort();
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	if (sp == NULL)
		abort();
	snprintf(dir, sizeof(dir), "%s", simlog_spool_dir(sp));
	for (int i = 0; i < CHUNKS; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		if (simlog_spool_write(sp, i % 2 ? "odd" : "even", chunk,
		    sizeof(chunk), PER, &e) < 0)
			abort();
	}
	simlog_spool_free(sp);	/* closes the segment */
	snprintf(cmd, sizeof(cmd), "ls %s/*.seg", dir);
	{
		FILE *f = popen(cmd, "r");

		if (f == NULL || fgets(path, (int)len, f) == NULL)
			abort();
		path[strcspn(path, "\n")] = '\0';
		pclose(f);
	}
}

/* Read every chunk; the records read and the loss.  The end is asked for
 * once more, as replay does while replies are still owed: it must not
 * count anything again. */
static uint64_t
read_all(struct simlog_spool_loss *loss, int *chunks)
{
	struct simlog_spool *sp;
	struct simlog_spool_seg *seg;
	struct simlog_spool_rec r;
	struct simlog_err e;
	uint64_t n = 0;

	*chunks = 0;
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	if (sp == NULL || simlog_spool_take(sp, &seg, &e) != 1)
		abort();
	while (simlog_spool_seg_next(seg, &r) > 0) {
		n += r.records;
		(*chunks)++;
	}
	if (simlog_spool_seg_next(seg, &r) != 0)
		abort();
	simlog_spool_seg_loss(seg, loss);
	simlog_spool_seg_release(seg);
	simlog_spool_free(sp);
	return n;
}

static void
flip(const char *path, off_t at, int n)
{
	int fd = open(path, O_RDWR);
	unsigned char b;

	for (int i = 0; i < n; i++) {
		if (pread(fd, &b, 1, at + i) != 1)
			abort();
		b ^= 0x5a;
		if (pwrite(fd, &b, 1, at + i) != 1)
			abort();
	}
	close(fd);
}

/* Frame size of one chunk: header, name length, name, chunk. */
static off_t
frame(int i)
{
	return 28 + 1 + (i % 2 ? 3 : 4) + 300;
}

static off_t
frame_at(int i)
{
	off_t o = 0;

	for (int k = 0; k < i; k++)
		o += frame(k);
	return o;
}

/* Records in every segment of the endpoint's directory. */
static uint64_t
count_dir(int *segments)
{
	struct simlog_spool *sp;
	struct simlog_spool_seg *seg;
	struct simlog_spool_rec r;
	struct simlog_err e;
	uint64_t n = 0;

	*segments = 0;
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	if (sp == NULL)
		abort();
	while (simlog_spool_take(sp, &seg, &e) == 1) {
		while (simlog_spool_seg_next(seg, &r) > 0)
			n += r.records;
		(*segments)++;
		/* Taken once: gone, as a replay does. */
		simlog_spool_seg_done(sp, seg, NULL, 0);
	}
	simlog_spool_free(sp);
	return n;
}

static void
noted(void *arg, const char *msg)
{
	snprintf(arg, SIMLOG_ERRLEN * 2, "%s", msg);
}

/* The directory removed under a spool that sealed two segments and is
 * writing a third: all three come back at the next write; a segment the
 * spool sealed and a replay took is not written back. */
static void
vanished_dir(void)
{
	struct simlog_spool *sp, *rp;
	struct simlog_spool_seg *seg;
	struct simlog_err e;
	char chunk[300], msg[SIMLOG_ERRLEN * 2] = "", cmd[700];
	int segments;
	uint64_t n;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", top);
	if (system(cmd) != 0)
		abort();
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	if (sp == NULL)
		abort();
	simlog_spool_on_say(sp, noted, msg);
	memset(chunk, 'v', sizeof(chunk));
	for (int i = 0; i < 9; i++) {
		if (simlog_spool_write(sp, "s", chunk, sizeof(chunk), PER,
		    &e) < 0)
			abort();
		if (i % 3 == 2 && i < 8)
			simlog_spool_seal(sp);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", simlog_spool_dir(sp));
	if (system(cmd) != 0)
		abort();
	ok(simlog_spool_write(sp, "s", chunk, sizeof(chunk), PER, &e) == 0,
	    "a write after the directory vanished works");
	ok(strstr(msg, "the directory was removed or replaced") != NULL &&
	    strstr(msg, "wrote back the 63 records") != NULL &&
	    strstr(msg, "(3 segments)") != NULL, "said: %s", msg);
	ok(simlog_spool_lost(sp, NULL) == 0, "nothing lost");
	simlog_spool_free(sp);
	n = count_dir(&segments);
	ok(n == 10 * PER && segments == 3, "every record back: %llu in %d "
	    "segments", (unsigned long long)n, segments);

	/* A sealed segment replayed (and deleted) is not written back. */
	msg[0] = '\0';
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	simlog_spool_on_say(sp, noted, msg);
	for (int i = 0; i < 6; i++) {
		if (simlog_spool_write(sp, "s", chunk, sizeof(chunk), PER,
		    &e) < 0)
			abort();
		if (i == 2)
			simlog_spool_seal(sp);
	}
	rp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	ok(simlog_spool_take(rp, &seg, &e) == 1, "another process takes the "
	    "sealed segment");
	simlog_spool_seg_done(rp, seg, NULL, 0);
	simlog_spool_free(rp);
	/* It notices at its next look that the segment has gone. */
	ok(simlog_spool_pending(sp, &e) == 1, "the open segment still "
	    "waits");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", simlog_spool_dir(sp));
	if (system(cmd) != 0)
		abort();
	simlog_spool_seal(sp);
	ok(strstr(msg, "wrote back the 21 records") != NULL &&
	    strstr(msg, "(1 segment)") != NULL, "only the unreplayed segment "
	    "is written back: %s", msg);
	simlog_spool_free(sp);
	n = count_dir(&segments);
	ok(n == 3 * PER && segments == 1, "%llu records in %d segment",
	    (unsigned long long)n, segments);

	/* The directory cannot be made again: counted as lost. */
	msg[0] = '\0';
	sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
	simlog_spool_on_say(sp, noted, msg);
	for (int i = 0; i < 4; i++)
		if (simlog_spool_write(sp, "s", chunk, sizeof(chunk), PER,
		    &e) < 0)
			abort();
	snprintf(cmd, sizeof(cmd), "rm -rf %s && echo x > %s",
	    simlog_spool_dir(sp), simlog_spool_dir(sp));
	if (system(cmd) != 0)
		abort();
	ok(simlog_spool_write(sp, "s", chunk, sizeof(chunk), PER, &e) < 0,
	    "no write into a directory that cannot be made: %s", e.msg);
	ok(simlog_spool_lost(sp, &e) == 4 * PER && strstr(e.msg,
	    "Not a directory") != NULL, "the spooled records counted lost: "
	    "%s", e.msg);
	simlog_spool_free(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", top);
	if (system(cmd) != 0)
		abort();
}

int
main(void)
{
	struct simlog_spool_loss loss;
	struct stat st;
	char path[700];
	int chunks;
	uint64_t n;

	if (mkdtemp(top) == NULL)
		return 1;

	make_segment(path, sizeof(path));
	ok(strstr(path, ".n140.seg") != NULL, "a closed segment names its "
	    "count: %s", path);
	n = read_all(&loss, &chunks);
	ok(n == CHUNKS * PER && chunks == CHUNKS && !loss.damaged &&
	    loss.records == 0, "intact: every record, no loss");

	/* Four flipped bytes in a payload: that chunk only. */
	make_segment(path, sizeof(path));
	flip(path, frame_at(5) + 28 + 100, 4);
	n = read_all(&loss, &chunks);
	ok(n == (CHUNKS - 1) * PER && chunks == CHUNKS - 1,
	    "payload damage: the rest is read (%llu)", (unsigned long long)n);
	ok(loss.damaged && loss.records == PER && !loss.unknown,
	    "payload damage: exactly one chunk lost (%llu)",
	    (unsigned long long)loss.records);

	/* A damaged header: the reader finds the next frame, and its count
	 * says how many were lost. */
	make_segment(path, sizeof(path));
	flip(path, frame_at(8) + 6, 2);
	n = read_all(&loss, &chunks);
	ok(n == (CHUNKS - 1) * PER && loss.records == PER && !loss.unknown,
	    "header damage: resynchronized, one chunk lost (%llu read, "
	    "%llu lost)", (unsigned long long)n,
	    (unsigned long long)loss.records);

	/* Damage across two frames. */
	make_segment(path, sizeof(path));
	flip(path, frame_at(3) + 200, 200);
	n = read_all(&loss, &chunks);
	ok(n + loss.records == CHUNKS * PER && loss.records == 2 * PER,
	    "damage over two frames: two chunks lost (%llu)",
	    (unsigned long long)loss.records);

	/* A closed segment cut short in the middle: the name's count says
	 * exactly how many went. */
	make_segment(path, sizeof(path));
	if (truncate(path, frame_at(12) + 40) != 0)
		return 1;
	n = read_all(&loss, &chunks);
	ok(n == 12 * PER && loss.records == (CHUNKS - 12) * PER &&
	    !loss.unknown && loss.torn, "truncated: %llu read, exactly %llu "
	    "lost", (unsigned long long)n, (unsigned long long)loss.records);

	/* A damaged header right before the cut: its chunk is counted once,
	 * not again from the end's count. */
	make_segment(path, sizeof(path));
	flip(path, frame_at(11) + 6, 2);
	if (truncate(path, frame_at(12) + 40) != 0)
		return 1;
	n = read_all(&loss, &chunks);
	ok(n == 11 * PER && loss.records == (CHUNKS - 11) * PER,
	    "damaged header, then cut: %llu read, exactly %llu lost",
	    (unsigned long long)n, (unsigned long long)loss.records);

	/* The end frame alone is damaged: nothing is lost. */
	make_segment(path, sizeof(path));
	stat(path, &st);
	flip(path, st.st_size - 3, 1);
	n = read_all(&loss, &chunks);
	ok(n == CHUNKS * PER && loss.records == 0, "damaged end mark: no "
	    "record lost");

	/* A segment a writer never closed (it died), torn in its last
	 * record: those records were never counted as spooled. */
	make_segment(path, sizeof(path));
	{
		char open_name[700];
		char *p = strstr(path, ".n140.seg");

		snprintf(open_name, sizeof(open_name), "%.*s.seg",
		    (int)(p - path), path);
		if (rename(path, open_name) != 0 ||
		    truncate(open_name, frame_at(CHUNKS - 1) + 50) != 0)
			return 1;
	}
	n = read_all(&loss, &chunks);
	ok(n == (CHUNKS - 1) * PER && loss.records == 0 && loss.torn &&
	    !loss.unknown, "a writer's torn tail is no loss (%llu read)",
	    (unsigned long long)n);

	/* Trimmed after a partial replay: the rest, and the count still
	 * right after damage. */
	make_segment(path, sizeof(path));
	{
		struct simlog_spool *sp;
		struct simlog_spool_seg *seg;
		struct simlog_spool_rec r;
		struct simlog_err e;
		size_t done = 0;
		uint64_t seen = 0;

		sp = simlog_spool_open(top, "redis://test:1/0", 1 << 24, &e);
		if (sp == NULL || simlog_spool_take(sp, &seg, &e) != 1)
			return 1;
		for (int i = 0; i < 6 && simlog_spool_seg_next(seg, &r) > 0;
		    i++) {
			done = r.end;
			seen = r.seen;
		}
		ok(simlog_spool_seg_trim(sp, seg, done, seen, &e) == 0,
		    "trim after 6 chunks");
		simlog_spool_free(sp);
	}
	n = read_all(&loss, &chunks);
	ok(n == (CHUNKS - 6) * PER && loss.records == 0,
	    "trimmed: the rest, no loss (%llu)", (unsigned long long)n);
	/* The trimmed file starts with a 16-byte base frame. */
	flip(path, 16 + frame(6) + 10, 2);
	n = read_all(&loss, &chunks);
	ok(n == (CHUNKS - 7) * PER && loss.records == PER,
	    "trimmed then damaged: exactly one chunk lost (%llu)",
	    (unsigned long long)loss.records);

	vanished_dir();
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done();
}
