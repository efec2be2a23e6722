/*
 * The spool: chunks that could not be delivered, kept on local disk until
 * Redis takes them.  DIR/<endpoint id>/ holds an "endpoint" file naming the
 * deployment and segment files "*.seg", each a run of frames:
 *
 *   record  0  4  "SLS2"
 *           4  4  payload length                       (all little-endian)
 *           8  4  records in this chunk
 *          12  8  records in the segment up to and including this chunk
 *          20  4  CRC-32 of bytes 0..20 (the header)
 *          24  4  CRC-32 of the payload
 *          28     payload: sim name length (1 byte), sim name, sealed chunk
 *   end     0  4  "SLSE"   written when the writer closes the segment
 *           4  8  records in the segment
 *          12  4  CRC-32 of bytes 0..12
 *   base    0  4  "SLSB"   first frame of a segment a replay cut short
 *           4  8  records of the segment that were replayed before
 *          12  4  CRC-32 of bytes 0..12
 *
 * A closed segment's name also says how many records it holds
 * ("...n<records>.seg").  A damaged header is skipped by scanning for the
 * next frame whose header checks out; the running count in that header
 * tells exactly how many records were lost in between, and the end frame
 * (or, when the file was cut short, the name) how many after the last
 * readable one.  A damaged payload costs its own chunk only.  Segments of
 * the first format ("SLS1": no counts) are still read.
 *
 * A writer holds flock(LOCK_EX) on its segment while it lives; replay takes
 * only segments nobody holds, so a killed writer's segment becomes
 * replayable at once.  Each record is fdatasync'ed before it counts as
 * spooled.  A segment with damage is renamed *.damaged once its readable
 * records are replayed: kept for a person to look at, never deleted.
 *
 * A directory removed or replaced under a writer (rm -r, a tmp cleaner, a
 * mv) takes the spooled records with it, though the writer's descriptors
 * still reach their bytes.  So the writer keeps a descriptor on each
 * segment it wrote this run (unlocked once sealed) and looks, after every
 * record and when sealing, whether the directory and its segment are still
 * the ones it opened: when not, it makes the directory again and writes
 * back every segment it still holds.  What cannot be written back is
 * counted as lost, never passed over.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "chunk.h"
#include "net/conn.h"
#include "simlog.h"
#include "simlog_health.h"
#include "spool.h"
#include "util.h"

/* A system user's state (simlog(7) FILES), where no home is. */
#ifndef SIMLOG_STATE_DIR
#define SIMLOG_STATE_DIR "/var/lib/simlog"
#endif

#define SEG_MAX (16u << 20)	/* start a new segment past this size */
#define REC_HDR 28
#define OLD_HDR 12
#define MARK_LEN 16		/* end and base frames */
/* The largest a segment can be: it is sealed past SEG_MAX, and its last
 * frame holds at most one chunk. */
#define SEG_FILE_MAX ((uint64_t)SEG_MAX + REC_HDR + 65 + SIMLOG_CHUNK_HDR + \
	SIMLOG_CHUNK_MAXRAW + SIMLOG_CHUNK_MAXRAW / 255 + 16 + MARK_LEN)
#define HELD_MAX 64		/* sealed segments of this run kept open */

/* A segment this process sealed, kept open to write it back should the
 * directory vanish. */
struct held {
	int fd;
	char name[640];		/* its name in the directory */
	uint64_t records;
};

struct simlog_spool {
	pthread_mutex_t mu;	/* writes come from more than one thread */
	char dir[512];
	char endpoint[700];
	dev_t dir_dev;		/* the directory as opened */
	ino_t dir_ino;
	uint64_t max_bytes, bytes;
	int fd;			/* our segment, or -1 */
	int reserve;		/* a descriptor kept for the spool, should
				 * the process run out (or -1) */
	char seg[600];
	uint64_t seg_bytes, seg_records;
	struct held held[HELD_MAX];
	size_t nheld;
	uint64_t lost;		/* spooled records no longer kept */
	struct simlog_err lost_why;
	char top[512];		/* the spool directory, as opened */
	uint64_t max_total;	/* likewise */
	char sealed[640];	/* the segment sealed last */
	struct simlog_spool *aside;	/* chunks a replay moved past */
	char (*skip)[640];	/* segments not to take again */
	size_t nskip;
	void (*say)(void *, const char *);
	void *say_arg;
};

/* Segment names end in a number unique in the process, so that two
 * spools of one process never pick the same name. */
static unsigned seg_seq;

static void recheck_locked(struct simlog_spool *sp);
static void prune_held(struct simlog_spool *sp);
static void held_drop(struct simlog_spool *sp, size_t i);

struct simlog_spool_seg {
	int fd;
	char path[600];
	char *buf;		/* the whole segment */
	size_t len, pos;
	uint64_t base;		/* records replayed before this file began */
	uint64_t seen;		/* running count of the last readable frame */
	struct simlog_spool_loss loss;
	int has_end;
	int end_in_file;	/* has_end from an end frame, not the name */
	uint64_t end_total;
	int tail_damaged;	/* the last bytes did not check out */
	size_t good_end;	/* where the last readable frame ends */
	uint64_t old_spent;	/* payload bytes checked for SLS1 frames
				 * that did not check out */
};

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

/* The home directory: $HOME, else the password database's, when it is
 * a directory of this user's (a system user's home is often "/" or
 * /nonexistent). */
