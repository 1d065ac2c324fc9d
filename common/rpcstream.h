/* rpcstream.h: ONC RPC over a TCP stream (RFC 5531 record marking), plain or
 * inside TLS 1.3 after the RFC 9289 STARTTLS exchange.
 *
 * Client side: rpcstream_clnt_create() gives a CLIENT usable with the rpcgen
 * client stubs (clnt_call), plus a pipelined send/recv pair for throughput.
 * Server side: rpcstream_serve() runs one connection to its end on the
 * calling thread, answering NULL and STARTTLS itself and handing every other
 * call to a dispatch function through an SVCXPRT whose svc_getargs,
 * svc_sendreply, svc_freeargs and svcerr_* work as with libtirpc's own.
 */
#ifndef DFS_RPCSTREAM_H
#define DFS_RPCSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <rpc/rpc.h>
#include <openssl/ssl.h>

/* XDR record buffer size. */
#define RPCSTREAM_BUFSIZE (256 * 1024)
/* Socket buffer size (the kernel caps it at net.core.wmem_max / rmem_max): with
 * several MiB in flight per connection, sender and receiver wake each other far
 * less often than with 256 KiB. */
#define RPCSTREAM_SOCKBUF (4 * 1024 * 1024)

/* ---- client ---- */

struct rpcstream_clnt_opts {
	int call_timeout_ms;  /* per call: sending the call and receiving its reply */
	SSL_CTX *tls;	      /* NULL: stay plain */
	const char *tls_name; /* the name the server's certificate must carry */
};

/* Connects a TCP socket to host:port (numeric or resolvable), with
 * TCP_NODELAY and RPCSTREAM_SOCKBUF socket buffers, giving up after
 * timeout_ms. Returns the fd, or -errno and writes the reason into err. */
int rpcstream_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t errlen);

/* Makes a CLIENT for program prog, version vers over a connected socket; it
 * owns fd from then on (closed by clnt_destroy, or on failure). With
 * opts->tls, first runs NULL with AUTH_TLS, expects the STARTTLS verifier,
 * then a TLS 1.3 handshake (SNI and certificate name = opts->tls_name, ALPN
 * "sunrpc"). Returns NULL and writes the reason into err on failure. */
CLIENT *rpcstream_clnt_create(int fd, uint32_t prog, uint32_t vers,
			      const struct rpcstream_clnt_opts *opts, char *err, size_t errlen);

/* Pipelining: send a call without waiting for its reply, then collect
 * replies in the order the calls were sent. Up to a few calls may be
 * outstanding (replies must fit in the socket buffers). Return RPC_SUCCESS
 * or the failure (details via clnt_geterr). clnt_call must not be mixed in
 * while calls are outstanding. */
enum clnt_stat rpcstream_send(CLIENT *clnt, rpcproc_t proc, xdrproc_t xargs, void *args);
enum clnt_stat rpcstream_recv(CLIENT *clnt, xdrproc_t xres, void *res);
/* Calls sent and not yet received. */
unsigned rpcstream_outstanding(CLIENT *clnt);

/* The TLS session, or NULL on a plain connection. */
SSL *rpcstream_clnt_ssl(CLIENT *clnt);

/* ---- server ---- */

enum rpcstream_tls_mode { RPCSTREAM_TLS_OFF, RPCSTREAM_TLS_OPTIONAL, RPCSTREAM_TLS_REQUIRED };

struct rpcstream_svc_opts {
	uint32_t prog, vers;
	SSL_CTX *tls; /* may be NULL only with RPCSTREAM_TLS_OFF */
	enum rpcstream_tls_mode tls_mode;
	int idle_timeout_ms;	/* between calls */
	int request_timeout_ms; /* from a call's first byte to its last */
};

/* Called for every call but NULL, on the connection's thread. It must
 * answer (svc_sendreply or svcerr_*) and free the arguments (svc_freeargs).
 * conn_arg is the pointer given to rpcstream_serve. */
typedef void (*rpcstream_dispatch_fn)(struct svc_req *rq, SVCXPRT *xprt, void *conn_arg);

/* Serves the connection on fd until the peer closes it, it idles past the
 * timeout, a call takes too long, or the stream breaks; then closes fd.
 * Answers NULL itself (with the STARTTLS verifier and a TLS handshake when
 * the credential is AUTH_TLS and TLS is not off); refuses other calls on a
 * plain connection with AUTH_TOOWEAK when TLS is required; answers
 * PROG_UNAVAIL / PROG_MISMATCH for other programs and versions; closes the
 * connection on undecodable input. Returns 0 when the peer closed, or
 * -errno describing why the connection ended (-ETIMEDOUT, -EPROTO,
 * -EKEYREJECTED for a client certificate that failed verification...). */
int rpcstream_serve(int fd, const struct rpcstream_svc_opts *opts, rpcstream_dispatch_fn dispatch,
		    void *conn_arg);

/* For the dispatch function: is this connection inside TLS? */
bool rpcstream_svc_is_tls(const SVCXPRT *xprt);
/* The TLS connection of a served call, or NULL. */
SSL *rpcstream_svc_ssl(const SVCXPRT *xprt);

#endif
