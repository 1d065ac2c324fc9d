/* rpcstream.c: ONC RPC record streams over TCP, plain or in TLS 1.3 (RFC 9289). */
#include "rpcstream.h"
#include "xdrstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rpc/svc_mt.h>

#include "tls.h"

#ifndef AUTH_TLS
#define AUTH_TLS 7 /* RFC 9289 */
#endif

#define RPCSTREAM_QMAX 64

/* xdr_void takes no arguments; the detour through void (*)(void) says the
 * cast to the variadic xdrproc_t is meant. */
#define XDR_VOID ((xdrproc_t)(void (*)(void))xdr_void)

static const char starttls_verf[8] = {'S', 'T', 'A', 'R', 'T', 'T', 'L', 'S'};
static const unsigned char alpn_sunrpc[] = {6, 's', 'u', 'n', 'r', 'p', 'c'};

/* ---- the byte stream under the XDR stream: a socket, then TLS on it ---- */

struct stream {
	int fd;
	SSL *ssl;
	int64_t deadline; /* monotonic ms; 0: wait forever */
	int err;	  /* errno of the last I/O failure, ETIMEDOUT included */
	bool eof;	  /* the peer closed */
	bool bio_eof;	  /* the socket BIO under TLS saw end of file */
	bool more;	  /* the record being sent goes on after this write */
	bool cork;	  /* the bytes being sent now are not the last of a record */
	uint64_t nread;	  /* bytes read since the mark (server: since a call began) */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int ms)
{
	return ms > 0 ? now_ms() + ms : 0;
}

/* Waits until fd is ready for events or the deadline passes: 0, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int timeout, n;

	for (;;) {
		timeout = -1;
		if (deadline) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		n = poll(&p, 1, timeout);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int set_nonblocking(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

static void tune_socket(int fd)
{
	int one = 1, size = RPCSTREAM_SOCKBUF;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* TLS records gathered before they go to the socket: OpenSSL hands over one
 * 16 KiB record at a time, and a system call and a TCP push for each cost more
 * than copying them into one larger write. */
#define TLS_SEND_GATHER (256 * 1024)

/* MSG_MORE while an RPC record goes on: TCP then sends full segments and wakes
 * the receiver once per segment. The last write of a record goes without it,
 * which pushes everything queued. */
static int send_flags(const struct stream *s)
{
	return MSG_NOSIGNAL | (s->cork ? MSG_MORE : 0);
}

/* A socket BIO that writes with MSG_NOSIGNAL, so a peer that went away gives
 * EPIPE instead of killing the process, and that reports end of file. */
static BIO_METHOD *sock_bio_method;
static pthread_once_t sock_bio_once = PTHREAD_ONCE_INIT;

static int sock_bio_write(BIO *b, const char *buf, int len)
{
	struct stream *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(s->fd, buf, (size_t)len, send_flags(s));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sock_bio_read(BIO *b, char *buf, int len)
{
	struct stream *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(s->fd, buf, (size_t)len, 0);
	if (n == 0)
		s->bio_eof = true;
	else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct stream *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return s && s->bio_eof;
	default:
		return 0;
	}
}

static void sock_bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rpcstream");

	if (!m)
		return;
	if (BIO_meth_set_write(m, sock_bio_write) != 1 ||
	    BIO_meth_set_read(m, sock_bio_read) != 1 || BIO_meth_set_ctrl(m, sock_bio_ctrl) != 1) {
		BIO_meth_free(m);
		return;
	}
	sock_bio_method = m;
}

/* Attaches the stream's socket to ssl through the MSG_NOSIGNAL BIO. */
static int attach_bio(SSL *ssl, struct stream *s)
{
	BIO *b, *gather;

	pthread_once(&sock_bio_once, sock_bio_init);
	if (!sock_bio_method)
		return -ENOMEM;
	b = BIO_new(sock_bio_method);
	if (!b)
		return -ENOMEM;
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	/* Writes go through a buffer that stream_write flushes at the end of each
	 * RPC record; reads come straight from the socket (TLS reads ahead itself). */
	gather = BIO_new(BIO_f_buffer());
	if (!gather || BIO_set_write_buffer_size(gather, TLS_SEND_GATHER) != 1 ||
	    BIO_up_ref(b) != 1) {
		BIO_free(gather);
		BIO_free(b);
		return -ENOMEM;
	}
	BIO_push(gather, b);
	SSL_set_bio(ssl, b, gather);
	return 0;
}

/* Classifies a failed SSL_* call: the events to wait for, or -1 with s->err
 * or s->eof set. */
static short ssl_wait_events(struct stream *s, int ret)
{
	int e = SSL_get_error(s->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		s->eof = true;
		return -1;
	case SSL_ERROR_SYSCALL:
		if (errno && !s->bio_eof)
			s->err = errno;
		else
			s->eof = true;
		return -1;
	default:
		s->err = EPROTO;
		return -1;
	}
}

