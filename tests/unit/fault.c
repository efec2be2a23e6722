/*
 * The fault transport (fault.h): the plain transport's connect, then a
 * socket pair between the link and a proxy thread that carries the bytes
 * to and from the real connection, counting commands and replies (RESP)
 * and failing them as armed.  The link reads and writes its end of the
 * pair with the plain transport's own read and write.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "net/net.h"
#include "util.h"

/* --- what is armed ------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum fault_kind armed;
static unsigned long first, span, ncommands, nconnects, nstruck, nlost;
static double delay_s;

static int
is_connect_fault(enum fault_kind k)
{
	return k == FAULT_REFUSE || k == FAULT_HANG;
}

/* The next command (or connect) is counted: the fault it meets, if any. */
static enum fault_kind
strike(int connect, double *seconds)
{
	enum fault_kind k = FAULT_NONE;
	unsigned long n;

	pthread_mutex_lock(&mu);
	n = connect ? ++nconnects : ++ncommands;
	if (armed != FAULT_NONE && is_connect_fault(armed) == connect &&
	    n >= first && (span == 0 || n < first + span)) {
		k = armed;
		nstruck++;
	}
	*seconds = delay_s;
	pthread_mutex_unlock(&mu);
	return k;
}

void
fault_arm(enum fault_kind kind, unsigned long nth, unsigned long count,
	  double seconds)
{
	pthread_mutex_lock(&mu);
	armed = kind;
	first = nth;
	span = count;
	delay_s = seconds;
	ncommands = nconnects = nstruck = nlost = 0;
	pthread_mutex_unlock(&mu);
}

void
fault_clear(void)
{
	pthread_mutex_lock(&mu);
	armed = FAULT_NONE;
	pthread_mutex_unlock(&mu);
}

static unsigned long
counter(const unsigned long *c)
{
	unsigned long v;

	pthread_mutex_lock(&mu);
	v = *c;
	pthread_mutex_unlock(&mu);
	return v;
}

unsigned long fault_commands(void) { return counter(&ncommands); }
unsigned long fault_connects(void) { return counter(&nconnects); }
unsigned long fault_struck(void) { return counter(&nstruck); }
unsigned long fault_lost(void) { return counter(&nlost); }

/* --- RESP framing -------------------------------------------------------- */

/* The length of the first complete RESP value in p[0..len): > 0, 0 when
 * it is not complete yet, -1 when it is no RESP. */
static long
resp_len(const char *p, size_t len, int depth)
{
	const char *crlf;
	long long n = 0;
	size_t hdr, off, i;
	int neg = 0;

	if (len == 0)
		return 0;
	if (depth > 64)
		return -1;
	if ((crlf = memmem(p, len, "\r\n", 2)) == NULL)
		return 0;
	hdr = (size_t)(crlf - p) + 2;
	for (i = 1; p + i < crlf; i++) {
		if (i == 1 && p[i] == '-')
			neg = 1;
		else if (p[i] >= '0' && p[i] <= '9')
			n = n * 10 + (p[i] - '0');
		else
			break;
	}
	switch (p[0]) {
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		return (long)hdr;
	case '$': case '=': case '!':
		if (neg)
			return (long)hdr;
		return len < hdr + (size_t)n + 2 ? 0 : (long)(hdr + (size_t)n + 2);
	case '*': case '~': case '>': case '%': case '|':
		if (neg)
			return (long)hdr;
		if (p[0] == '%' || p[0] == '|')
			n *= 2;
		/* An attribute comes before the value it describes. */
		if (p[0] == '|')
			n++;
		for (off = hdr; n > 0; n--) {
			long e = resp_len(p + off, len - off, depth + 1);

			if (e <= 0)
				return e;
			off += (size_t)e;
		}
		return (long)off;
	}
	return -1;
}

/* --- the proxy ----------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static int
buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + n)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void
buf_drop(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* What the reply to a command of this link meets. */
struct fate {
	enum fault_kind kind;
	double seconds;
};

struct proxy {
	int b;				/* our end of the pair */
	int r;				/* the real connection */
	int ctl[2];			/* 'x' on ctl[1]: end; 'f': fates */
	pthread_t thread;
	/* The client's thread (fault_write) counts commands as the client
	 * writes them, so that they are counted in the order the program
	 * sends them, across links; the proxy thread reads their fates. */
	pthread_mutex_t mu;
	struct buf written;		/* an unfinished command written */
	struct fate *fates;		/* per command written, by number - 1 */
	size_t nfates, fcap;
	/* The proxy thread's own: */
	struct buf up_in, up_out;	/* client to server */
	struct buf down_in, down_out;	/* server to client */
	size_t nsent, nreplied;
	int silent;			/* commands go nowhere (dropped, or
					 * after a cut) */
	int frozen;			/* replies go nowhere */
	int cutting;			/* close once down_out is written */
	double hold_until;		/* a delayed reply waits until then */
	size_t held;			/* the reply held (its number) */
};