static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;
	struct stat st;

	if (h != NULL && *h == '/')
		return h;
	if ((pw = getpwuid(getuid())) == NULL || pw->pw_dir == NULL ||
	    pw->pw_dir[0] != '/' || strcmp(pw->pw_dir, "/") == 0 ||
	    stat(pw->pw_dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != getuid())
		return NULL;
	return pw->pw_dir;
}

char *
simlog_spool_default_dir(void)
{
	const char *s = getenv("SIMLOG_SPOOL_DIR");
	char buf[512];

	if (s != NULL && *s != '\0')
		return strdup(s);
	/* Never under /tmp: tmp cleaners delete what waits there. */
	if ((s = getenv("XDG_STATE_HOME")) != NULL && *s == '/')
		snprintf(buf, sizeof(buf), "%s/simlog/spool", s);
	else if ((s = home_dir()) != NULL)
		snprintf(buf, sizeof(buf), "%s/.local/state/simlog/spool", s);
	else
		snprintf(buf, sizeof(buf), "%s/spool-%u", SIMLOG_STATE_DIR,
		    (unsigned)getuid());
	return strdup(buf);
}

void
simlog_spool_path(const char *dir, const char *endpoint, char *buf,
		  size_t len)
{
	snprintf(buf, len, "%s/%016llx", dir, (unsigned long long)
	    simlog_fnv1a(endpoint, strlen(endpoint)));
}

static int
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
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
		if (!has_suffix(e->d_name, ".seg"))
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

/* Make the endpoint's directory (again) and note which one it is. */
static int
make_dir(struct simlog_spool *sp, struct simlog_err *err)
{
	char path[700];
	struct stat st;
	int fd;

	if (mkdirs(sp->dir) < 0 || stat(sp->dir, &st) < 0)
		return simlog_seterrno(err, SIMLOG_EX_CANTCREAT, errno,
		    "spool %s (name another directory with --spool or "
		    "SIMLOG_SPOOL_DIR)", sp->dir);
	sp->dir_dev = st.st_dev;
	sp->dir_ino = st.st_ino;
	/* Name the server, for a person looking at the directory. */
	snprintf(path, sizeof(path), "%s/endpoint", sp->dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
		/* Only informative: a failed write changes nothing. */
		if (write(fd, sp->endpoint, strlen(sp->endpoint)) > 0)
			(void)!write(fd, "\n", 1);
		close(fd);
	}
	return 0;
}

struct simlog_spool *
simlog_spool_open(const char *dir, const char *endpoint, uint64_t max_bytes,
		  struct simlog_err *err)
{
	struct simlog_spool *sp = calloc(1, sizeof(*sp));
	struct simlog_spool_usage u;

	if (sp == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&sp->mu, NULL);
	simlog_spool_path(dir, endpoint, sp->dir, sizeof(sp->dir));
	snprintf(sp->endpoint, sizeof(sp->endpoint), "%s", endpoint);
	snprintf(sp->top, sizeof(sp->top), "%s", dir);
	sp->max_total = max_bytes;
	sp->fd = -1;
	/* The process out of descriptors is also what keeps it from
	 * reaching Redis: one is kept for the spool's next segment. */
	sp->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sp->max_bytes = max_bytes;
	if (make_dir(sp, err) < 0) {
		if (sp->reserve >= 0)
			close(sp->reserve);
		pthread_mutex_destroy(&sp->mu);
		free(sp);
		return NULL;
	}
	if (simlog_spool_usage(sp->dir, &u) == 0)
		sp->bytes = u.bytes;
	return sp;
}

void
simlog_spool_on_say(struct simlog_spool *sp, void (*say)(void *, const char *),
		    void *arg)
{
	sp->say = say;
	sp->say_arg = arg;
}

const char *
simlog_spool_dir(const struct simlog_spool *sp)
{
	return sp->dir;
}