/* The XDR stream's read callback: some bytes, or -1. */
static int stream_read(void *handle, void *buf, int len)
{
	struct stream *s = handle;
	short events = POLLIN;
	int rc;

	if (s->err || s->eof)
		return -1;
	for (;;) {
		if (s->ssl) {
			size_t got = 0;
			int r;

			ERR_clear_error();
			r = SSL_read_ex(s->ssl, buf, (size_t)len, &got);
			if (r == 1) {
				s->nread += got;
				return (int)got;
			}
			events = ssl_wait_events(s, r);
			if (events < 0)
				return -1;
		} else {
			ssize_t n = recv(s->fd, buf, (size_t)len, 0);

			if (n > 0) {
				s->nread += (uint64_t)n;
				return (int)n;
			}
			if (n == 0) {
				s->eof = true;
				return -1;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				s->err = errno;
				return -1;
			}
			events = POLLIN;
		}
		rc = wait_fd(s->fd, events, s->deadline);
		if (rc < 0) {
			s->err = -rc;
			return -1;
		}
	}
}

/* Sends what the TLS write buffer holds: 0, or -1 with s->err set. */
static int stream_flush(struct stream *s)
{
	BIO *w = SSL_get_wbio(s->ssl);
	int rc;

	s->cork = false;
	for (;;) {
		errno = 0;
		if (BIO_flush(w) == 1)
			return 0;
		if (!BIO_should_retry(w)) {
			s->err = errno ? errno : EPIPE;
			return -1;
		}
		rc = wait_fd(s->fd, POLLOUT, s->deadline);
		if (rc < 0) {
			s->err = -rc;
			return -1;
		}
	}
}

/* The XDR stream's write callback: all len bytes, or -1. Bytes that end an
 * RPC record (s->more false) are on their way to the peer when it returns. */
static int stream_write(void *handle, void *buf, int len)
{
	struct stream *s = handle;
	const char *p = buf;
	size_t done = 0;
	short events = POLLOUT;
	int rc;

	if (s->err)
		return -1;
	s->cork = s->more || s->ssl;
	while (done < (size_t)len) {
		if (s->ssl) {
			size_t put = 0;
			int r;

			ERR_clear_error();
			r = SSL_write_ex(s->ssl, p + done, (size_t)len - done, &put);
			if (r == 1) {
				done += put;
				continue;
			}
			events = ssl_wait_events(s, r);
			if (events < 0) {
				if (!s->err)
					s->err = EPIPE;
				return -1;
			}
		} else {
			ssize_t n = send(s->fd, p + done, (size_t)len - done, send_flags(s));

			if (n >= 0) {
				done += (size_t)n;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				s->err = errno;
				return -1;
			}
			events = POLLOUT;
		}
		rc = wait_fd(s->fd, events, s->deadline);
		if (rc < 0) {
			s->err = -rc;
			return -1;
		}
	}
	if (s->ssl && !s->more && stream_flush(s) < 0)
		return -1;
	s->cork = false;
	return len;
}

static bool stream_failed(const struct stream *s)
{
	return s->err || s->eof;
}

/* Runs the TLS handshake on a non-blocking socket until done or deadline. */
static int tls_handshake(struct stream *s, SSL *ssl, bool client)
{
	for (;;) {
		int r, e, rc;
		short events;

		ERR_clear_error();
		r = client ? SSL_connect(ssl) : SSL_accept(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			events = POLLOUT;
		else if (e == SSL_ERROR_SYSCALL && errno && !s->bio_eof)
			return -errno;
		else
			return -EPROTO;
		rc = wait_fd(s->fd, events, s->deadline);
		if (rc < 0)
			return rc;
	}
}

static bool alpn_is_sunrpc(SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == alpn_sunrpc[0] && memcmp(p, alpn_sunrpc + 1, n) == 0;
}

static void stream_close(struct stream *s)
{
	if (s->ssl) {
		/* close_notify only on a healthy stream: it must not block or fail. */
		if (!stream_failed(s)) {
			ERR_clear_error();
			(void)SSL_shutdown(s->ssl);
			(void)BIO_flush(SSL_get_wbio(s->ssl));
		}
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	ERR_clear_error();
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* ---- client ---- */

int rpcstream_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char portstr[8];
	int64_t deadline = deadline_after(timeout_ms);
	int fd = -1, rc, gai;

	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(gai));
		rc = gai == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		if (rc == 0)
			rc = -EHOSTUNREACH;
		goto out;
	}
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		/* Buffer sizes before connect, so the window scale matches them. */
		tune_socket(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				rc = -errno;
				goto next;
			}
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				goto next;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (soerr) {
				rc = -soerr;
				goto next;
			}
		}
		rc = set_nonblocking(fd, false);
		if (rc == 0)
			goto out;
	next:
		close(fd);
		fd = -1;
	}
	snprintf(err, errlen, "connect to %s port %u: %s", host, (unsigned)port, strerror(-rc));
out:
	if (res)
		freeaddrinfo(res);
	return fd >= 0 ? fd : rc;
}

struct pending {
	uint32_t xid;
	rpcproc_t proc;
};

struct clnt_conn {
	CLIENT clnt;
	struct stream st;
	XDR xdrs;
	bool xdrs_ok;
	uint32_t prog, vers, xid;
	int timeout_ms;
	bool dead;
	struct rpc_err err;
	struct pending q[RPCSTREAM_QMAX];
	unsigned qhead, qlen;
	char verf_buf[MAX_AUTH_BYTES];
	struct opaque_auth verf; /* the last reply's verifier (body in verf_buf) */
};

