/* redis_net.h: the transport under redis_conn.c: TCP with timeouts, and TLS
 * for rediss://. */
#ifndef DFS_REDIS_NET_H
#define DFS_REDIS_NET_H

#include <netdb.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "redis_url.h"

/* Connects to ai within timeout_ms; the socket then has send and receive
 * timeouts of timeout_ms. The fd, or -errno. */
int redis_net_connect(const struct addrinfo *ai, int timeout_ms);

/* The client context for u: its ca= file if given (else the system's CAs,
 * and $DFS_REDIS_CA), and its client certificate if given. 0 and *out (free
 * with SSL_CTX_free), or -errno with the reason in err. */
int redis_tls_context(SSL_CTX **out, const struct redis_url *u, char *err, size_t errlen);
/* The handshake over the connected socket fd, checking that the certificate
 * names u's host (its DNS name, or its IP address when the URL gives one).
 * 0 and *out (free with SSL_free), or -ECONNREFUSED with the reason in err. */
int redis_tls_start(SSL **out, SSL_CTX *ctx, int fd, const struct redis_url *u, char *err,
		    size_t errlen);
/* SSL_write, without the SIGPIPE a closed connection would raise in a
 * program that does not ignore it (dfsadm). */
int redis_tls_write(SSL *ssl, const char *buf, int len);

#endif
