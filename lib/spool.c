/*
 * The spool: chunks that could not be delivered, kept on local disk until
 * Redis takes them.  DIR/<endpoint id>/ holds an "endpoint" file naming the
 * server and segment files "*.seg", each a run of records:
 *
 *   0  4  "SLS1"
 *   4  4  payload length, little-endian
 *   8  4  CRC-32 of the payload, little-endian
 *  12     payload: sim name length (1 byte), sim name, the sealed chunk
 *
 * A writer holds flock(LOCK_EX) on its segment while it lives; replay takes
 * only segments nobody holds, so a killed writer's segment becomes
 * replayable at once.  Each record is fdatasync'ed before it counts as
 * spooled; a crash mid-write leaves a torn tail that replay stops at.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "simlog.h"

#define SEG_MAX (16u << 20)	/* start a new segment past this size */
#define REC_HDR 12

struct simlog_spool {
	char dir[512];
	uint64_t max_bytes, bytes;
	int fd;			/* our segment, or -1 */
	char seg[600];
	uint64_t seg_bytes;
	unsigned seq;
};

struct simlog_spool_seg {
	int fd;
	char path[600];
	char *buf;		/* the whole segment */
	size_t len, pos;
};

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static int
mkdirs(const char *path)
{
	char buf[512];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

char *
simlog_spool_default_dir(void)
{
	const char *s = getenv("SIMLOG_SPOOL_DIR");
	char buf[512];

	if (s != NULL && *s != '\0')
		return strdup(s);
	if ((s = getenv("XDG_STATE_HOME")) != NULL && *s == '/')
		snprintf(buf, sizeof(buf), "%s/simlog/spool", s);
	else if ((s = getenv("HOME")) != NULL && *s == '/')
		snprintf(buf, sizeof(buf), "%s/.local/state/simlog/spool", s);
	else
		snprintf(buf, sizeof(buf), "/tmp/simlog-%u/spool",
		    (unsigned)getuid());
	return strdup(buf);
}

static int
is_segment(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".seg") == 0;
}