static int
write_all(int fd, const struct iovec *iov, int n)
{
	struct iovec v[3];
	int i = 0;

	memcpy(v, iov, (size_t)n * sizeof(*v));
	while (i < n) {
		ssize_t w = writev(fd, v + i, n - i);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		while (i < n && (size_t)w >= v[i].iov_len) {
			w -= (ssize_t)v[i].iov_len;
			i++;
		}
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + w;
			v[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void
sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

static int
sync_fd(int fd)
{
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* An end or base frame. */
static void
mark(unsigned char *m, const char *magic, uint64_t count)
{
	memcpy(m, magic, 4);
	put64le(m + 4, count);
	put32le(m + 12, (uint32_t)crc32(0L, m, 12));
}

/* Close our segment, with its end frame and its count in its name, so
 * that it can be replayed; unlocked, it stays open (held) until it is
 * replayed, to be written back should the directory vanish. */
static void
seal_locked(struct simlog_spool *sp)
{
	unsigned char m[MARK_LEN];
	struct iovec v = { m, MARK_LEN };
	char named[640];

	if (sp->fd < 0)
		return;
	recheck_locked(sp);
	if (sp->fd < 0)
		return;
	mark(m, "SLSE", sp->seg_records);
	snprintf(named, sizeof(named), "%s", sp->seg);
	/* Without them the segment still replays; only a truncation after
	 * the last record could then go uncounted. */
	if (write_all(sp->fd, &v, 1) == 0 && sync_fd(sp->fd) == 0) {
		sp->bytes += MARK_LEN;
		snprintf(named, sizeof(named), "%.*s.n%llu.seg",
		    (int)strlen(sp->seg) - 4, sp->seg,
		    (unsigned long long)sp->seg_records);
		if (rename(sp->seg, named) == 0)
			sync_dir(sp->dir);
		else
			snprintf(named, sizeof(named), "%s", sp->seg);
	}
	if (sp->nheld == HELD_MAX)
		prune_held(sp);
	if (sp->nheld == HELD_MAX)
		/* Beyond this many the oldest rests on the disk alone. */
		held_drop(sp, 0);
	snprintf(sp->sealed, sizeof(sp->sealed), "%s", named);
	flock(sp->fd, LOCK_UN);		/* replayable now */
	sp->held[sp->nheld].fd = sp->fd;
	sp->held[sp->nheld].records = sp->seg_records;
	snprintf(sp->held[sp->nheld].name, sizeof(sp->held[0].name), "%s",
	    named);
	sp->nheld++;
	sp->fd = -1;
}

void
simlog_spool_seal(struct simlog_spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	seal_locked(sp);
	pthread_mutex_unlock(&sp->mu);
}

void
simlog_spool_free(struct simlog_spool *sp)
{
	if (sp == NULL)
		return;
	simlog_spool_seal(sp);
	simlog_spool_free(sp->aside);
	free(sp->skip);
	while (sp->nheld > 0)
		held_drop(sp, 0);
	if (sp->reserve >= 0)
		close(sp->reserve);
	pthread_mutex_destroy(&sp->mu);
	free(sp);
}

uint64_t
simlog_spool_bytes(const struct simlog_spool *sp)
{
	return sp ? sp->bytes : 0;
}

/* A segment name no other writer picks (creation time first, so that
 * names sort oldest first); sealed ones say how many records they hold. */
static void
fresh_name(struct simlog_spool *sp, char *buf, size_t len, int sealed,
	   uint64_t records)
{
	char base[580];

	snprintf(base, sizeof(base), "%s/%013.0f-%ld-%u", sp->dir,
	    simlog_now_wall() * 1000, (long)getpid(),
	    __atomic_fetch_add(&seg_seq, 1, __ATOMIC_RELAXED));
	if (sealed)
		snprintf(buf, len, "%s.n%llu.seg", base,
		    (unsigned long long)records);
	else
		snprintf(buf, len, "%s.seg", base);
}

/*
 * Give the file being written as path.new its name path: locked first
 * when asked (replay skips a segment a live writer holds, and never sees
 * one unlocked while in use), and never over another file.
 */
static int
name_it(int fd, const char *path, int lock)
{
	char tmp[640];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((lock && flock(fd, LOCK_EX | LOCK_NB) < 0) ||
	    renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

static int
new_segment(struct simlog_spool *sp, struct simlog_err *err)
{
	char tmp[640];

	fresh_name(sp, sp->seg, sizeof(sp->seg), 0, 0);
	snprintf(tmp, sizeof(tmp), "%s.new", sp->seg);
	/* Readable too: should the directory vanish, its bytes are copied
	 * from here. */
	sp->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0600);
	if (sp->fd < 0 && (errno == EMFILE || errno == ENFILE) &&
	    sp->reserve >= 0) {
		close(sp->reserve);
		sp->reserve = -1;
		sp->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND |
		    O_CLOEXEC, 0600);
	}
	if (sp->fd < 0)
		return simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    tmp);
	if (name_it(sp->fd, sp->seg, 1) < 0) {
		simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    sp->seg);
		close(sp->fd);
		sp->fd = -1;
		return -1;
	}
	sp->seg_bytes = 0;
	sp->seg_records = 0;
	/* The new name must survive a crash too. */
	sync_dir(sp->dir);
	return 0;
}

/* --- a directory that vanishes --------------------------------------------- */

/* Diagnostics go to the caller's say, if any. */
#define tell(sp, ...) simlog_say((sp)->say, (sp)->say_arg, __VA_ARGS__)

/* Whether fd is still the file named path. */
static int
still_named(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && a.st_nlink > 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Whether the directory is still the one written to. */
static int
dir_intact(const struct simlog_spool *sp)
{
	struct stat st;

	return stat(sp->dir, &st) == 0 && st.st_dev == sp->dir_dev &&
	    st.st_ino == sp->dir_ino;
}

/* Write the bytes of from into a new file named path; its descriptor
 * (locked when asked), or -1 with errno set. */
static int
copy_to(int from, const char *path, int lock)
{
	char tmp[640], buf[65536];
	off_t off = 0;
	ssize_t n;
	int fd, saved;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0600)) < 0)
		return -1;
	while ((n = pread(from, buf, sizeof(buf), off)) != 0) {
		struct iovec v;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		v.iov_base = buf;
		v.iov_len = (size_t)n;
		if (write_all(fd, &v, 1) < 0)
			goto fail;
		off += n;
	}
	if (sync_fd(fd) < 0)
		goto fail;
	if (name_it(fd, path, lock) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

static void
held_drop(struct simlog_spool *sp, size_t i)
{
	close(sp->held[i].fd);
	sp->held[i] = sp->held[--sp->nheld];
}

/* Under mu: the held segment that fd is a descriptor of, or -1. */
static long
held_find(struct simlog_spool *sp, int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0)
		return -1;
	for (size_t i = 0; i < sp->nheld; i++)
		if (fstat(sp->held[i].fd, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return (long)i;
	return -1;
}

/* Under mu: records that were spooled and are kept no more. */
static void
count_lost(struct simlog_spool *sp, uint64_t records, const char *what,
	   int saved)
{
	sp->lost += records;
	simlog_seterr(&sp->lost_why, SIMLOG_EX_IOERR, "spool %s: %s, and "
	    "writing it back failed: %s", sp->dir, what, strerror(saved));
}

/*
 * Under mu: are the directory and our segment still the ones written to?
 * Segments of ours that vanished with them are written back into the
 * directory, made again; what cannot be is counted as lost.  A sealed
 * segment gone from a directory still in place was replayed: only a
 * vanished directory takes those with it.
 */
static void
recheck_locked(struct simlog_spool *sp)
{
	int dir_ok = dir_intact(sp);
	int seg_ok = sp->fd < 0 || still_named(sp->fd, sp->seg);
	const char *what = dir_ok ? "the segment being written was removed "
	    "or replaced" : "the directory was removed or replaced";
	uint64_t back = 0;
	unsigned nback = 0;
	struct simlog_err e;
	char path[600];
	int fd;

	if (dir_ok && seg_ok)
		return;
	if (!dir_ok && make_dir(sp, &e) < 0) {
		int saved = errno;

		if (sp->fd >= 0) {
			count_lost(sp, sp->seg_records, what, saved);
			close(sp->fd);
			sp->fd = -1;
		}
		while (sp->nheld > 0) {
			count_lost(sp, sp->held[0].records, what, saved);
			held_drop(sp, 0);
		}
		tell(sp, "%s", sp->lost_why.msg);
		return;
	}
	if (sp->fd >= 0 && !still_named(sp->fd, sp->seg)) {
		fresh_name(sp, path, sizeof(path), 0, 0);
		if ((fd = copy_to(sp->fd, path, 1)) < 0) {
			count_lost(sp, sp->seg_records, what, errno);
			tell(sp, "%s", sp->lost_why.msg);
			close(sp->fd);
			sp->fd = -1;
		} else {
			close(sp->fd);
			sp->fd = fd;
			snprintf(sp->seg, sizeof(sp->seg), "%s", path);
			back += sp->seg_records;
			nback++;
		}
	}
	for (size_t i = 0; !dir_ok && i < sp->nheld;) {
		struct held *h = &sp->held[i];

		if (still_named(h->fd, h->name)) {
			i++;
			continue;
		}
		fresh_name(sp, path, sizeof(path), 1, h->records);
		if ((fd = copy_to(h->fd, path, 0)) < 0) {
			count_lost(sp, h->records, what, errno);
			tell(sp, "%s", sp->lost_why.msg);
			held_drop(sp, i);
			continue;
		}
		close(h->fd);
		h->fd = fd;
		snprintf(h->name, sizeof(h->name), "%s", path);
		back += h->records;
		nback++;
		i++;
	}
	sync_dir(sp->dir);
	if (nback > 0)
		tell(sp, "spool %s: %s while records were spooled in it; "
		    "wrote back the %llu records this process still held (%u "
		    "segment%s)", sp->dir, what, (unsigned long long)back,
		    nback, nback == 1 ? "" : "s");
}

/* Under mu: let go of sealed segments replayed meanwhile. */
static void
prune_held(struct simlog_spool *sp)
{
	struct stat st;

	for (size_t i = 0; i < sp->nheld;)
		if (fstat(sp->held[i].fd, &st) < 0 || st.st_nlink == 0)
			held_drop(sp, i);
		else
			i++;
}

uint64_t
simlog_spool_lost(struct simlog_spool *sp, struct simlog_err *why)
{
	uint64_t n;

	pthread_mutex_lock(&sp->mu);
	n = sp->lost;
	if (why != NULL)
		*why = sp->lost_why;
	pthread_mutex_unlock(&sp->mu);
	return n;
}

int
simlog_spool_write(struct simlog_spool *sp, const char *sim, const char *chunk,
		   size_t len, uint32_t records, struct simlog_err *err)
{
	size_t simlen = strlen(sim), plen = 1 + simlen + len;
	unsigned char hdr[REC_HDR + 1 + 64];
	struct iovec v[2];
	uLong crc;
	int rc = -1;

	if (simlen > 64 || plen > UINT32_MAX)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "spool: record too large");
	pthread_mutex_lock(&sp->mu);
	/* Not into a directory that has gone: a segment made now would be
	 * just as unreachable. */
	recheck_locked(sp);
	if (sp->bytes + REC_HDR + plen + MARK_LEN > sp->max_bytes) {
		simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s is full (%llu of "
		    "at most %llu bytes)", sp->dir,
		    (unsigned long long)sp->bytes,
		    (unsigned long long)sp->max_bytes);
		goto out;
	}
	if (sp->fd >= 0 && sp->seg_bytes >= SEG_MAX)
		seal_locked(sp);
	if (sp->fd < 0 && new_segment(sp, err) < 0)
		goto out;
	hdr[REC_HDR] = (unsigned char)simlen;
	memcpy(hdr + REC_HDR + 1, sim, simlen);
	crc = crc32(0L, hdr + REC_HDR, (uInt)(1 + simlen));
	crc = crc32(crc, (const Bytef *)chunk, (uInt)len);
	memcpy(hdr, "SLS2", 4);
	put32le(hdr + 4, (uint32_t)plen);
	put32le(hdr + 8, records);
	put64le(hdr + 12, sp->seg_records + records);
	put32le(hdr + 20, (uint32_t)crc32(0L, hdr, 20));
	put32le(hdr + 24, (uint32_t)crc);
	v[0].iov_base = hdr;
	v[0].iov_len = REC_HDR + 1 + simlen;
	v[1].iov_base = (void *)chunk;
	v[1].iov_len = len;
	if (write_all(sp->fd, v, 2) < 0 || sync_fd(sp->fd) < 0) {
		simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    sp->seg);
		/* Never append after a partial record: cut it off (a full
		 * disk leaves no torn record behind), or, failing that,
		 * start a new segment (what is on disk stays readable up
		 * to the torn record). */
		if (ftruncate(sp->fd, (off_t)sp->seg_bytes) < 0) {
			close(sp->fd);
			sp->fd = -1;
		}
		goto out;
	}
	sp->bytes += REC_HDR + plen;
	sp->seg_bytes += REC_HDR + plen;
	sp->seg_records += records;
	/* Spooled only once it is in a file the directory still names. */
	recheck_locked(sp);
	rc = 0;
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

int
simlog_spool_pending(struct simlog_spool *sp, struct simlog_err *err)
{
	struct simlog_spool_usage u;
	int rc;

	pthread_mutex_lock(&sp->mu);
	recheck_locked(sp);
	prune_held(sp);
	if ((rc = simlog_spool_usage(sp->dir, &u)) < 0)
		simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    sp->dir);
	else
		sp->bytes = u.bytes;
	pthread_mutex_unlock(&sp->mu);
	return rc < 0 ? -1 : u.segments > 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending in suffix, sorted (oldest first: names start
 * with the creation time). */
static int
list_dir(const char *dir, const char *suffix, char ***names, size_t *n)
{
	DIR *d;
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (!has_suffix(e->d_name, suffix))
			continue;
		if (*n == cap) {
			char **q = realloc(*names, (cap = cap ? 2 * cap : 16) *
			    sizeof(*q));

			if (q == NULL)
				break;
			*names = q;
		}
		if (((*names)[*n] = strdup(e->d_name)) != NULL)
			(*n)++;
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), by_name);
	return 0;
}

