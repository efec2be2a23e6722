/*
 * One connection to one Redis server.  The socket is non-blocking; every
 * wait is a poll(2) bounded by an absolute deadline, re-checked after each
 * EINTR, so no signal can stretch or re-arm a timeout.  Commands are
 * formatted as RESP straight into the output buffer; replies are parsed by
 * hiredis's reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <hiredis/hiredis.h>

#include "net/topo.h"

#define READ_CHUNK (64 * 1024)

int
simlog_net_wait(int fd, short events, double deadline,
		const volatile sig_atomic_t *stop)
{
	struct pollfd p;

	for (;;) {
		double left = deadline - simlog_now_mono();
		int ms, r;

		if (stop != NULL && *stop)
			return -1;
		if (left <= 0)
			return 0;
		ms = left > 3600 ? 3600000 : (int)(left * 1000) + 1;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		/* Timed out or interrupted: the deadline decides, not poll. */
	}
}

void
simlog_link_init(struct simlog_link *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

int
simlog_link_connected(const struct simlog_link *l)
{
	return l->fd >= 0 && !l->broken;
}

size_t
simlog_link_pending(const struct simlog_link *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->tcount; i++)
		n += l->tags[(l->thead + i) % l->tcap] == LINK_USER;
	return n;
}

size_t
simlog_link_unsent(const struct simlog_link *l)
{
	return l->len - l->off;
}