int
simlog_spool_usage(const char *dir, struct simlog_spool_usage *u)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	char path[1024];

	memset(u, 0, sizeof(*u));
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (!is_segment(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0) {
			u->segments++;
			u->bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return 0;
}

struct simlog_spool *
simlog_spool_open(const char *dir, const char *endpoint, uint64_t max_bytes,
		  struct simlog_err *err)
{
	struct simlog_spool *sp = calloc(1, sizeof(*sp));
	struct simlog_spool_usage u;
	uint64_t h = 0xcbf29ce484222325ull;
	char path[700];
	int fd;

	if (sp == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	for (const char *s = endpoint; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	snprintf(sp->dir, sizeof(sp->dir), "%s/%016llx", dir,
	    (unsigned long long)h);
	sp->fd = -1;
	sp->max_bytes = max_bytes;
	if (mkdirs(sp->dir) < 0) {
		simlog_seterr(err, SIMLOG_EX_CANTCREAT, "spool %s: %s", sp->dir,
		    strerror(errno));
		free(sp);
		return NULL;
	}
	/* Name the server, for a person looking at the directory. */
	snprintf(path, sizeof(path), "%s/endpoint", sp->dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
		/* Only informative: a failed write changes nothing. */
		if (write(fd, endpoint, strlen(endpoint)) > 0)
			(void)!write(fd, "\n", 1);
		close(fd);
	}
	if (simlog_spool_usage(sp->dir, &u) == 0)
		sp->bytes = u.bytes;
	return sp;
}

void
simlog_spool_seal(struct simlog_spool *sp)
{
	if (sp == NULL || sp->fd < 0)
		return;
	close(sp->fd);		/* releases the lock */
	sp->fd = -1;
}

void
simlog_spool_free(struct simlog_spool *sp)
{
	if (sp == NULL)
		return;
	simlog_spool_seal(sp);
	free(sp);
}

uint64_t
simlog_spool_bytes(const struct simlog_spool *sp)
{
	return sp ? sp->bytes : 0;
}

static int
new_segment(struct simlog_spool *sp, struct simlog_err *err)
{
	char tmp[620];
	int dfd;

	snprintf(sp->seg, sizeof(sp->seg), "%s/%013.0f-%ld-%u.seg", sp->dir,
	    simlog_now_wall() * 1000, (long)getpid(), sp->seq++);
	snprintf(tmp, sizeof(tmp), "%s.new", sp->seg);
	sp->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0600);
	if (sp->fd < 0)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s",
		    tmp, strerror(errno));
	/* Locked before it gets its replayable name: replay skips a segment
	 * a live writer holds, and never sees one unlocked while in use. */
	if (flock(sp->fd, LOCK_EX | LOCK_NB) < 0 || rename(tmp, sp->seg) < 0) {
		simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s", sp->seg,
		    strerror(errno));
		close(sp->fd);
		unlink(tmp);
		sp->fd = -1;
		return -1;
	}
	sp->seg_bytes = 0;
	/* The new name must survive a crash too. */
	if ((dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
simlog_spool_write(struct simlog_spool *sp, const char *sim, const char *chunk,
		   size_t len, struct simlog_err *err)
{
	size_t simlen = strlen(sim), plen = 1 + simlen + len;
	unsigned char hdr[REC_HDR + 1 + 64];
	uLong crc;
	ssize_t n;

	if (simlen > 64 || plen > UINT32_MAX)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "spool: record too large");
	if (sp->bytes + REC_HDR + plen > sp->max_bytes)
		return simlog_seterr(err, SIMLOG_EX_IOERR,
		    "spool %s is full (%llu bytes, --spool-max %llu)", sp->dir,
		    (unsigned long long)sp->bytes,
		    (unsigned long long)sp->max_bytes);
	if ((sp->fd < 0 || sp->seg_bytes >= SEG_MAX) &&
	    (simlog_spool_seal(sp), new_segment(sp, err) < 0))
		return -1;
	hdr[REC_HDR] = (unsigned char)simlen;
	memcpy(hdr + REC_HDR + 1, sim, simlen);
	crc = crc32(0L, hdr + REC_HDR, (uInt)(1 + simlen));
	crc = crc32(crc, (const Bytef *)chunk, (uInt)len);
	memcpy(hdr, "SLS1", 4);
	put32(hdr + 4, (uint32_t)plen);
	put32(hdr + 8, (uint32_t)crc);
	{
		struct iovec_s { const void *b; size_t n; } parts[2] = {
			{ hdr, REC_HDR + 1 + simlen }, { chunk, len } };

		for (int i = 0; i < 2; i++) {
			const char *p = parts[i].b;
			size_t left = parts[i].n;

			while (left > 0) {
				n = write(sp->fd, p, left);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					goto fail;
				p += n;
				left -= (size_t)n;
			}
		}
	}
	while (fdatasync(sp->fd) < 0)
		if (errno != EINTR)
			goto fail;
	sp->bytes += REC_HDR + plen;
	sp->seg_bytes += REC_HDR + plen;
	return 0;
fail:
	simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s", sp->seg,
	    strerror(errno));
	/* Never append after a partial record: start a new segment. */
	simlog_spool_seal(sp);
	return -1;
}

int
simlog_spool_pending(struct simlog_spool *sp)
{
	struct simlog_spool_usage u;

	if (simlog_spool_usage(sp->dir, &u) < 0)
		return 0;
	sp->bytes = u.bytes;
	return u.segments > 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
simlog_spool_take(struct simlog_spool *sp, struct simlog_spool_seg **out,
		  struct simlog_err *err)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int found = 0;

	*out = NULL;
	if ((d = opendir(sp->dir)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s",
		    sp->dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (!is_segment(e->d_name))
			continue;
		if (n == cap) {
			char **q = realloc(names, (cap = cap ? 2 * cap : 16) *
			    sizeof(*q));

			if (q == NULL)
				break;
			names = q;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	/* Oldest first: names start with the creation time. */
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n && !found; i++) {
		struct simlog_spool_seg *s = calloc(1, sizeof(*s));
		struct stat st;

		if (s == NULL)
			break;
		snprintf(s->path, sizeof(s->path), "%s/%s", sp->dir, names[i]);
		s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0 || flock(s->fd, LOCK_EX | LOCK_NB) < 0 ||
		    fstat(s->fd, &st) < 0 || (st.st_nlink == 0)) {
			/* Held by a live writer or replayer, or just gone. */
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			continue;
		}
		s->len = (size_t)st.st_size;
		s->buf = malloc(s->len ? s->len : 1);
		if (s->buf == NULL ||
		    (s->len > 0 && pread(s->fd, s->buf, s->len, 0) !=
		    (ssize_t)s->len)) {
			simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s",
			    s->path, s->buf ? strerror(errno) : "out of memory");
			simlog_spool_seg_release(s);
			simlog_strv_free(names, n);
			return -1;
		}
		*out = s;
		found = 1;
	}
	simlog_strv_free(names, n);
	return found;
}

int
simlog_spool_seg_next(struct simlog_spool_seg *s, char *sim, const char **chunk,
		      size_t *len)
{
	const unsigned char *p = (const unsigned char *)s->buf + s->pos;
	size_t left = s->len - s->pos;
	uint32_t plen, crc;
	unsigned simlen;

	if (left == 0)
		return 0;
	/* Too short for what it announces: a write cut short by a crash. */
	if (left < REC_HDR + 1)
		return -2;
	if (memcmp(p, "SLS1", 4) != 0)
		return -1;
	plen = get32(p + 4);
	crc = get32(p + 8);
	if (plen < 1)
		return -1;
	if (plen > left - REC_HDR)
		return -2;
	if ((uint32_t)crc32(0L, p + REC_HDR, plen) != crc)
		return -1;
	simlen = p[REC_HDR];
	if (simlen == 0 || simlen > 64 || 1 + simlen > plen ||
	    !simlog_valid_sim((const char *)p + REC_HDR + 1, simlen))
		return -1;
	memcpy(sim, p + REC_HDR + 1, simlen);
	sim[simlen] = '\0';
	*chunk = (const char *)p + REC_HDR + 1 + simlen;
	*len = plen - 1 - simlen;
	s->pos += REC_HDR + plen;
	return 1;
}

int
simlog_spool_seg_done(struct simlog_spool *sp, struct simlog_spool_seg *s)
{
	int rc = unlink(s->path);

	if (rc == 0 && sp->bytes >= s->len)
		sp->bytes -= s->len;
	simlog_spool_seg_release(s);
	return rc;
}

void
simlog_spool_seg_release(struct simlog_spool_seg *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s);
}