static struct clnt_conn *clnt_conn_of(CLIENT *cl)
{
	return cl->cl_private;
}

static enum clnt_stat cc_fail(struct clnt_conn *cc, enum clnt_stat st, int errnum)
{
	memset(&cc->err, 0, sizeof(cc->err));
	cc->err.re_status = st;
	cc->err.re_errno = errnum;
	return st;
}

/* An I/O failure on the stream: the connection is unusable from now on. */
static enum clnt_stat cc_io_fail(struct clnt_conn *cc, enum clnt_stat st)
{
	int e = cc->st.err ? cc->st.err : (cc->st.eof ? ECONNRESET : EPROTO);

	cc->dead = true;
	if (e == ETIMEDOUT)
		st = RPC_TIMEDOUT;
	return cc_fail(cc, st, e);
}

static enum clnt_stat cc_send(struct clnt_conn *cc, rpcproc_t proc, xdrproc_t xargs, void *args,
			      enum_t cred_flavor, uint32_t *xid)
{
	struct rpc_msg m;

	if (cc->dead)
		return cc_fail(cc, RPC_CANTSEND, ENOTCONN);
	memset(&m, 0, sizeof(m));
	m.rm_xid = ++cc->xid;
	m.rm_direction = CALL;
	m.rm_call.cb_rpcvers = RPC_MSG_VERSION;
	m.rm_call.cb_prog = cc->prog;
	m.rm_call.cb_vers = cc->vers;
	m.rm_call.cb_proc = proc;
	m.rm_call.cb_cred.oa_flavor = cred_flavor;
	m.rm_call.cb_verf = _null_auth;
	cc->xdrs.x_op = XDR_ENCODE;
	cc->st.more = true;
	if (!xdr_callmsg(&cc->xdrs, &m) || !(*xargs)(&cc->xdrs, args)) {
		cc->st.more = false;
		/* Part of the record may already be on the wire: no way to resync. */
		if (stream_failed(&cc->st))
			return cc_io_fail(cc, RPC_CANTSEND);
		cc->dead = true;
		return cc_fail(cc, RPC_CANTENCODEARGS, EINVAL);
	}
	cc->st.more = false;
	if (!xdrstream_endofrecord(&cc->xdrs, TRUE))
		return cc_io_fail(cc, RPC_CANTSEND);
	*xid = m.rm_xid;
	return cc_fail(cc, RPC_SUCCESS, 0);
}

/* Maps a reply header to the rpc_err a libtirpc client would report. */
static enum clnt_stat reply_status(const struct rpc_msg *r, struct rpc_err *e)
{
	memset(e, 0, sizeof(*e));
	if (r->rm_reply.rp_stat == MSG_ACCEPTED) {
		switch (r->acpted_rply.ar_stat) {
		case SUCCESS:
			e->re_status = RPC_SUCCESS;
			break;
		case PROG_UNAVAIL:
			e->re_status = RPC_PROGUNAVAIL;
			break;
		case PROG_MISMATCH:
			e->re_status = RPC_PROGVERSMISMATCH;
			e->re_vers.low = r->acpted_rply.ar_vers.low;
			e->re_vers.high = r->acpted_rply.ar_vers.high;
			break;
		case PROC_UNAVAIL:
			e->re_status = RPC_PROCUNAVAIL;
			break;
		case GARBAGE_ARGS:
			e->re_status = RPC_CANTDECODEARGS;
			break;
		case SYSTEM_ERR:
			e->re_status = RPC_SYSTEMERROR;
			break;
		default:
			e->re_status = RPC_FAILED;
			break;
		}
	} else if (r->rm_reply.rp_stat == MSG_DENIED) {
		switch (r->rjcted_rply.rj_stat) {
		case RPC_MISMATCH:
			e->re_status = RPC_VERSMISMATCH;
			e->re_vers.low = r->rjcted_rply.rj_vers.low;
			e->re_vers.high = r->rjcted_rply.rj_vers.high;
			break;
		case AUTH_ERROR:
			e->re_status = RPC_AUTHERROR;
			e->re_why = r->rjcted_rply.rj_why;
			break;
		default:
			e->re_status = RPC_FAILED;
			break;
		}
	} else {
		e->re_status = RPC_CANTDECODERES;
	}
	return e->re_status;
}

static enum clnt_stat cc_recv(struct clnt_conn *cc, uint32_t xid, xdrproc_t xres, void *res)
{
	struct rpc_msg r;