static double
now(void)
{
	return simlog_now_mono();
}

/* Complete commands from the client, as fault_write struck them: passed
 * on or not.  A command whose fate is not known yet waits for it. */
static int
take_commands(struct proxy *x)
{
	long n;

	while ((n = resp_len(x->up_in.p, x->up_in.len, 0)) > 0) {
		struct fate f;

		pthread_mutex_lock(&x->mu);
		if (x->nsent >= x->nfates) {
			pthread_mutex_unlock(&x->mu);
			return 0;
		}
		f = x->fates[x->nsent];
		pthread_mutex_unlock(&x->mu);
		if (f.kind == FAULT_DROP)
			x->silent = 1;
		if (x->silent) {
			pthread_mutex_lock(&mu);
			nlost++;
			pthread_mutex_unlock(&mu);
		} else if (buf_add(&x->up_out, x->up_in.p, (size_t)n) < 0)
			return -1;
		/* After a cut, nothing more reaches the server. */
		if (f.kind == FAULT_CUT)
			x->silent = 1;
		x->nsent++;
		buf_drop(&x->up_in, (size_t)n);
	}
	return n < 0 ? -1 : 0;
}

/* Complete replies from the server: passed on, held, swallowed, or the
 * end of the connection. */
static int
take_replies(struct proxy *x)
{
	long n;

	while (!x->cutting &&
	    (n = resp_len(x->down_in.p, x->down_in.len, 0)) > 0) {
		size_t k = x->nreplied + 1;
		struct fate f = { FAULT_NONE, 0 };

		pthread_mutex_lock(&x->mu);
		if (k <= x->nfates)
			f = x->fates[k - 1];
		pthread_mutex_unlock(&x->mu);
		if (f.kind == FAULT_FREEZE)
			x->frozen = 1;
		if (f.kind == FAULT_CUT) {
			x->cutting = 1;
			return 0;
		}
		if (f.kind == FAULT_DELAY && !x->frozen) {
			if (x->held != k) {
				x->held = k;
				x->hold_until = now() + f.seconds;
			}
			if (now() < x->hold_until)
				return 0;
		}
		if (!x->frozen && buf_add(&x->down_out, x->down_in.p,
		    (size_t)n) < 0)
			return -1;
		x->nreplied = k;
		buf_drop(&x->down_in, (size_t)n);
	}
	return 0;
}