static int
read_whole(struct simlog_spool_seg *s)
{
	struct stat st;

	if (fstat(s->fd, &st) < 0)
		return -1;
	s->len = (size_t)st.st_size;
	if ((s->buf = malloc(s->len ? s->len : 1)) == NULL)
		return -1;
	if (s->len > 0 && pread(s->fd, s->buf, s->len, 0) != (ssize_t)s->len)
		return -1;
	return 0;
}

/* A base frame first: where a cut-short replay left the running count;
 * and the count a closed segment's name gives. */
static void
read_base(struct simlog_spool_seg *s)
{
	const unsigned char *p = (const unsigned char *)s->buf;
	const char *n = strrchr(s->path, '/'), *dot;

	n = n ? n + 1 : s->path;
	if ((dot = strstr(n, ".n")) != NULL && has_suffix(dot, ".seg")) {
		char *end;
		unsigned long long v = strtoull(dot + 2, &end, 10);

		if (end != dot + 2 && strcmp(end, ".seg") == 0) {
			s->has_end = 1;
			s->end_total = v;
		}
	}
	if (s->len >= MARK_LEN && memcmp(p, "SLSB", 4) == 0 &&
	    get32le(p + 12) == (uint32_t)crc32(0L, p, 12)) {
		s->base = s->seen = get64le(p + 4);
		s->pos = MARK_LEN;
	}
	s->good_end = s->pos;
}