	if (cc->dead)
		return cc_fail(cc, RPC_CANTRECV, ENOTCONN);
	memset(&r, 0, sizeof(r));
	r.acpted_rply.ar_verf.oa_base = cc->verf_buf;
	r.acpted_rply.ar_results.where = NULL;
	r.acpted_rply.ar_results.proc = XDR_VOID;
	cc->xdrs.x_op = XDR_DECODE;
	if (!xdrstream_skiprecord(&cc->xdrs) || !xdr_replymsg(&cc->xdrs, &r)) {
		if (stream_failed(&cc->st))
			return cc_io_fail(cc, RPC_CANTRECV);
		cc->dead = true;
		return cc_fail(cc, RPC_CANTDECODERES, EPROTO);
	}
	if (r.rm_xid != xid) {
		cc->dead = true;
		return cc_fail(cc, RPC_CANTDECODERES, EPROTO);
	}
	memset(&cc->verf, 0, sizeof(cc->verf));
	if (reply_status(&r, &cc->err) != RPC_SUCCESS)
		return cc->err.re_status;
	cc->verf = r.acpted_rply.ar_verf;
	if (!(*xres)(&cc->xdrs, res)) {
		if (stream_failed(&cc->st))
			return cc_io_fail(cc, RPC_CANTRECV);
		/* The next call skips the rest of this record: the stream stays in step. */
		return cc_fail(cc, RPC_CANTDECODERES, EPROTO);
	}
	return RPC_SUCCESS;
}

static enum clnt_stat cc_call(CLIENT *cl, rpcproc_t proc, xdrproc_t xargs, void *args,
			      xdrproc_t xres, void *res, struct timeval tv)
{
	struct clnt_conn *cc = clnt_conn_of(cl);
	enum clnt_stat st;
	uint32_t xid = 0;

	/* The CLIENT's own timeout (opts or CLSET_TIMEOUT) rules, as with
	 * clnt_vc after CLSET_TIMEOUT: the rpcgen client routines pass a fixed 25 s. */
	(void)tv;
	if (cc->qlen)
		return cc_fail(cc, RPC_FAILED, EBUSY);
	cc->st.deadline = deadline_after(cc->timeout_ms);
	st = cc_send(cc, proc, xargs, args, AUTH_NONE, &xid);
	if (st != RPC_SUCCESS)
		return st;
	return cc_recv(cc, xid, xres, res);
}

static void cc_abort(CLIENT *cl)
{
	(void)cl;
}

static void cc_geterr(CLIENT *cl, struct rpc_err *e)
{
	*e = clnt_conn_of(cl)->err;
}

static bool_t cc_freeres(CLIENT *cl, xdrproc_t xres, void *res)
{
	(void)cl;
	xdr_free(xres, res);
	return TRUE;
}

static void cc_destroy(CLIENT *cl)
{
	struct clnt_conn *cc;

	if (!cl)
		return;
	cc = clnt_conn_of(cl);
	if (cc->xdrs_ok)
		XDR_DESTROY(&cc->xdrs);
	stream_close(&cc->st);
	free(cc);
}

static bool_t cc_control(CLIENT *cl, u_int req, void *info)
{
	struct clnt_conn *cc = clnt_conn_of(cl);
	struct timeval *tv = info;

	if (!info)
		return FALSE;
	switch (req) {
	case CLSET_TIMEOUT:
		if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_sec > INT32_MAX / 1000 - 1)
			return FALSE;
		cc->timeout_ms = (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000);
		return TRUE;
	case CLGET_TIMEOUT:
		tv->tv_sec = cc->timeout_ms / 1000;
		tv->tv_usec = (cc->timeout_ms % 1000) * 1000;
		return TRUE;
	case CLGET_FD:
		*(int *)info = cc->st.fd;
		return TRUE;
	case CLGET_XID:
		*(uint32_t *)info = cc->xid;
		return TRUE;
	case CLSET_XID:
		/* The next call uses this xid, as with clnt_vc. */
		cc->xid = *(uint32_t *)info - 1;
		return TRUE;
	case CLGET_VERS:
		*(uint32_t *)info = cc->vers;
		return TRUE;
	case CLSET_VERS:
		cc->vers = *(uint32_t *)info;
		return TRUE;
	case CLGET_PROG:
		*(uint32_t *)info = cc->prog;
		return TRUE;
	case CLSET_PROG:
		cc->prog = *(uint32_t *)info;
		return TRUE;
	default:
		return FALSE;
	}
}

static struct clnt_ops cc_ops = {
    .cl_call = cc_call,
    .cl_abort = cc_abort,
    .cl_geterr = cc_geterr,
    .cl_freeres = cc_freeres,
    .cl_destroy = cc_destroy,
    .cl_control = cc_control,
};

static bool name_is_ip(const char *name)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* This host's clock as text, for errors that a wrong clock explains. */
static void clock_now_text(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (!gmtime_r(&now, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld s since 1970", (long long)now);
}

/* The error for a server whose certificate (or one in its chain) has expired: when, and
 * what to do. The chain is kept even though verification failed. */
static void expired_message(SSL *ssl, const char *name, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	char when[64] = "an earlier date", now[64];
	int days, secs;

	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1 &&
		    (days < 0 || secs < 0)) {
			tls_cert_not_after(x, when, sizeof(when));
			break;
		}
	}
	clock_now_text(now, sizeof(now));
	snprintf(err, errlen,
		 "its certificate (\"%s\") expired on %s; renew it with 'dfs-cluster renew-certs' "
		 "or your CA (or, if this host's clock is wrong, fix it: it reads %s)",
		 name, when, now);
}

/* The error for a certificate that is not valid yet: most often this host's clock is
 * behind. */