/* Read what fd has into b: 1 something, 0 nothing now, -1 closed. */
static int
pull(int fd, struct buf *b)
{
	char tmp[65536];
	ssize_t n = recv(fd, tmp, sizeof(tmp), 0);

	if (n > 0)
		return buf_add(b, tmp, (size_t)n) < 0 ? -1 : 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

/* Write what fd takes of b: 0, or -1 closed. */
static int
push(int fd, struct buf *b)
{
	while (b->len > 0) {
		ssize_t n = send(fd, b->p, b->len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		buf_drop(b, (size_t)n);
	}
	return 0;
}

static void *
pump(void *arg)
{
	struct proxy *x = arg;
	int server_gone = 0;

	for (;;) {
		struct pollfd p[3];
		int ms = -1;

		if (x->held > x->nreplied && !x->frozen) {
			double left = x->hold_until - now();

			ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		p[0].fd = x->ctl[0];
		p[0].events = POLLIN;
		p[1].fd = x->b;
		p[1].events = (short)(POLLIN | (x->down_out.len ? POLLOUT : 0));
		p[2].fd = server_gone ? -1 : x->r;
		p[2].events = (short)(POLLIN | (x->up_out.len ? POLLOUT : 0));
		if (poll(p, 3, ms) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			char c[64];
			ssize_t n = read(x->ctl[0], c, sizeof(c));

			if (n <= 0 || memchr(c, 'x', (size_t)n) != NULL)
				break;
		}
		/* The client went: the link is closing. */
		if (pull(x->b, &x->up_in) < 0 || take_commands(x) < 0)
			break;
		if (!server_gone && (push(x->r, &x->up_out) < 0 ||
		    pull(x->r, &x->down_in) < 0))
			server_gone = 1;
		if (take_replies(x) < 0 || push(x->b, &x->down_out) < 0)
			break;
		/* A cut, or a server that went away: the client sees the
		 * connection close once what came before is delivered. */
		if ((x->cutting || server_gone) && x->down_out.len == 0)
			break;
	}
	shutdown(x->b, SHUT_RDWR);
	shutdown(x->r, SHUT_RDWR);
	return NULL;
}

static void
proxy_free(struct proxy *x)
{
	if (x->b >= 0)
		close(x->b);
	if (x->r >= 0)
		close(x->r);
	if (x->ctl[0] >= 0)
		close(x->ctl[0]);
	if (x->ctl[1] >= 0)
		close(x->ctl[1]);
	pthread_mutex_destroy(&x->mu);
	free(x->written.p);
	free(x->up_in.p);
	free(x->up_out.p);
	free(x->down_in.p);
	free(x->down_out.p);
	free(x->fates);
	free(x);
}

/* --- the transport ------------------------------------------------------- */

static int
fault_connect(struct simlog_link *l, const struct link_target *t,
	      double deadline, struct simlog_err *err)
{
	struct proxy *x;
	int pair[2];
	sigset_t all, old;
	double ignored;

	switch (strike(1, &ignored)) {
	case FAULT_REFUSE:
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "connection refused");
	case FAULT_HANG:
		if (simlog_net_wait(-1, 0, deadline, l->stop) < 0)
			return simlog_net_stopped(err);
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "timed out");
	default:
		break;
	}
	if (simlog_transport_plain.connect(l, t, deadline, err) < 0)
		return -1;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto oom;
	x->b = x->r = x->ctl[0] = x->ctl[1] = -1;
	pthread_mutex_init(&x->mu, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    pair) < 0 || pipe2(x->ctl, O_CLOEXEC | O_NONBLOCK) < 0) {
		int saved = errno;

		proxy_free(x);
		errno = saved;
		goto oom;
	}
	x->r = l->fd;
	x->b = pair[1];
	l->fd = pair[0];
	/* The thread takes no signal meant for the test's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&x->thread, NULL, pump, x) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		proxy_free(x);
		l->fd = -1;
		close(pair[0]);
		return simlog_seterr(err, SIMLOG_EX_OSERR, "fault: no thread");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	l->io_ctx = x;
	return 0;
oom:
	simlog_transport_plain.close(l);
	return simlog_seterr(err, SIMLOG_EX_OSERR, "fault: %s",
	    strerror(errno));
}

static long
fault_read(struct simlog_link *l, char *buf, size_t len, short *want,
	   struct simlog_err *err)
{
	return simlog_transport_plain.read(l, buf, len, want, err);
}

/* Count and strike the commands the client has written whole. */
static int
strike_written(struct proxy *x, const char *buf, size_t len)
{
	long n;

	pthread_mutex_lock(&x->mu);
	if (buf_add(&x->written, buf, len) < 0) {
		pthread_mutex_unlock(&x->mu);
		return -1;
	}
	while ((n = resp_len(x->written.p, x->written.len, 0)) > 0) {
		struct fate f = { FAULT_NONE, 0 };

		if (x->nfates == x->fcap) {
			size_t cap = x->fcap ? x->fcap * 2 : 64;
			struct fate *q = realloc(x->fates, cap * sizeof(*q));

			if (q == NULL) {
				pthread_mutex_unlock(&x->mu);
				return -1;
			}
			x->fates = q;
			x->fcap = cap;
		}
		f.kind = strike(0, &f.seconds);
		x->fates[x->nfates++] = f;
		buf_drop(&x->written, (size_t)n);
	}
	pthread_mutex_unlock(&x->mu);
	/* The proxy may be waiting for these fates. */
	(void)!write(x->ctl[1], "f", 1);
	return n < 0 ? -1 : 0;
}

static long
fault_write(struct simlog_link *l, const char *buf, size_t len, short *want,
	    struct simlog_err *err)
{
	long n = simlog_transport_plain.write(l, buf, len, want, err);

	if (n > 0 && strike_written(l->io_ctx, buf, (size_t)n) < 0)
		return simlog_seterr(err, SIMLOG_EX_OSERR, "fault: out of "
		    "memory");
	return n;
}

static void
fault_close(struct simlog_link *l)
{
	struct proxy *x = l->io_ctx;

	if (x != NULL) {
		struct timespec ts = { 0, 1000 * 1000 };

		/* A full pipe empties: the proxy reads it while it runs. */
		for (int i = 0; i < 1000 && write(x->ctl[1], "x", 1) < 0 &&
		    errno == EAGAIN; i++)
			nanosleep(&ts, NULL);
		pthread_join(x->thread, NULL);
		proxy_free(x);
		l->io_ctx = NULL;
	}
	simlog_transport_plain.close(l);
}

static const struct simlog_transport fault_transport = {
	"fault", fault_connect, fault_read, fault_write, fault_close,
};

void
fault_install(void)
{
	simlog_net_set_transport(&fault_transport);
}

void
fault_remove(void)
{
	simlog_net_set_transport(NULL);
}
