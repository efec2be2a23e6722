/*
 * The plain transport: TCP and unix sockets, non-blocking, every connect
 * bounded by the deadline (lib/net/wait.c).  TLS (lib/net/tls.c) connects
 * its socket through this one and runs its session over it.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "net/net.h"
#include "util.h"

/* An I/O failure the caller classes as "Redis unavailable". */
static int
sock_fail(struct simlog_err *err, const char *why)
{
	struct simlog_err e;

	simlog_seterr(&e, SIMLOG_EX_UNAVAILABLE, "%s", why);
	/* strerror's capital, in err(3) style after "what: ". */
	if (e.msg[0] >= 'A' && e.msg[0] <= 'Z' && e.msg[1] >= 'a' &&
	    e.msg[1] <= 'z' && strncmp(e.msg, "Redis", 5) != 0)
		e.msg[0] = (char)(e.msg[0] - 'A' + 'a');
	if (err != NULL)
		*err = e;
	return -1;
}

/*
 * A failure of this process's own (its open-file limit, memory, the
 * host's local ports) is not Redis's: no breaker shared with other
 * processes counts it, and no retry waits for Redis to mend it.
 */
static int
sock_fail_errno(struct simlog_err *err, int e)
{
	struct simlog_err why;
	const char *hint;
	size_t n;

	if (!simlog_errno_local(e, &hint))
		return sock_fail(err, strerror(e));
	sock_fail(&why, strerror(e));
	why.code = SIMLOG_EX_OSERR;
	n = strlen(why.msg);
	snprintf(why.msg + n, sizeof(why.msg) - n,
	    " (%s), not a failure of Redis", hint);
	if (err != NULL)
		*err = why;
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
	int stop_hit, fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "socket path longer than %zu bytes", sizeof(sun.sun_path) - 1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sock_fail_errno(err, errno);
	if (connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun), deadline,
	    l->stop, &stop_hit) < 0) {
		int e = errno;

		close(fd);
		if (stop_hit)
			return simlog_net_stopped(err);
		/* A full accept queue on a unix socket says EAGAIN. */
		return sock_fail(err, e == EAGAIN ?
		    "server not accepting connections (listen queue full)" :
		    e == ETIMEDOUT ? "timed out" : strerror(e));
	}
	l->fd = fd;
	snprintf(l->addr, sizeof(l->addr), "%s", path);
	return 0;
}

static int
open_tcp(struct simlog_link *l, const char *host, int port, double deadline,
	 struct simlog_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char ports[16];
	int rc, saved = 0, stop_hit = 0, one = 1, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ports, sizeof(ports), "%d", port);
	if ((rc = getaddrinfo(host, ports, &hints, &res)) != 0)
		return rc == EAI_SYSTEM ? sock_fail_errno(err, errno) :
		    rc == EAI_MEMORY ? sock_fail_errno(err, ENOMEM) :
		    sock_fail(err, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect_fd(fd, ai->ai_addr, ai->ai_addrlen, deadline,
		    l->stop, &stop_hit) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
		if (stop_hit || saved == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (stop_hit)
		return simlog_net_stopped(err);
	if (fd < 0)
		return saved == ETIMEDOUT ? sock_fail(err, "timed out") :
		    sock_fail_errno(err, saved);
	/* Small commands (acks, pings) should not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	l->fd = fd;
	snprintf(l->addr, sizeof(l->addr), strchr(host, ':') ? "[%s]:%d" :
	    "%s:%d", host, port);
	return 0;
}

static int
plain_connect(struct simlog_link *l, const struct link_target *t,
	      double deadline, struct simlog_err *err)
{
	l->io_ctx = NULL;
	if (t->path != NULL)
		return open_unix(l, t->path, deadline, err);
	return open_tcp(l, t->host, t->port, deadline, err);
}

static long
plain_read(struct simlog_link *l, char *buf, size_t len, short *want,
	   struct simlog_err *err)
{
	for (;;) {
		long n = recv(l->fd, buf, len, 0);

		if (n > 0)
			return n;
		if (n == 0)
			return sock_fail(err, "Redis closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLIN;
			return 0;
		}
		return sock_fail(err, errno == ECONNRESET ?
		    "Redis closed the connection" : strerror(errno));
	}
}

static long
plain_write(struct simlog_link *l, const char *buf, size_t len, short *want,
	    struct simlog_err *err)
{
	for (;;) {
		long n = send(l->fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLOUT;
			return 0;
		}
		return sock_fail(err, errno == EPIPE || errno == ECONNRESET ?
		    "Redis closed the connection" : strerror(errno));
	}
}

static void
plain_close(struct simlog_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

const struct simlog_transport simlog_transport_plain = {
	"plain", plain_connect, plain_read, plain_write, plain_close,
};