/* --- chunks a replay moves past ------------------------------------------- */

int
simlog_spool_write_aside(struct simlog_spool *sp, const char *sim,
			 const char *chunk, size_t len, uint32_t records,
			 struct simlog_err *err)
{
	if (sp->aside == NULL &&
	    (sp->aside = simlog_spool_open(sp->top, sp->endpoint,
	    sp->max_total, err)) == NULL)
		return -1;
	return simlog_spool_write(sp->aside, sim, chunk, len, records, err);
}

void
simlog_spool_seal_aside(struct simlog_spool *sp)
{
	char (*q)[640];

	if (sp->aside == NULL || sp->aside->fd < 0)
		return;
	simlog_spool_seal(sp->aside);
	pthread_mutex_lock(&sp->mu);
	if ((q = realloc(sp->skip, (sp->nskip + 1) * sizeof(*q))) != NULL) {
		sp->skip = q;
		snprintf(q[sp->nskip++], sizeof(q[0]), "%s", sp->aside->sealed);
	}
	pthread_mutex_unlock(&sp->mu);
}

/* Whether path is a segment set aside by this spool. */
static int
skipped(struct simlog_spool *sp, const char *path)
{
	int found = 0;

	pthread_mutex_lock(&sp->mu);
	for (size_t i = 0; i < sp->nskip && !found; i++)
		found = strcmp(sp->skip[i], path) == 0;
	pthread_mutex_unlock(&sp->mu);
	return found;
}

