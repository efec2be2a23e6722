/*
 * The transport under libsimlog's Redis connections: one socket to one
 * server (TCP, unix or TLS), RESP commands queued and written, replies read
 * with hiredis's reader, and every wait bounded by an absolute deadline
 * that poll(2) checks itself — never by a signal or a socket timeout that a
 * signal could re-arm.  Internal to the library (not installed).
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

/* What a pending reply is for: the caller, or the link's own bookkeeping
 * (a SCRIPT LOAD sent ahead of the first EVALSHA of a script, an ASKING
 * ahead of a command a cluster redirected). */
enum link_tag { LINK_USER, LINK_SCRIPT_LOAD, LINK_IGNORE };

struct simlog_link {
	int fd;				/* -1: closed */
	void *ssl;			/* SSL *, or NULL for plain */
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

/* Where to connect: a unix socket path, or a host and port. */
struct link_target {
	const char *path;
	const char *host;
	int port;
};

void simlog_link_init(struct simlog_link *l);
/* Connect by deadline (monotonic seconds), TLS handshake included when tls
 * is not NULL; server_name overrides the host for SNI and verification. */
int simlog_link_open(struct simlog_link *l, const struct link_target *t,
		     struct simlog_tls *tls, const char *server_name,
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

/* --- TLS (lib/net/tls.c) ------------------------------------------------ */

/* A client TLS context from the options; NULL with err set (a bad CA or
 * certificate file is a configuration error naming the file). */
struct simlog_tls *simlog_tls_new(const struct simlog_tls_opts *o,
				  struct simlog_err *err);
void simlog_tls_free(struct simlog_tls *t);
/* Handshake on a connected socket by the deadline; name is verified
 * against the certificate (a DNS name or an IP address literal). */
int simlog_tls_handshake(struct simlog_tls *t, int fd, const char *name,
			 double deadline, const volatile sig_atomic_t *stop,
			 void **ssl, struct simlog_err *err);
/* Non-blocking I/O on an established TLS session: bytes moved, or 0 with
 * *want set to POLLIN or POLLOUT, or -1 with err set (errno-like EOF is a
 * closed connection). */
long simlog_tls_read(void *ssl, char *buf, size_t len, short *want,
		     struct simlog_err *err);
long simlog_tls_write(void *ssl, const char *buf, size_t len, short *want,
		      struct simlog_err *err);
void simlog_tls_close(void *ssl);

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -1
 * stopped (*stop set) or poll failed.  EINTR re-checks the deadline. */
int simlog_net_wait(int fd, short events, double deadline,
		    const volatile sig_atomic_t *stop);

#endif
