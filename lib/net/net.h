/*
 * The transport under libsimlog's Redis connections: one link is one
 * socket to one server, RESP commands queued and written, replies read
 * with hiredis's reader, and every wait bounded by an absolute deadline
 * that poll(2) checks itself — never by a signal or a socket timeout that
 * a signal could re-arm.  Internal to the library (not installed).
 *
 * How a link's bytes move is a transport, a table of functions (as
 * hiredis's redisContextFuncs and Redis's ConnectionType are): plain TCP
 * and unix sockets (lib/net/plain.c) and TLS (lib/net/tls.c) are peers
 * behind it, and the link (lib/net/link.c) calls through it knowing
 * neither.  Files call downwards only:
 *
 *	wait.c  <-  plain.c  <-  tls.c  <-  link.c
 *
 * A link is not thread-safe; one thread uses it at a time.
 */
#ifndef SIMLOG_NET_H
#define SIMLOG_NET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "simlog.h"

struct redisReply;
struct simlog_tls;
struct simlog_transport;

/* What a pending reply is for: the caller, or the link's own bookkeeping
 * (a SCRIPT LOAD sent ahead of the first EVALSHA of a script, an ASKING
 * ahead of a command a cluster redirected). */
enum link_tag { LINK_USER, LINK_SCRIPT_LOAD, LINK_IGNORE };

struct simlog_link {
	int fd;				/* -1: closed */
	const struct simlog_transport *io;	/* NULL: closed */
	void *io_ctx;			/* the transport's own (an SSL *) */
	void *reader;			/* redisReader * */
	char addr[300];			/* "host:port" or the socket path */
	char *out;			/* queued bytes, out[off..len) unsent */
	size_t len, off, cap;
	uint8_t *tags;			/* pending replies, oldest first */
	uint32_t *tag_script;		/* the script of a LINK_SCRIPT_LOAD */
	size_t thead, tcount, tcap;
	uint64_t scripts_loaded;	/* bit per script id */
	uint64_t scripts_failed;	/* SCRIPT LOAD refused: use EVAL */
	int broken;			/* an I/O error: close, reconnect */
	struct simlog_err why;		/* what broke it */
	int any_reply;			/* a reply came since connecting */
	const volatile sig_atomic_t *stop;	/* abandon waits when set */
	uint64_t *count;		/* commands sent, if not NULL */
};

/* Where to connect, and how: a unix socket path, or a host and port;
 * with TLS when tls is not NULL (server_name, if not NULL, instead of the
 * host for SNI and verification). */
struct link_target {
	const char *path;
	const char *host;
	int port;
	struct simlog_tls *tls;
	const char *server_name;
};

void simlog_link_init(struct simlog_link *l);
/* Connect by deadline (monotonic seconds), TLS handshake included. */
int simlog_link_open(struct simlog_link *l, const struct link_target *t,
		     double deadline, struct simlog_err *err);
void simlog_link_close(struct simlog_link *l);
int simlog_link_connected(const struct simlog_link *l);

/* Queue one command (RESP is formatted straight into the output buffer). */
int simlog_link_append(struct simlog_link *l, int argc, const char **argv,
		       const size_t *lens, enum link_tag tag, uint32_t script,
		       struct simlog_err *err);
/* Queue bytes that already are one RESP command (a LINK_USER reply). */
int simlog_link_append_raw(struct simlog_link *l, const char *cmd, size_t len,
			   struct simlog_err *err);
/* RESP for a command, malloc'd. */
int simlog_link_format(int argc, const char **argv, const size_t *lens,
		       char **out, size_t *len);
/* Write whatever is queued, by the deadline. */
int simlog_link_flush(struct simlog_link *l, double deadline,
		      struct simlog_err *err);
/* Write what the socket takes now without waiting; 0, or -1 broken. */
int simlog_link_flush_some(struct simlog_link *l, struct simlog_err *err);
/* The next reply to a LINK_USER command (its own bookkeeping replies are
 * consumed on the way), by the deadline.  Error replies are returned as
 * replies.  -1 with err set on I/O failure, a timeout, or a stop. */
int simlog_link_recv(struct simlog_link *l, double deadline,
		     struct redisReply **r, struct simlog_err *err);
/* The same without waiting: 1 a reply, 0 none yet, -1 failed. */
int simlog_link_try_recv(struct simlog_link *l, struct redisReply **r,
			 struct simlog_err *err);
/* Replies owed to the caller. */
size_t simlog_link_pending(const struct simlog_link *l);
/* Bytes queued and not yet written. */
size_t simlog_link_unsent(const struct simlog_link *l);

/* --- transports ----------------------------------------------------------- */

/*
 * connect: l->fd (non-blocking) connected to t by the deadline, l->addr
 *	and l->io_ctx set; 0, or -1 with err set (err->stopped when l->stop
 *	ended the wait) and nothing left open.
 * read, write: without waiting: bytes moved, or 0 with *want set to
 *	POLLIN or POLLOUT (what to wait for before calling again), or -1
 *	with err set (a connection the server closed is "Redis closed the
 *	connection").
 * close: undo connect (l->fd closed, l->io_ctx freed).
 */
struct simlog_transport {
	const char *name;
	int (*connect)(struct simlog_link *l, const struct link_target *t,
		       double deadline, struct simlog_err *err);
	long (*read)(struct simlog_link *l, char *buf, size_t len,
		     short *want, struct simlog_err *err);
	long (*write)(struct simlog_link *l, const char *buf, size_t len,
		      short *want, struct simlog_err *err);
	void (*close)(struct simlog_link *l);
};

extern const struct simlog_transport simlog_transport_plain;
extern const struct simlog_transport simlog_transport_tls;

/*
 * For tests only: links opened from now on without TLS move their bytes
 * through t instead of the plain transport (NULL: the plain one again).
 * The test double that uses it (tests/unit/fault.c, which wraps the plain
 * transport and fails on command) is linked into unit tests only.
 */
void simlog_net_set_transport(const struct simlog_transport *t);

/* --- TLS contexts (lib/net/tls.c) ----------------------------------------- */

/* A client TLS context from the options; NULL with err set (a bad CA or
 * certificate file is a configuration error naming the file). */
struct simlog_tls *simlog_tls_new(const struct simlog_tls_opts *o,
				  struct simlog_err *err);
void simlog_tls_free(struct simlog_tls *t);

/* --- waiting (lib/net/wait.c) --------------------------------------------- */

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -1
 * stopped (*stop set) or poll failed.  EINTR re-checks the deadline.  A
 * negative fd waits for nothing but the deadline or the stop. */
int simlog_net_wait(int fd, short events, double deadline,
		    const volatile sig_atomic_t *stop);
/* err as a wait a stop ended: "interrupted", err->stopped set; -1. */
int simlog_net_stopped(struct simlog_err *err);

#endif