int
simlog_spool_take(struct simlog_spool *sp, struct simlog_spool_seg **out,
		  struct simlog_err *err)
{
	char **names;
	size_t n, i;
	int found = 0;

	*out = NULL;
	if (list_dir(sp->dir, ".seg", &names, &n) < 0)
		return simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    sp->dir);
	for (i = 0; i < n && !found; i++) {
		struct simlog_spool_seg *s = calloc(1, sizeof(*s));
		struct stat st;

		if (s == NULL)
			break;
		snprintf(s->path, sizeof(s->path), "%s/%s", sp->dir, names[i]);
		if (skipped(sp, s->path)) {
			free(s);
			continue;
		}
		s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0 || flock(s->fd, LOCK_EX | LOCK_NB) < 0 ||
		    fstat(s->fd, &st) < 0 || st.st_nlink == 0) {
			/* Held by a live writer or replayer, or just gone. */
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			continue;
		}
		if (read_whole(s) < 0) {
			simlog_seterr(err, SIMLOG_EX_IOERR, "spool %s: %s",
			    s->path, s->buf ? strerror(errno) : "out of memory");
			simlog_spool_seg_release(s);
			simlog_strv_free(names, n);
			return -1;
		}
		read_base(s);
		*out = s;
		found = 1;
	}
	simlog_strv_free(names, n);
	return found;
}

/*
 * The most records b bytes of a segment can hold: a record is at least 3
 * bytes raw ("t\t\n"), and LZ4 packs at most 255 bytes into one.  A count
 * that claims more (a frame whose checksums hold but whose numbers were
 * made up) is not believed: no loss is ever reported larger than the
 * file could have held.
 */
static uint64_t
could_hold(uint64_t b)
{
	return 86 * b + 86;
}

/*
 * Is there a valid frame header at p (left bytes)?  Returns its kind:
 * 2 record (SLS2), 1 old record (SLS1), 3 end, 0 none.  SLS1 frames have
 * no header checksum: their payload's is the test, and a candidate can
 * claim the rest of the file, so candidates that fail may cost at most
 * twice the file's size in all: resynchronizing stays linear.
 */
static int
frame_at(struct simlog_spool_seg *s, const unsigned char *p, size_t left)
{
	if (left >= REC_HDR && memcmp(p, "SLS2", 4) == 0 &&
	    get32le(p + 20) == (uint32_t)crc32(0L, p, 20))
		return 2;
	if (left >= MARK_LEN && memcmp(p, "SLSE", 4) == 0 &&
	    get32le(p + 12) == (uint32_t)crc32(0L, p, 12))
		return 3;
	if (left >= OLD_HDR + 1 && memcmp(p, "SLS1", 4) == 0) {
		uint32_t plen = get32le(p + 4);

		if (plen < 1 || plen > left - OLD_HDR)
			return 0;
		if (s->old_spent + plen > 2 * (uint64_t)s->len) {
			s->loss.unknown = 1;
			return 0;
		}
		if (get32le(p + 8) == (uint32_t)crc32(0L, p + OLD_HDR, plen))
			return 1;
		s->old_spent += plen;
	}
	return 0;
}

/* The payload's sim name and chunk; 0 if they make no sense. */
static int
payload(const unsigned char *p, uint32_t plen, struct simlog_spool_rec *r)
{
	unsigned simlen = p[0];

	if (simlen == 0 || simlen > 64 || 1 + simlen > plen ||
	    !simlog_valid_sim((const char *)p + 1, simlen))
		return 0;
	memcpy(r->sim, p + 1, simlen);
	r->sim[simlen] = '\0';
	r->chunk = (const char *)p + 1 + simlen;
	r->len = plen - 1 - simlen;
	return 1;
}

/* Skip unreadable bytes up to the next frame that checks out. */
static void
resync(struct simlog_spool_seg *s)
{
	size_t from = s->pos;

	for (s->pos++; s->pos < s->len; s->pos++)
		if (s->buf[s->pos] == 'S' && frame_at(s, (const unsigned char *)
		    s->buf + s->pos, s->len - s->pos))
			break;
	s->loss.bad_bytes += s->pos - from;
	s->loss.damaged = 1;
	/* Nothing readable after it: its records cannot be counted
	 * without an end mark. */
	s->tail_damaged = s->pos == s->len;
}

/* Records lost before a frame whose running count is known; 0, or -1 when
 * the count claims more than the bytes since the last readable frame (up
 * to end) could have held. */
static int
count_gap(struct simlog_spool_seg *s, uint64_t before, uint64_t end)
{
	if (before > s->seen && before - s->seen > could_hold(end -
	    s->good_end))
		return -1;
	if (before > s->seen) {
		s->loss.records += before - s->seen;
		s->loss.damaged = 1;
		/* Counted once: the end is reached again by every later
		 * call, and a torn frame's header counts again there. */
		s->seen = before;
	}
	return 0;
}