static void not_yet_valid_message(SSL *ssl, const char *name, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	char when[64] = "a later date", now[64];
	int days, secs;

	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		const ASN1_TIME *from = X509_get0_notBefore(sk_X509_value(chain, i));
		struct tm tm;

		if (ASN1_TIME_diff(&days, &secs, NULL, from) == 1 && (days > 0 || secs > 0)) {
			if (ASN1_TIME_to_tm(from, &tm) != 1 ||
			    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
				snprintf(when, sizeof(when), "a later date");
			break;
		}
	}
	clock_now_text(now, sizeof(now));
	snprintf(err, errlen,
		 "its certificate (\"%s\") is not valid before %s, and this host's clock reads "
		 "%s: this host's clock may be wrong (or the certificate was made on a host "
		 "whose clock is ahead)",
		 name, when, now);
}

/* RFC 9289 on the client: the AUTH_TLS probe, then the handshake. */
static int cc_start_tls(struct clnt_conn *cc, const struct rpcstream_clnt_opts *opts, char *err,
			size_t errlen)
{
	enum clnt_stat st;
	uint32_t xid = 0;
	SSL *ssl = NULL;
	char ebuf[256];
	long vr;
	int rc;

	cc->st.deadline = deadline_after(cc->timeout_ms);
	st = cc_send(cc, NULLPROC, XDR_VOID, NULL, AUTH_TLS, &xid);
	if (st == RPC_SUCCESS)
		st = cc_recv(cc, xid, XDR_VOID, NULL);
	if (st != RPC_SUCCESS && cc->dead) {
		snprintf(err, errlen, "TLS probe: %s", clnt_sperrno(st));
		return -(cc->err.re_errno ? cc->err.re_errno : EPROTO);
	}
	if (st == RPC_PROGVERSMISMATCH) {
		snprintf(err, errlen,
			 "the server speaks protocol versions %lu..%lu, this client %u",
			 (unsigned long)cc->err.re_vers.low, (unsigned long)cc->err.re_vers.high,
			 (unsigned)cc->vers);
		return -EPROTONOSUPPORT;
	}
	if (st != RPC_SUCCESS || cc->verf.oa_flavor != AUTH_NONE ||
	    cc->verf.oa_length != sizeof(starttls_verf) ||
	    memcmp(cc->verf.oa_base, starttls_verf, sizeof(starttls_verf)) != 0) {
		snprintf(err, errlen, "server does not offer TLS");
		return -EPROTONOSUPPORT;
	}
	/* The handshake must start on a clean record boundary. */
	if (!xdrstream_eof(&cc->xdrs)) {
		snprintf(err, errlen, "TLS probe: unexpected data after the STARTTLS reply");
		return -EPROTO;
	}
	ERR_clear_error();
	ssl = SSL_new(opts->tls);
	if (!ssl || attach_bio(ssl, &cc->st) < 0) {
		snprintf(err, errlen, "TLS: %s", tls_error_string(ebuf, sizeof(ebuf)));
		rc = -ENOMEM;
		goto fail;
	}
	SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (SSL_set_alpn_protos(ssl, alpn_sunrpc, sizeof(alpn_sunrpc)) != 0) {
		snprintf(err, errlen, "TLS: cannot set ALPN");
		rc = -ENOMEM;
		goto fail;
	}
	if (!opts->tls_name || !opts->tls_name[0]) {
		snprintf(err, errlen, "TLS: no server name to verify");
		rc = -EINVAL;
		goto fail;
	}
	if (name_is_ip(opts->tls_name)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), opts->tls_name) != 1)
			rc = -EINVAL;
		else
			rc = 0;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		rc = (SSL_set_tlsext_host_name(ssl, opts->tls_name) == 1 &&
		      SSL_set1_host(ssl, opts->tls_name) == 1)
			 ? 0
			 : -EINVAL;
	}
	if (rc < 0) {
		snprintf(err, errlen, "TLS: bad server name \"%s\"", opts->tls_name);
		goto fail;
	}
	cc->st.deadline = deadline_after(cc->timeout_ms);
	rc = tls_handshake(&cc->st, ssl, true);
	if (rc < 0) {
		vr = SSL_get_verify_result(ssl);
		if (vr == X509_V_ERR_CERT_HAS_EXPIRED)
			expired_message(ssl, opts->tls_name, err, errlen);
		else if (vr == X509_V_ERR_CERT_NOT_YET_VALID)
			not_yet_valid_message(ssl, opts->tls_name, err, errlen);
		else if (vr != X509_V_OK)
			snprintf(err, errlen,
				 "TLS handshake: certificate verification failed for \"%s\": %s",
				 opts->tls_name, X509_verify_cert_error_string(vr));
		else if (rc == -ETIMEDOUT)
			snprintf(err, errlen, "TLS handshake: timed out");
		else if (rc == -EPROTO)
			snprintf(err, errlen, "TLS handshake: %s",
				 tls_error_string(ebuf, sizeof(ebuf)));
		else
			snprintf(err, errlen, "TLS handshake: %s", strerror(-rc));
		goto fail;
	}
	if (SSL_version(ssl) != TLS1_3_VERSION || !alpn_is_sunrpc(ssl)) {
		snprintf(err, errlen,
			 "TLS handshake: server did not agree to TLS 1.3 with ALPN sunrpc");
		rc = -EPROTO;
		goto fail;
	}
	cc->st.ssl = ssl;
	return 0;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return rc;
}

