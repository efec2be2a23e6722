/*
 * TLS for Redis links, with OpenSSL: the server's certificate is verified
 * against the given CA file (or the system's) and its name, SNI is sent for
 * DNS names, a client certificate is offered when given.  Failures say what
 * about the certificate or the handshake failed, in words a user can act
 * on, and are classed: a certificate refused either way is a permission
 * failure (77), a bad file a configuration one (78), the rest I/O (69).
 * A transport (lib/net/net.h): its socket is the plain transport's, the
 * session runs over it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/net.h"
#include "util.h"

struct simlog_tls {
	SSL_CTX *ctx;
	int verify;
};

/*
 * In TLS 1.3 a server that checks client certificates does so after the
 * client's handshake is over, then sends an alert (certificate required,
 * unknown CA, ...) and closes.  Whether the client reads that alert or
 * only sees the connection reset (its first command crossing the server's
 * close) is a race.  So a session is marked when the server asks for a
 * certificate, and a close on a marked session before the first reply is
 * reported as the refusal it is.
 */
static char asked_none_given, asked_one_given;

static int
cert_asked(SSL *ssl, void *arg)
{
	(void)arg;
	SSL_set_app_data(ssl, SSL_get_certificate(ssl) == NULL ?
	    &asked_none_given : &asked_one_given);
	return 1;
}

/* The reason of the newest OpenSSL error, or what errno says. */
static const char *
ssl_reason(unsigned long e)
{
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	return s ? s : "unknown TLS error";
}

static int
file_error(struct simlog_err *err, const char *opt, const char *path)
{
	unsigned long e = ERR_peek_last_error(), q;

	/* A file that cannot be opened: somewhere in the queue OpenSSL 3
	 * keeps the errno, under later errors that only say "system lib". */
	while ((q = ERR_get_error()) != 0)
		if (ERR_SYSTEM_ERROR(q)) {
			ERR_clear_error();
			return simlog_seterr(err, SIMLOG_EX_CONFIG, "%s %s: %s",
			    opt, path, strerror(ERR_GET_REASON(q)));
		}
	return simlog_seterr(err, SIMLOG_EX_CONFIG, "%s %s: %s", opt, path,
	    e ? ssl_reason(e) : strerror(errno));
}

struct simlog_tls *
simlog_tls_new(const struct simlog_tls_opts *o, struct simlog_err *err)
{
	struct simlog_tls *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "TLS: %s",
		    ssl_reason(ERR_get_error()));
		free(t);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	t->verify = !o->insecure;
	SSL_CTX_set_verify(t->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	if (o->ca != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1) {
			file_error(err, "--tls-ca", o->ca);
			goto bad;
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		simlog_seterr(err, SIMLOG_EX_CONFIG, "TLS: cannot load the "
		    "system's CA certificates: %s; give --tls-ca FILE",
		    ssl_reason(ERR_get_error()));
		goto bad;
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "a client certificate needs "
		    "both --tls-cert and --tls-key (or SIMLOG_TLS_CERT and "
		    "SIMLOG_TLS_KEY)");
		goto bad;
	}
	SSL_CTX_set_cert_cb(t->ctx, cert_asked, NULL);
	if (o->cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1) {
			file_error(err, "--tls-cert", o->cert);
			goto bad;
		}
		if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key,
		    SSL_FILETYPE_PEM) != 1) {
			file_error(err, "--tls-key", o->key);
			goto bad;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1) {
			simlog_seterr(err, SIMLOG_EX_CONFIG, "--tls-key %s does "
			    "not belong to --tls-cert %s", o->key, o->cert);
			goto bad;
		}
	}
	return t;
bad:
	ERR_clear_error();
	simlog_tls_free(t);
	return NULL;
}

void
simlog_tls_free(struct simlog_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static int
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * A failed handshake or session, in words: the certificate the server
 * showed, a certificate the server refused, or a server that does not
 * speak TLS.  The class decides the exit status.
 */
static int
session_error(SSL *ssl, int r, int verify, const char *name,
	      struct simlog_err *err)
{
	int e = SSL_get_error(ssl, r);
	unsigned long oe = ERR_peek_last_error();
	int reason = oe ? ERR_GET_REASON(oe) : 0;
	long vr;

	ERR_clear_error();
	if (verify && (vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		return simlog_seterr(err, SIMLOG_EX_NOPERM, "server certificate "
		    "not accepted for %s: %s (check --tls-ca, or "
		    "--tls-server-name)", name,
		    X509_verify_cert_error_string(vr));
	switch (reason) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return simlog_seterr(err, SIMLOG_EX_NOPERM, "the server "
		    "requires a client certificate: give --tls-cert and "
		    "--tls-key");
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		return simlog_seterr(err, SIMLOG_EX_NOPERM, "the server refused "
		    "the TLS handshake (%s): check --tls-cert and --tls-key",
		    ssl_reason(oe));
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "the server "
		    "does not speak TLS on this port (%s): use redis:// for a "
		    "plain-text port", ssl_reason(oe));
	}
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && oe == 0 && (errno == 0 ||
	    errno == ECONNRESET || errno == EPIPE)) ||
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		if (SSL_get_app_data(ssl) == &asked_none_given)
			return simlog_seterr(err, SIMLOG_EX_NOPERM, "the server "
			    "requires a client certificate: give --tls-cert "
			    "and --tls-key");
		if (SSL_get_app_data(ssl) == &asked_one_given)
			return simlog_seterr(err, SIMLOG_EX_NOPERM, "the server "
			    "closed the connection once the TLS handshake was "
			    "over: it refused the client certificate; check "
			    "--tls-cert and --tls-key");
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "Redis closed the connection");
	}
	if (e == SSL_ERROR_SYSCALL && oe == 0)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s",
		    strerror(errno));
	return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "TLS: %s",
	    ssl_reason(oe));
}