void
simlog_link_close(struct simlog_link *l)
{
	if (l->ssl != NULL) {
		simlog_tls_close(l->ssl);
		l->ssl = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	if (l->reader != NULL) {
		redisReaderFree(l->reader);
		l->reader = NULL;
	}
	free(l->out);
	free(l->tags);
	free(l->tag_script);
	l->out = NULL;
	l->tags = NULL;
	l->tag_script = NULL;
	l->len = l->off = l->cap = 0;
	l->thead = l->tcount = l->tcap = 0;
	l->scripts_loaded = l->scripts_failed = 0;
	l->broken = 0;
	l->any_reply = 0;
}

/* An error the caller classes as "Redis unavailable". */
static int
fail(struct simlog_link *l, struct simlog_err *err, const char *why)
{
	l->broken = 1;
	simlog_seterr(&l->why, SIMLOG_EX_UNAVAILABLE, "%s", why);
	/* strerror's capital, in err(3) style after "what: ". */
	if (l->why.msg[0] >= 'A' && l->why.msg[0] <= 'Z' &&
	    l->why.msg[1] >= 'a' && l->why.msg[1] <= 'z' &&
	    strncmp(l->why.msg, "Redis", 5) != 0)
		l->why.msg[0] = (char)(l->why.msg[0] - 'A' + 'a');
	if (err != NULL)
		*err = l->why;
	return -1;
}

/*
 * A failure of this process's own (its open-file limit, memory, the
 * host's local ports) is not Redis's: no breaker shared with other
 * processes counts it, and no retry waits for Redis to mend it.
 */
/*
 * A failure of this process's own (its open-file limit, memory, the
 * host's local ports) is not Redis's: no breaker shared with other
 * processes counts it, and no retry waits for Redis to mend it.
 */
static int
fail_errno(struct simlog_link *l, struct simlog_err *err, int e)
{
	const char *hint;

	if (!simlog_errno_local(e, &hint))
		return fail(l, err, strerror(e));
	fail(l, NULL, strerror(e));
	l->why.code = SIMLOG_EX_OSERR;
	snprintf(l->why.msg + strlen(l->why.msg), sizeof(l->why.msg) -
	    strlen(l->why.msg), " (%s), not a failure of Redis", hint);
	if (err != NULL)
		*err = l->why;
	return -1;
}

static int
stopped(struct simlog_link *l, struct simlog_err *err)
{
	l->broken = 1;
	simlog_seterr(&l->why, SIMLOG_EX_TEMPFAIL, "interrupted");
	l->why.stopped = 1;
	if (err != NULL)
		*err = l->why;
	return -1;
}

/* A failure reported by the TLS layer also breaks the link. */
static int
broke(struct simlog_link *l, struct simlog_err *err)
{
	l->broken = 1;
	if (err != NULL)
		l->why = *err;
	return -1;
}

/* Connect one socket by the deadline. */
static int
connect_fd(int fd, const struct sockaddr *sa, socklen_t salen, double deadline,
	   const volatile sig_atomic_t *stop, int *stop_hit)
{
	int e = 0;
	socklen_t elen = sizeof(e);
	int w;

	*stop_hit = 0;
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	w = simlog_net_wait(fd, POLLOUT, deadline, stop);
	if (w < 0) {
		*stop_hit = stop != NULL && *stop;
		if (!*stop_hit)
			errno = EIO;
		return -1;
	}
	if (w == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

static int
open_unix(struct simlog_link *l, const char *path, double deadline,
	  struct simlog_err *err)
{
	struct sockaddr_un sun;
	int stop_hit;

	if (strlen(path) >= sizeof(sun.sun_path))
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "socket path longer than %zu bytes", sizeof(sun.sun_path) - 1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return fail_errno(l, err, errno);
	if (connect_fd(l->fd, (struct sockaddr *)&sun, sizeof(sun), deadline,
	    l->stop, &stop_hit) < 0) {
		if (stop_hit)
			return stopped(l, err);
		/* A full accept queue on a unix socket says EAGAIN. */
		return fail(l, err, errno == EAGAIN ?
		    "server not accepting connections (listen queue full)" :
		    errno == ETIMEDOUT ? "timed out" : strerror(errno));
	}
	snprintf(l->addr, sizeof(l->addr), "%s", path);
	return 0;
}

static int
open_tcp(struct simlog_link *l, const char *host, int port, double deadline,
	 struct simlog_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char ports[16];
	int rc, saved = 0, stop_hit = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ports, sizeof(ports), "%d", port);
	if ((rc = getaddrinfo(host, ports, &hints, &res)) != 0)
		return rc == EAI_SYSTEM ? fail_errno(l, err, errno) :
		    rc == EAI_MEMORY ? fail_errno(l, err, ENOMEM) :
		    fail(l, err, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		l->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (l->fd < 0) {
			saved = errno;
			continue;
		}
		if (connect_fd(l->fd, ai->ai_addr, ai->ai_addrlen, deadline,
		    l->stop, &stop_hit) == 0)
			break;
		saved = errno;
		close(l->fd);
		l->fd = -1;
		if (stop_hit || saved == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (stop_hit)
		return stopped(l, err);
	if (l->fd < 0)
		return saved == ETIMEDOUT ? fail(l, err, "timed out") :
		    fail_errno(l, err, saved);
	/* Small commands (acks, pings) should not wait for Nagle. */
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(l->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	snprintf(l->addr, sizeof(l->addr), strchr(host, ':') ? "[%s]:%d" :
	    "%s:%d", host, port);
	return 0;
}

int
simlog_link_open(struct simlog_link *l, const struct link_target *t,
		 struct simlog_tls *tls, const char *server_name,
		 double deadline, struct simlog_err *err)
{
	const volatile sig_atomic_t *stop = l->stop;
	uint64_t *count = l->count;
	int rc;

	simlog_link_close(l);
	l->stop = stop;
	l->count = count;
	if (t->path != NULL)
		rc = open_unix(l, t->path, deadline, err);
	else
		rc = open_tcp(l, t->host, t->port, deadline, err);
	if (rc == 0 && tls != NULL)
		rc = simlog_tls_handshake(tls, l->fd, server_name ? server_name :
		    t->host, deadline, l->stop, &l->ssl, err);
	if (rc == 0 && (l->reader = redisReaderCreate()) == NULL)
		rc = simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (rc < 0) {
		simlog_link_close(l);
		l->stop = stop;
		l->count = count;
		return -1;
	}
	return 0;
}

static int
grow_out(struct simlog_link *l, size_t more)
{
	size_t need, n;
	char *q;

	/* Reclaim what has been written before growing. */
	if (l->off > 0 && l->off == l->len)
		l->off = l->len = 0;
	need = l->len + more;
	if (need <= l->cap)
		return 0;
	if (l->off > 0) {
		memmove(l->out, l->out + l->off, l->len - l->off);
		l->len -= l->off;
		l->off = 0;
		need = l->len + more;
		if (need <= l->cap)
			return 0;
	}
	n = l->cap ? l->cap : 16384;
	while (n < need)
		n *= 2;
	if ((q = realloc(l->out, n)) == NULL)
		return -1;
	l->out = q;
	l->cap = n;
	return 0;
}

static int
push_tag(struct simlog_link *l, enum link_tag tag, uint32_t script)
{
	if (l->tcount == l->tcap) {
		size_t n = l->tcap ? l->tcap * 2 : 64, i;
		uint8_t *t = malloc(n);
		uint32_t *s = malloc(n * sizeof(*s));

		if (t == NULL || s == NULL) {
			free(t);
			free(s);
			return -1;
		}
		for (i = 0; i < l->tcount; i++) {
			t[i] = l->tags[(l->thead + i) % l->tcap];
			s[i] = l->tag_script[(l->thead + i) % l->tcap];
		}
		free(l->tags);
		free(l->tag_script);
		l->tags = t;
		l->tag_script = s;
		l->tcap = n;
		l->thead = 0;
	}
	l->tags[(l->thead + l->tcount) % l->tcap] = (uint8_t)tag;
	l->tag_script[(l->thead + l->tcount) % l->tcap] = script;
	l->tcount++;
	return 0;
}

static size_t
numlen(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static char *
put_header(char *p, char kind, size_t v)
{
	char tmp[24];
	size_t n = 0;

	*p++ = kind;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0)
		*p++ = tmp[--n];
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

static size_t
resp_size(int argc, const char **argv, const size_t *lens)
{
	size_t total = 3 + numlen((size_t)argc);

	for (int i = 0; i < argc; i++) {
		size_t n = lens ? lens[i] : strlen(argv[i]);

		total += 5 + numlen(n) + n;
	}
	return total;
}

static char *
resp_put(char *p, int argc, const char **argv, const size_t *lens)
{
	p = put_header(p, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		size_t n = lens ? lens[i] : strlen(argv[i]);

		p = put_header(p, '$', n);
		memcpy(p, argv[i], n);
		p += n;
		*p++ = '\r';
		*p++ = '\n';
	}
	return p;
}

int
simlog_net_format(int argc, const char **argv, const size_t *lens, char **out,
		  size_t *len)
{
	size_t total = resp_size(argc, argv, lens);

	if ((*out = malloc(total)) == NULL)
		return -1;
	*len = (size_t)(resp_put(*out, argc, argv, lens) - *out);
	return 0;
}

int
simlog_link_append(struct simlog_link *l, int argc, const char **argv,
		   const size_t *lens, enum link_tag tag, uint32_t script,
		   struct simlog_err *err)
{
	if (l->fd < 0 || l->broken)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "not connected");
	if (grow_out(l, resp_size(argc, argv, lens)) < 0 ||
	    push_tag(l, tag, script) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (l->count != NULL)
		++*l->count;
	l->len = (size_t)(resp_put(l->out + l->len, argc, argv, lens) - l->out);
	return 0;
}

int
simlog_link_append_raw(struct simlog_link *l, const char *cmd, size_t len,
		       struct simlog_err *err)
{
	if (l->fd < 0 || l->broken)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "not connected");
	if (grow_out(l, len) < 0 || push_tag(l, LINK_USER, 0) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (l->count != NULL)
		++*l->count;
	memcpy(l->out + l->len, cmd, len);
	l->len += len;
	return 0;
}

/* Write what the socket takes now: 1 all written, 0 would block (*want
 * says on what), -1 broken. */
static int
write_now(struct simlog_link *l, short *want, struct simlog_err *err)
{
	*want = POLLOUT;
	while (l->off < l->len) {
		long n;

		if (l->ssl != NULL) {
			n = simlog_tls_write(l->ssl, l->out + l->off, l->len - l->off,
			    want, err);
			if (n < 0)
				return broke(l, err);
		} else {
			n = send(l->fd, l->out + l->off, l->len - l->off,
			    MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				n = 0;
			else if (n < 0)
				return fail(l, err, errno == EPIPE ||
				    errno == ECONNRESET ?
				    "Redis closed the connection" :
				    strerror(errno));
		}
		if (n == 0)
			return 0;
		l->off += (size_t)n;
	}
	l->off = l->len = 0;
	return 1;
}

int
simlog_link_flush_some(struct simlog_link *l, struct simlog_err *err)
{
	short want;

	if (l->fd < 0 || l->broken)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "not connected");
	return write_now(l, &want, err) < 0 ? -1 : 0;
}

int
simlog_link_flush(struct simlog_link *l, double deadline,
		  struct simlog_err *err)
{
	short want;
	int r, w;

	if (l->fd < 0 || l->broken)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "not connected");
	while ((r = write_now(l, &want, err)) == 0) {
		w = simlog_net_wait(l->fd, want, deadline, l->stop);
		if (w < 0)
			return stopped(l, err);
		if (w == 0)
			return fail(l, err, "timed out");
	}
	return r < 0 ? -1 : 0;
}

/* Read what the socket has now into the reader: 1 read something, 0
 * would block (*want says on what), -1 closed or failed. */
static int
read_now(struct simlog_link *l, short *want, struct simlog_err *err)
{
	char buf[READ_CHUNK];
	long n;

	*want = POLLIN;
	for (;;) {
		if (l->ssl != NULL) {
			n = simlog_tls_read(l->ssl, buf, sizeof(buf), want, err);
			if (n < 0)
				return broke(l, err);
			if (n == 0)
				return 0;
		} else {
			n = recv(l->fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (n < 0)
				return fail(l, err, errno == ECONNRESET ?
				    "Redis closed the connection" :
				    strerror(errno));
			if (n == 0)
				return fail(l, err, "Redis closed the connection");
		}
		if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK)
			return fail(l, err, "protocol error");
		return 1;
	}
}

/* A parsed reply from the reader, if one is complete: 1, 0, -1. */
static int
take_reply(struct simlog_link *l, redisReply **r, struct simlog_err *err)
{
	void *rep = NULL;

	if (redisReaderGetReply(l->reader, &rep) != REDIS_OK) {
		char msg[160];

		snprintf(msg, sizeof(msg), "protocol error: %s",
		    ((redisReader *)l->reader)->errstr);
		return fail(l, err, msg);
	}
	if (rep == NULL)
		return 0;
	*r = rep;
	return 1;
}

/* The next LINK_USER reply: 1, or 0 when !wait and none has come yet,
 * or -1. */
static int
recv_reply(struct simlog_link *l, double deadline, redisReply **out,
	   int wait, struct simlog_err *err)
{
	short want = POLLIN, wwant = 0;

	*out = NULL;
	if (l->fd < 0 || l->reader == NULL)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "not connected");
	for (;;) {
		redisReply *r = NULL;
		int got = take_reply(l, &r, err);
		short ev;
		int w;

		if (got < 0)
			return -1;
		if (got > 0) {
			enum link_tag tag = LINK_USER;
			uint32_t script = 0;

			l->any_reply = 1;
			if (l->tcount > 0) {
				tag = (enum link_tag)l->tags[l->thead];
				script = l->tag_script[l->thead];
				l->thead = (l->thead + 1) % l->tcap;
				l->tcount--;
			}
			if (tag == LINK_USER) {
				*out = r;
				return 1;
			}
			if (tag == LINK_IGNORE) {
				freeReplyObject(r);
				continue;
			}
			/* SCRIPT LOAD: remember whether the script is there. */
			if (r->type == REDIS_REPLY_ERROR) {
				l->scripts_failed |= 1ull << script;
				l->scripts_loaded &= ~(1ull << script);
			}
			freeReplyObject(r);
			continue;
		}
		if (l->broken) {
			/* A server that refuses us (max clients) says why and
			 * closes: read what it said before giving up. */
			struct simlog_err ignored, why = l->why;

			if (!why.stopped && read_now(l, &want, &ignored) > 0)
				continue;
			l->why = why;
			if (err != NULL)
				*err = why;
			return -1;
		}
		wwant = 0;
		if (l->off < l->len && write_now(l, &wwant, err) != 0) {
			wwant = 0;
			continue;	/* all written, or broken */
		}
		if (read_now(l, &want, err) != 0)
			continue;	/* something read, or broken */
		if (!wait)
			return 0;
		ev = want | wwant;
		w = simlog_net_wait(l->fd, ev, deadline, l->stop);
		if (w < 0)
			return stopped(l, err);
		if (w == 0)
			return fail(l, err, "timed out");
	}
}

int
simlog_link_recv(struct simlog_link *l, double deadline, redisReply **out,
		 struct simlog_err *err)
{
	return recv_reply(l, deadline, out, 1, err) > 0 ? 0 : -1;
}

int
simlog_link_try_recv(struct simlog_link *l, redisReply **out,
		     struct simlog_err *err)
{
	return recv_reply(l, 0, out, 0, err);
}