/* libtirpc creates its AUTH_NONE handle lazily and unguarded: the first
 * callers racing on several threads each build one and all but one leak. */
static AUTH *authnone_handle;

static void make_authnone(void)
{
	authnone_handle = authnone_create();
}

static AUTH *shared_authnone(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, make_authnone);
	return authnone_handle;
}

CLIENT *rpcstream_clnt_create(int fd, uint32_t prog, uint32_t vers,
			      const struct rpcstream_clnt_opts *opts, char *err, size_t errlen)
{
	struct clnt_conn *cc = NULL;
	uint32_t xid = 0;
	int rc;

	cc = calloc(1, sizeof(*cc));
	if (!cc) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	cc->st.fd = fd;
	cc->prog = prog;
	cc->vers = vers;
	cc->timeout_ms = opts ? opts->call_timeout_ms : 0;
	cc->clnt.cl_ops = &cc_ops;
	cc->clnt.cl_private = cc;
	cc->clnt.cl_auth = shared_authnone();
	cc->clnt.cl_netid = NULL;
	cc->clnt.cl_tp = NULL;
	if (getrandom(&xid, sizeof(xid), GRND_NONBLOCK) != sizeof(xid))
		xid = (uint32_t)now_ms() ^ ((uint32_t)getpid() << 16);
	cc->xid = xid;
	rc = set_nonblocking(fd, true);
	if (rc < 0) {
		snprintf(err, errlen, "socket: %s", strerror(-rc));
		goto fail;
	}
	{
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (!xdrstream_create(&cc->xdrs, RPCSTREAM_BUFSIZE, RPCSTREAM_BUFSIZE, &cc->st, stream_read,
			      stream_write)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	cc->xdrs_ok = true;
	if (opts && opts->tls && cc_start_tls(cc, opts, err, errlen) < 0)
		goto fail;
	return &cc->clnt;
fail:
	cc_destroy(&cc->clnt);
	return NULL;
}

enum clnt_stat rpcstream_send(CLIENT *clnt, rpcproc_t proc, xdrproc_t xargs, void *args)
{
	struct clnt_conn *cc = clnt_conn_of(clnt);
	enum clnt_stat st;
	uint32_t xid = 0;

	if (cc->qlen == RPCSTREAM_QMAX)
		return cc_fail(cc, RPC_FAILED, EBUSY);
	cc->st.deadline = deadline_after(cc->timeout_ms);
	st = cc_send(cc, proc, xargs, args, AUTH_NONE, &xid);
	if (st != RPC_SUCCESS)
		return st;
	cc->q[(cc->qhead + cc->qlen) % RPCSTREAM_QMAX] = (struct pending){xid, proc};
	cc->qlen++;
	return RPC_SUCCESS;
}

enum clnt_stat rpcstream_recv(CLIENT *clnt, xdrproc_t xres, void *res)
{
	struct clnt_conn *cc = clnt_conn_of(clnt);
	struct pending p;

	if (cc->qlen == 0)
		return cc_fail(cc, RPC_FAILED, ENOENT);
	p = cc->q[cc->qhead];
	cc->qhead = (cc->qhead + 1) % RPCSTREAM_QMAX;
	cc->qlen--;
	cc->st.deadline = deadline_after(cc->timeout_ms);
	return cc_recv(cc, p.xid, xres, res);
}

unsigned rpcstream_outstanding(CLIENT *clnt)
{
	return clnt_conn_of(clnt)->qlen;
}

SSL *rpcstream_clnt_ssl(CLIENT *clnt)
{
	return clnt_conn_of(clnt)->st.ssl;
}

/* ---- server ---- */

struct svc_conn {
	SVCXPRT xprt;
	SVCXPRT_EXT ext;
	struct stream st;
	XDR xdrs;
	const struct rpcstream_svc_opts *opts;
	uint32_t xid;
	bool broken;	/* a decode or encode failed: the connection ends after this call */
	bool destroyed; /* the dispatcher called svc_destroy */
	char cred_area[2 * MAX_AUTH_BYTES];
	struct sockaddr_storage peer;
	struct sockaddr_storage local;
};

static char netid_tcp[] = "tcp";

static struct svc_conn *svc_conn_of(const SVCXPRT *xprt)
{
	return xprt->xp_p1;
}

/* Reads the next call header; the stream must be at a record boundary. */
static bool_t sc_recv(SVCXPRT *xprt, struct rpc_msg *msg)
{
	struct svc_conn *c = svc_conn_of(xprt);

	memset(msg, 0, sizeof(*msg));
	msg->rm_call.cb_cred.oa_base = c->cred_area;
	msg->rm_call.cb_verf.oa_base = c->cred_area + MAX_AUTH_BYTES;
	c->xdrs.x_op = XDR_DECODE;
	if (!xdrstream_skiprecord(&c->xdrs) || !xdr_callmsg(&c->xdrs, msg))
		return FALSE;
	c->xid = msg->rm_xid;
	return TRUE;
}

static enum xprt_stat sc_stat(SVCXPRT *xprt)
{
	struct svc_conn *c = svc_conn_of(xprt);

	return stream_failed(&c->st) || c->broken ? XPRT_DIED : XPRT_IDLE;
}

static bool_t sc_getargs(SVCXPRT *xprt, xdrproc_t xargs, void *args)
{
	struct svc_conn *c = svc_conn_of(xprt);

	c->xdrs.x_op = XDR_DECODE;
	if (!(*xargs)(&c->xdrs, args)) {
		c->broken = true;
		return FALSE;
	}
	return TRUE;
}

static bool_t sc_reply(SVCXPRT *xprt, struct rpc_msg *msg)
{
	struct svc_conn *c = svc_conn_of(xprt);
	bool_t ok;

	/* The dispatcher may have worked for a while: the reply gets its own time. */
	c->st.deadline = deadline_after(c->opts->request_timeout_ms);
	msg->rm_xid = c->xid;
	c->xdrs.x_op = XDR_ENCODE;
	c->st.more = true;
	ok = xdr_replymsg(&c->xdrs, msg);
	c->st.more = false;
	if (!xdrstream_endofrecord(&c->xdrs, TRUE))
		ok = FALSE;
	c->xdrs.x_op = XDR_DECODE;
	if (!ok)
		c->broken = true;
	return ok;
}

static bool_t sc_freeargs(SVCXPRT *xprt, xdrproc_t xargs, void *args)
{
	(void)xprt;
	xdr_free(xargs, args);
	return TRUE;
}

static void sc_destroy(SVCXPRT *xprt)
{
	/* rpcstream_serve owns the transport; a dispatcher asking to destroy it
	 * ends the connection after the current call. */
	svc_conn_of(xprt)->destroyed = true;
}

static bool_t sc_control(SVCXPRT *xprt, const u_int rq, void *in)
{
	(void)xprt;
	(void)rq;
	(void)in;
	return FALSE;
}

static const struct xp_ops sc_ops = {
    .xp_recv = sc_recv,
    .xp_stat = sc_stat,
    .xp_getargs = sc_getargs,
    .xp_reply = sc_reply,
    .xp_freeargs = sc_freeargs,
    .xp_destroy = sc_destroy,
};

static const struct xp_ops2 sc_ops2 = {
    .xp_control = sc_control,
};

bool rpcstream_svc_is_tls(const SVCXPRT *xprt)
{
	return xprt && xprt->xp_ops == &sc_ops && svc_conn_of(xprt)->st.ssl != NULL;
}

SSL *rpcstream_svc_ssl(const SVCXPRT *xprt)
{
	return rpcstream_svc_is_tls(xprt) ? svc_conn_of(xprt)->st.ssl : NULL;
}

static void sc_reply_rpc_mismatch(struct svc_conn *c)
{
	struct rpc_msg m;

	memset(&m, 0, sizeof(m));
	m.rm_direction = REPLY;
	m.rm_reply.rp_stat = MSG_DENIED;
	m.rjcted_rply.rj_stat = RPC_MISMATCH;
	m.rjcted_rply.rj_vers.low = RPC_MSG_VERSION;
	m.rjcted_rply.rj_vers.high = RPC_MSG_VERSION;
	(void)sc_reply(&c->xprt, &m);
}

/* Answers the AUTH_TLS probe with STARTTLS and runs the server handshake. */
static int sc_start_tls(struct svc_conn *c)
{
	SSL *ssl = NULL;
	bool_t ok;
	int rc;

	c->xprt.xp_verf.oa_flavor = AUTH_NONE;
	c->xprt.xp_verf.oa_base = (caddr_t)starttls_verf;
	c->xprt.xp_verf.oa_length = sizeof(starttls_verf);
	ok = svc_sendreply(&c->xprt, XDR_VOID, NULL);
	c->xprt.xp_verf = _null_auth;
	if (!ok)
		return stream_failed(&c->st) && c->st.err ? -c->st.err : -EPIPE;
	/* Anything sent before the handshake would be read as TLS records. */
	if (!xdrstream_eof(&c->xdrs))
		return -EPROTO;
	ERR_clear_error();
	ssl = SSL_new(c->opts->tls);
	if (!ssl) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = attach_bio(ssl, &c->st);
	if (rc < 0)
		goto fail;
	SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	c->st.deadline = deadline_after(c->opts->request_timeout_ms);
	rc = tls_handshake(&c->st, ssl, false);
	/* A client certificate that failed verification: told apart for the log. */
	if (rc < 0 && SSL_get_verify_result(ssl) != X509_V_OK)
		rc = -EKEYREJECTED;
	if (rc < 0)
		goto fail;
	if (SSL_version(ssl) != TLS1_3_VERSION || !alpn_is_sunrpc(ssl)) {
		rc = -EPROTO;
		goto fail;
	}
	c->st.ssl = ssl;
	return 0;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return rc;
}

/* The reason a connection ended, as rpcstream_serve returns it. */
static int sc_end_code(const struct svc_conn *c, bool at_boundary)
{
	if (c->st.err)
		return -c->st.err;
	if (c->st.eof)
		return at_boundary ? 0 : -ECONNRESET;
	return -EPROTO;
}

/* Handles one call whose header has been read; returns 0 to go on, or the
 * code to end the connection with. */
static int sc_handle(struct svc_conn *c, struct rpc_msg *msg, rpcstream_dispatch_fn dispatch,
		     void *conn_arg)
{
	const struct rpcstream_svc_opts *o = c->opts;
	struct call_body *cb = &msg->rm_call;
	struct svc_req rq;

	c->xprt.xp_verf = _null_auth;
	if (cb->cb_rpcvers != RPC_MSG_VERSION) {
		sc_reply_rpc_mismatch(c);
	} else if (cb->cb_prog != o->prog) {
		svcerr_noprog(&c->xprt);
	} else if (cb->cb_vers != o->vers) {
		svcerr_progvers(&c->xprt, o->vers, o->vers);
	} else if (cb->cb_proc == NULLPROC) {
		if (cb->cb_cred.oa_flavor == AUTH_TLS && o->tls_mode != RPCSTREAM_TLS_OFF &&
		    o->tls && !c->st.ssl)
			return sc_start_tls(c);
		(void)svc_sendreply(&c->xprt, XDR_VOID, NULL);
	} else if (o->tls_mode == RPCSTREAM_TLS_REQUIRED && !c->st.ssl) {
		svcerr_auth(&c->xprt, AUTH_TOOWEAK);
	} else {
		memset(&rq, 0, sizeof(rq));
		rq.rq_prog = cb->cb_prog;
		rq.rq_vers = cb->cb_vers;
		rq.rq_proc = cb->cb_proc;
		rq.rq_cred = cb->cb_cred;
		rq.rq_clntcred = NULL;
		rq.rq_xprt = &c->xprt;
		dispatch(&rq, &c->xprt, conn_arg);
	}
	if (stream_failed(&c->st))
		return sc_end_code(c, false);
	if (c->broken)
		return -EPROTO;
	if (c->destroyed)
		return -ECONNABORTED;
	return 0;
}

int rpcstream_serve(int fd, const struct rpcstream_svc_opts *opts, rpcstream_dispatch_fn dispatch,
		    void *conn_arg)
{
	struct svc_conn *c = NULL;
	struct rpc_msg msg;
	socklen_t sl;
	int rc;

	if (!opts || !dispatch || (opts->tls_mode != RPCSTREAM_TLS_OFF && !opts->tls)) {
		close(fd);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->st.fd = fd;
	c->opts = opts;
	c->xprt.xp_fd = fd;
	c->xprt.xp_ops = &sc_ops;
	c->xprt.xp_ops2 = &sc_ops2;
	c->xprt.xp_p1 = c;
	c->xprt.xp_p3 = &c->ext;
	c->xprt.xp_netid = netid_tcp;
	c->xprt.xp_verf = _null_auth;
	sl = sizeof(c->peer);
	if (getpeername(fd, (struct sockaddr *)&c->peer, &sl) == 0) {
		c->xprt.xp_rtaddr.buf = &c->peer;
		c->xprt.xp_rtaddr.len = sl;
		c->xprt.xp_rtaddr.maxlen = sizeof(c->peer);
		if (sl <= sizeof(c->xprt.xp_raddr)) {
			memcpy(&c->xprt.xp_raddr, &c->peer, sl);
			c->xprt.xp_addrlen = (int)sl;
		}
		if (c->peer.ss_family == AF_INET6)
			c->xprt.xp_port = ntohs(((struct sockaddr_in6 *)&c->peer)->sin6_port);
		else if (c->peer.ss_family == AF_INET)
			c->xprt.xp_port = ntohs(((struct sockaddr_in *)&c->peer)->sin_port);
	}
	sl = sizeof(c->local);
	if (getsockname(fd, (struct sockaddr *)&c->local, &sl) == 0) {
		c->xprt.xp_ltaddr.buf = &c->local;
		c->xprt.xp_ltaddr.len = sl;
		c->xprt.xp_ltaddr.maxlen = sizeof(c->local);
	}
	rc = set_nonblocking(fd, true);
	if (rc < 0)
		goto out;
	tune_socket(fd);
	if (!xdrstream_create(&c->xdrs, RPCSTREAM_BUFSIZE, RPCSTREAM_BUFSIZE, &c->st, stream_read,
			      stream_write)) {
		c->xdrs.x_ops = NULL;
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		bool buffered;

		/* Skips what the dispatcher left of the last call and tells
		 * whether the next one is already buffered (pipelining). */
		c->st.deadline = deadline_after(opts->request_timeout_ms);
		buffered = !xdrstream_eof(&c->xdrs);
		if (stream_failed(&c->st)) {
			rc = sc_end_code(c, false);
			break;
		}
		if (!buffered && !(c->st.ssl && SSL_has_pending(c->st.ssl))) {
			rc = wait_fd(fd, POLLIN, deadline_after(opts->idle_timeout_ms));
			if (rc < 0)
				break;
		}
		c->st.deadline = deadline_after(opts->request_timeout_ms);
		c->st.nread = 0;
		if (!sc_recv(&c->xprt, &msg)) {
			rc = sc_end_code(c, !buffered && c->st.nread == 0);
			break;
		}
		rc = sc_handle(c, &msg, dispatch, conn_arg);
		if (rc < 0)
			break;
	}
out:
	if (c->xdrs.x_ops)
		XDR_DESTROY(&c->xdrs);
	stream_close(&c->st);
	free(c);
	return rc;
}
