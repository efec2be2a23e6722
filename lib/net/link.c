/*
 * One connection to one Redis server.  Its bytes move through a transport
 * (plain or TLS, lib/net/net.h) that it calls through a table; every wait
 * is a poll(2) bounded by an absolute deadline, re-checked after each
 * EINTR, so no signal can stretch or re-arm a timeout.  Commands are
 * formatted as RESP straight into the output buffer; replies are parsed by
 * hiredis's reader.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/net.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)

/* The transport of new plain links: the plain one, or a test's. */
static const struct simlog_transport *plain_io = &simlog_transport_plain;

void
simlog_net_set_transport(const struct simlog_transport *t)
{
	__atomic_store_n(&plain_io, t ? t : &simlog_transport_plain,
	    __ATOMIC_RELEASE);
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
	if (l->io != NULL)
		l->io->close(l);
	l->io = NULL;
	l->io_ctx = NULL;
	l->fd = -1;
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

/* A failure of the link's own (a timeout, a protocol error) breaks it;
 * the caller classes it as "Redis unavailable". */
static int
fail(struct simlog_link *l, struct simlog_err *err, const char *why)
{
	l->broken = 1;
	simlog_seterr(&l->why, SIMLOG_EX_UNAVAILABLE, "%s", why);
	if (err != NULL)
		*err = l->why;
	return -1;
}

/* The reader failed: for want of memory (the process's own trouble, 70,
 * not the server's), or for what the server sent.  Either breaks the
 * link: the reader's state is lost. */
static int
reader_failed(struct simlog_link *l, struct simlog_err *err)
{
	const redisReader *r = l->reader;
	char msg[160];

	if (r->err == REDIS_ERR_OOM) {
		l->broken = 1;
		simlog_seterr(&l->why, SIMLOG_EX_SOFTWARE, "out of memory");
		if (err != NULL)
			*err = l->why;
		return -1;
	}
	snprintf(msg, sizeof(msg), "protocol error: %s", r->errstr);
	return fail(l, err, msg);
}

static int
stopped(struct simlog_link *l, struct simlog_err *err)
{
	l->broken = 1;
	simlog_net_stopped(&l->why);
	if (err != NULL)
		*err = l->why;
	return -1;
}

/* A failure the transport reported (e) also breaks the link. */
static int
broke(struct simlog_link *l, const struct simlog_err *e,
      struct simlog_err *err)
{
	l->broken = 1;
	l->why = *e;
	if (err != NULL)
		*err = *e;
	return -1;
}

int
simlog_link_open(struct simlog_link *l, const struct link_target *t,
		 double deadline, struct simlog_err *err)
{
	const volatile sig_atomic_t *stop = l->stop;
	const struct simlog_transport *io = t->tls != NULL ?
	    &simlog_transport_tls : __atomic_load_n(&plain_io,
	    __ATOMIC_ACQUIRE);
	uint64_t *count = l->count;

	simlog_link_close(l);
	l->stop = stop;
	l->count = count;
	if (io->connect(l, t, deadline, err) < 0) {
		l->fd = -1;
		l->io_ctx = NULL;
		return -1;
	}
	l->io = io;
	if ((l->reader = redisReaderCreate()) == NULL) {
		simlog_link_close(l);
		l->stop = stop;
		l->count = count;
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
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
simlog_link_format(int argc, const char **argv, const size_t *lens, char **out,
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
	while (l->off < l->len) {
		struct simlog_err e;
		long n;

		*want = POLLOUT;
		n = l->io->write(l, l->out + l->off, l->len - l->off, want, &e);
		if (n < 0)
			return broke(l, &e, err);
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
	struct simlog_err e;
	long n;

	*want = POLLIN;
	n = l->io->read(l, buf, sizeof(buf), want, &e);
	if (n < 0)
		return broke(l, &e, err);
	if (n == 0)
		return 0;
	if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK)
		return reader_failed(l, err);
	return 1;
}

/* A parsed reply from the reader, if one is complete: 1, 0, -1. */
static int
take_reply(struct simlog_link *l, redisReply **r, struct simlog_err *err)
{
	void *rep = NULL;

	if (redisReaderGetReply(l->reader, &rep) != REDIS_OK)
		return reader_failed(l, err);
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