int
simlog_spool_seg_next(struct simlog_spool_seg *s, struct simlog_spool_rec *r)
{
	while (s->pos < s->len) {
		const unsigned char *p = (const unsigned char *)s->buf + s->pos;
		size_t left = s->len - s->pos;
		uint32_t plen, nrec;
		uint64_t cum;

		switch (frame_at(s, p, left)) {
		case 3:
			/* A count beyond what the bytes before it held: made
			 * up, so no end mark. */
			cum = get64le(p + 4);
			s->pos += MARK_LEN;
			if (cum > s->seen && cum - s->seen >
			    could_hold(s->pos - MARK_LEN - s->good_end)) {
				s->loss.damaged = 1;
				s->loss.unknown = 1;
				continue;
			}
			/* good_end stays: what the mark counts lies before
			 * it, and is checked against those bytes at the end. */
			s->has_end = 1;
			s->end_in_file = 1;
			s->end_total = cum;
			continue;
		case 2:
			break;
		case 1:
			plen = get32le(p + 4);
			s->pos += OLD_HDR + plen;
			s->good_end = s->pos;
			if (!payload(p + OLD_HDR, plen, r)) {
				s->loss.damaged = 1;
				s->loss.unknown = 1;
				continue;
			}
			r->records = 0;
			r->end = s->pos;
			r->seen = s->seen;
			return 1;
		case 0:
			if (left < REC_HDR && memcmp(p, "SLS2", left < 4 ?
			    left : 4) == 0) {
				/* A header cut short: the last write torn. */
				s->loss.torn = 1;
				s->loss.bad_bytes += left;
				s->pos = s->len;
				continue;
			}
			resync(s);
			continue;
		}
		plen = get32le(p + 4);
		nrec = get32le(p + 8);
		cum = get64le(p + 12);
		/* A count its own bytes could not hold: a header that only
		 * checks out. */
		if (cum < nrec || nrec > could_hold(plen)) {
			resync(s);
			continue;
		}
		/* A running count the bytes skipped before it could not
		 * hold: the chunk is read all the same, the loss is not
		 * counted, and the count goes on from what was seen. */
		if (count_gap(s, cum - nrec, s->pos) < 0) {
			s->loss.damaged = 1;
			s->loss.unknown = 1;
			cum = s->seen + nrec;
		}
		if (plen > left - REC_HDR) {
			/* The header is whole, the payload cut short: a closed
			 * segment lost it (counted below from its total); an
			 * open one is what a writer killed while writing
			 * leaves, a chunk never counted as spooled. */
			s->loss.torn = 1;
			s->loss.bad_bytes += left;
			s->pos = s->len;
			continue;
		}
		s->pos += REC_HDR + plen;
		s->good_end = s->pos;
		if (get32le(p + 24) != (uint32_t)crc32(0L, p + REC_HDR, plen) ||
		    !payload(p + REC_HDR, plen, r)) {
			/* This chunk only: the next frame follows it. */
			s->loss.records += nrec;
			s->loss.damaged = 1;
			s->loss.bad_bytes += REC_HDR + plen;
			s->seen = cum;
			continue;
		}
		s->seen = cum;
		r->records = nrec;
		r->end = s->pos;
		r->seen = cum;
		return 1;
	}
	/* A closed segment says how many records it holds: whatever is
	 * missing at the end was lost (unless the count is more than the
	 * rest of the file could have held: the bytes after the last
	 * readable frame, or when only the name gives the count, for a file
	 * cut short, the largest a segment can be).  An open one (its writer
	 * died) ends where the writer stopped; only damage before that
	 * counts, and damage at its very end hides how much followed. */
	if (s->has_end && count_gap(s, s->end_total, s->end_in_file ? s->len :
	    s->good_end + SEG_FILE_MAX) < 0) {
		s->loss.unknown = 1;
		s->has_end = 0;
	} else if (!s->has_end && s->loss.damaged && s->tail_damaged)
		s->loss.unknown = 1;
	return 0;
}

void
simlog_spool_seg_loss(const struct simlog_spool_seg *s,
		      struct simlog_spool_loss *loss)
{
	*loss = s->loss;
}

const char *
simlog_spool_seg_name(const struct simlog_spool_seg *s)
{
	return s->path;
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

int
simlog_spool_seg_done(struct simlog_spool *sp, struct simlog_spool_seg *s,
		      char *kept, size_t len)
{
	long i;
	int rc;

	if (kept != NULL && len > 0)
		kept[0] = '\0';
	if (s->loss.damaged || s->loss.torn) {
		/* Replayed what could be read; the rest stays for a person,
		 * under a name replay does not take. */
		snprintf(kept, len, "%s.damaged", s->path);
		rc = rename(s->path, kept);
	} else
		rc = unlink(s->path);
	pthread_mutex_lock(&sp->mu);
	if (rc == 0 && sp->bytes >= s->len)
		sp->bytes -= s->len;
	/* Ours and replayed: nothing to write back any more. */
	if (rc == 0 && (i = held_find(sp, s->fd)) >= 0)
		held_drop(sp, (size_t)i);
	pthread_mutex_unlock(&sp->mu);
	simlog_spool_seg_release(s);
	return rc;
}

int
simlog_spool_seg_trim(struct simlog_spool *sp, struct simlog_spool_seg *s,
		      size_t done, uint64_t done_records,
		      struct simlog_err *err)
{
	char tmp[620];
	unsigned char m[MARK_LEN];
	struct iovec v[2];
	long i;
	int fd;

	if (done == 0) {
		simlog_spool_seg_release(s);
		return 0;
	}
	/* The rest replaces the segment under the same name, so it keeps
	 * its place in the replay order; rename(2) makes the swap atomic.
	 * A base frame keeps the running count right for the next replay. */
	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		goto fail;
	mark(m, "SLSB", done_records);
	v[0].iov_base = m;
	v[0].iov_len = MARK_LEN;
	v[1].iov_base = s->buf + done;
	v[1].iov_len = s->len - done;
	if (write_all(fd, v, 2) < 0 || sync_fd(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, s->path) < 0) {
		unlink(tmp);
		goto fail;
	}
	pthread_mutex_lock(&sp->mu);
	if (sp->bytes >= done)
		sp->bytes -= done;
	sp->bytes += MARK_LEN;
	/* Ours: what is left is what to write back, should it come to
	 * that. */
	if ((i = held_find(sp, s->fd)) >= 0) {
		if ((fd = open(s->path, O_RDONLY | O_CLOEXEC)) >= 0) {
			close(sp->held[i].fd);
			sp->held[i].fd = fd;
			sp->held[i].records = sp->held[i].records >
			    done_records ? sp->held[i].records -
			    done_records : 0;
		} else
			held_drop(sp, (size_t)i);
	}
	pthread_mutex_unlock(&sp->mu);
	simlog_spool_seg_release(s);
	return 0;
fail:
	simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
	    s->path);
	simlog_spool_seg_release(s);
	return -1;
}

