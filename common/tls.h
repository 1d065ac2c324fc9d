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

/* Seconds until the peer certificate of an established connection expires
 * (negative if it has). Returns 0 and sets *seconds, or -ENOENT. */
int tls_peer_expiry(SSL *ssl, long long *seconds);

/* Writes cert's expiry time as "YYYY-MM-DD HH:MM:SS UTC" into buf.
 * 0, -ENOENT (no certificate or no readable date) or -ENOSPC. */
int tls_cert_not_after(const X509 *cert, char *buf, size_t len);

/* The last OpenSSL error queue entry as text (drains the queue). */
const char *tls_error_string(char *buf, size_t len);

#endif