/* Handshake on a connected socket by the deadline; name is verified
 * against the certificate (a DNS name or an IP address literal). */
static int
handshake(struct simlog_tls *t, int fd, const char *name, double deadline,
	  const volatile sig_atomic_t *stop, SSL **out, struct simlog_err *err)
{
	SSL *ssl;
	int r, w;

	*out = NULL;
	ERR_clear_error();
	if ((ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "TLS: %s",
		    ssl_reason(ERR_get_error()));
	}
	if (name != NULL && is_ip(name)) {
		if (t->verify && X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), name) != 1)
			goto setup;
	} else if (name != NULL) {
		if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
		    (t->verify && SSL_set1_host(ssl, name) != 1))
			goto setup;
	}
	for (;;) {
		short ev;

		errno = 0;
		ERR_clear_error();
		if ((r = SSL_connect(ssl)) == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			ev = POLLIN;
			break;
		case SSL_ERROR_WANT_WRITE:
			ev = POLLOUT;
			break;
		default:
			session_error(ssl, r, t->verify, name ? name : "?",
			    err);
			SSL_free(ssl);
			return -1;
		}
		w = simlog_net_wait(fd, ev, deadline, stop);
		if (w <= 0) {
			SSL_free(ssl);
			if (w < 0 && stop != NULL && *stop)
				return simlog_net_stopped(err);
			return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
			    "TLS handshake timed out (a plain-text port? use "
			    "redis://)");
		}
	}
	*out = ssl;
	return 0;
setup:
	SSL_free(ssl);
	return simlog_seterr(err, SIMLOG_EX_USAGE, "TLS: cannot verify the "
	    "name '%s'", name);
}

static int
tls_connect(struct simlog_link *l, const struct link_target *t,
	    double deadline, struct simlog_err *err)
{
	SSL *ssl;

	if (simlog_transport_plain.connect(l, t, deadline, err) < 0)
		return -1;
	if (handshake(t->tls, l->fd, t->server_name ? t->server_name :
	    t->host, deadline, l->stop, &ssl, err) < 0) {
		simlog_transport_plain.close(l);
		return -1;
	}
	l->io_ctx = ssl;
	return 0;
}

/* What an SSL_read or SSL_write returned: bytes, or 0 with what to wait
 * for, or -1. */
static long
io_result(SSL *ssl, int n, short *want, struct simlog_err *err)
{
	if (n > 0)
		return n;
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return 0;
	}
	return session_error(ssl, n, 0, "", err);
}

static long
tls_read(struct simlog_link *l, char *buf, size_t len, short *want,
	 struct simlog_err *err)
{
	SSL *ssl = l->io_ctx;
	long n;

	errno = 0;
	ERR_clear_error();
	n = io_result(ssl, SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX :
	    (int)len), want, err);
	/* The server answered: it took us without a certificate. */
	if (n > 0)
		SSL_set_app_data(ssl, NULL);
	return n;
}

/*
 * OpenSSL writes with write(2), so a peer that has gone raises SIGPIPE;
 * a library must not kill its caller for it.  Block it around the write
 * and swallow one it caused (not one that was already pending).
 */
static long
tls_write(struct simlog_link *l, const char *buf, size_t len, short *want,
	  struct simlog_err *err)
{
	SSL *ssl = l->io_ctx;
	sigset_t pipe, old, pending;
	int n, was_pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	errno = 0;
	ERR_clear_error();
	n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n <= 0 && errno == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };
		int saved = errno;

		sigtimedwait(&pipe, NULL, &zero);
		errno = saved;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return io_result(ssl, n, want, err);
}

static void
tls_close(struct simlog_link *l)
{
	/* No close_notify: the connection is dropped either way, and a
	 * shutdown on a broken socket could block or raise SIGPIPE. */
	SSL_free(l->io_ctx);
	l->io_ctx = NULL;
	simlog_transport_plain.close(l);
}

const struct simlog_transport simlog_transport_tls = {
	"tls", tls_connect, tls_read, tls_write, tls_close,
};