/* --- what waits -------------------------------------------------------- */

static int
stat_one(const char *dir, const char *name, int state,
	 int (*fn)(void *, const struct simlog_spool_stat *), void *arg)
{
	struct simlog_spool_seg s;
	struct simlog_spool_stat st;
	struct simlog_spool_rec r;
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	snprintf(s.path, sizeof(s.path), "%s/%s", dir, name);
	if ((s.fd = open(s.path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;	/* replayed meanwhile */
	/* A segment a live writer or replayer holds. */
	if (state == SIMLOG_SPOOL_WAITING &&
	    flock(s.fd, LOCK_SH | LOCK_NB) < 0)
		state = SIMLOG_SPOOL_BUSY;
	if (read_whole(&s) < 0) {
		close(s.fd);
		free(s.buf);
		return -1;
	}
	read_base(&s);
	st.name = name;
	st.state = state;
	st.bytes = s.len;
	while (simlog_spool_seg_next(&s, &r) > 0) {
		size_t i;

		st.records += r.records;
		st.chunks++;
		for (i = 0; i < st.nsims; i++)
			if (strcmp(st.sims[i].name, r.sim) == 0)
				break;
		if (i == st.nsims && i < SIMLOG_SPOOL_STAT_SIMS) {
			snprintf(st.sims[i].name, sizeof(st.sims[i].name),
			    "%s", r.sim);
			st.nsims++;
		}
		if (i < st.nsims)
			st.sims[i].records += r.records;
	}
	/* A live writer's segment has no end frame yet: that is no loss. */
	if (state == SIMLOG_SPOOL_BUSY && !s.loss.damaged && !s.loss.torn)
		s.loss.unknown = 0;
	st.loss = s.loss;
	rc = fn(arg, &st);
	close(s.fd);
	free(s.buf);
	return rc;
}

int
simlog_spool_status(const char *dir,
		    int (*fn)(void *, const struct simlog_spool_stat *),
		    void *arg)
{
	static const struct {
		const char *suffix;
		int state;
	} kinds[] = {
		{ ".seg", SIMLOG_SPOOL_WAITING },
		{ ".damaged", SIMLOG_SPOOL_DAMAGED },
	};

	for (size_t k = 0; k < 2; k++) {
		char **names;
		size_t n;
		int rc = 0;

		if (list_dir(dir, kinds[k].suffix, &names, &n) < 0)
			return -1;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = stat_one(dir, names[i], kinds[k].state, fn, arg);
		simlog_strv_free(names, n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* --- every endpoint's spool -------------------------------------------- */

static int
is_endpoint_id(const char *name)
{
	size_t n = 0;

	for (; name[n] != '\0'; n++)
		if (!((name[n] >= '0' && name[n] <= '9') ||
		    (name[n] >= 'a' && name[n] <= 'f')))
			return 0;
	return n == 16;
}

int
simlog_spool_each(const char *dir,
		  int (*fn)(void *, const char *, const char *), void *arg)
{
	char **names, path[1024], file[1100], endpoint[700];
	size_t n;
	int rc = 0;

	if (list_dir(dir, "", &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		ssize_t len = -1;
		int fd;

		if (!is_endpoint_id(names[i]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(file, sizeof(file), "%s/endpoint", path);
		/* The name is the directory's only record of its endpoint. */
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) >= 0) {
			len = read(fd, endpoint, sizeof(endpoint) - 1);
			close(fd);
		}
		if (len <= 0)
			continue;
		endpoint[len] = '\0';
		endpoint[strcspn(endpoint, "\n")] = '\0';
		rc = fn(arg, path, endpoint);
	}
	simlog_strv_free(names, n);
	return rc;
}

/* The spool as a monitor sees it (simlog_health.h). */
int
simlog_spool_backlog(const char *dir, const struct simlog_conn *conn,
		     char *path, size_t len, struct simlog_spool_usage *u,
		     struct simlog_err *err)
{
	char endpoint[600];

	simlog_conn_endpoint(conn, 1, endpoint, sizeof(endpoint));
	simlog_spool_path(dir, endpoint, path, len);
	if (simlog_spool_usage(path, u) < 0)
		return simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    path);
	return 0;
}
