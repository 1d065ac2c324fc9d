/* tls.h: OpenSSL contexts for RPC-with-TLS (RFC 9289): TLS 1.3 only, ALPN "sunrpc". */
#ifndef DFS_TLS_H
#define DFS_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* A server context from a PEM certificate chain and private key. Returns NULL
 * and writes the reason (naming the file) into err. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* A client context that trusts only the CAs in ca_file and verifies the
 * server's certificate. Returns NULL and writes the reason into err. */
SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen);

/* Lets a server context ask clients for a certificate and verify one sent
 * against the CAs in ca_file (for client authentication). A client that sends
 * none is served as before; one whose certificate fails is refused in the
 * handshake. 0, or -EINVAL with the reason in err. */
int tls_server_accept_peers(SSL_CTX *ctx, const char *ca_file, char *err, size_t errlen);

/* Makes a client context present this certificate chain and key. 0, or
 * -EINVAL with the reason in err. */
int tls_client_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *err,
			size_t errlen);

/* The server number N an established connection's peer proved: its
 * certificate verified and names "urn:dfs:server:N" (1..max) among its
 * subject alternative names. 0 if it proved none. */
unsigned tls_peer_server_id(SSL *ssl, unsigned max);

/* Seconds until the peer certificate of an established connection expires
 * (negative if it has). Returns 0 and sets *seconds, or -ENOENT. */
int tls_peer_expiry(SSL *ssl, long long *seconds);

/* Writes cert's expiry time as "YYYY-MM-DD HH:MM:SS UTC" into buf.
 * 0, -ENOENT (no certificate or no readable date) or -ENOSPC. */
int tls_cert_not_after(const X509 *cert, char *buf, size_t len);

/* The last OpenSSL error queue entry as text (drains the queue). */
const char *tls_error_string(char *buf, size_t len);

#endif