size_t
simlog_spool_seg_pos(const struct simlog_spool_seg *s)
{
	return s->pos;
}

int
simlog_spool_seg_trim(struct simlog_spool *sp, struct simlog_spool_seg *s,
		      size_t done, struct simlog_err *err)
{
	char tmp[620];
	int fd;
	size_t off;

	if (done == 0) {
		simlog_spool_seg_release(s);
		return 0;
	}
	if (done >= s->len)
		return simlog_spool_seg_done(sp, s) < 0 ?
		    simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s", s->path,
		    strerror(errno)) : 0;
	/* The rest replaces the segment under the same name, so it keeps
	 * its place in the replay order; rename(2) makes the swap atomic. */
	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		goto fail;
	for (off = done; off < s->len;) {
		ssize_t n = write(fd, s->buf + off, s->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			unlink(tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fdatasync(fd) < 0 || close(fd) < 0 || rename(tmp, s->path) < 0) {
		unlink(tmp);
		goto fail;
	}
	if (sp->bytes >= done)
		sp->bytes -= done;
	simlog_spool_seg_release(s);
	return 0;
fail:
	simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s", s->path,
	    strerror(errno));
	simlog_spool_seg_release(s);
	return -1;
}

int
simlog_spool_seg_damaged(struct simlog_spool *sp, struct simlog_spool_seg *s,
			 size_t done, char *kept, size_t len)
{
	int rc;

	/* What replayed is gone from it; what cannot be read is kept aside
	 * under a name replay does not take, for a person to look at. */
	snprintf(kept, len, "%s.damaged", s->path);
	rc = rename(s->path, kept);
	if (sp->bytes >= s->len)
		sp->bytes -= s->len;
	(void)done;
	simlog_spool_seg_release(s);
	return rc;
}
