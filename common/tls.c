/* tls.c: OpenSSL contexts for RPC-with-TLS (RFC 9289): TLS 1.3 only, ALPN "sunrpc". */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ALPN protocol list in wire format: one length-prefixed name. */
static const unsigned char alpn_sunrpc[] = {6, 's', 'u', 'n', 'r', 'p', 'c'};

/* Selects "sunrpc" if the client offers it; refuses the handshake otherwise. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned int n = in[i];

		if (n > inlen - i - 1)
			break;
		if (n == alpn_sunrpc[0] && memcmp(in + i + 1, alpn_sunrpc + 1, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

const char *tls_error_string(char *buf, size_t len)
{
	unsigned long code, last = 0;
	const char *data = NULL;
	int flags = 0;
	char detail[256] = "";
	char reason[256];

	if (len == 0)
		return buf;
	while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		last = code;
		/* The detail text lives in the queue slot: copy it before moving on. */
		if (data && (flags & ERR_TXT_STRING))
			snprintf(detail, sizeof(detail), "%s", data);
		else
			detail[0] = 0;
	}
	if (last == 0) {
		snprintf(buf, len, "no OpenSSL error recorded");
		return buf;
	}
	ERR_error_string_n(last, reason, sizeof(reason));
	if (detail[0])
		snprintf(buf, len, "%s (%s)", reason, detail);
	else
		snprintf(buf, len, "%s", reason);
	return buf;
}

#define TLS_READ_BUFFER (128 * 1024)

/* Settings both sides share: TLS 1.3 only, no renegotiation or compression,
 * and a peer closing TCP without close_notify counts as an orderly close (RPC
 * records are self-delimiting, so truncation is detected above TLS). */
static int ctx_common(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read whatever has arrived, not one record header and then its body: one
	 * system call then brings several records. Readers must ask SSL_has_pending
	 * before waiting on the socket. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
	return 0;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	char ebuf[256];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || ctx_common(ctx) < 0) {
		snprintf(err, errlen, "TLS server context: %s",
			 tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen, "certificate %s: %s", cert_file,
			 tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen, "private key %s does not match certificate %s: %s",
				 key_file, cert_file, tls_error_string(ebuf, sizeof(ebuf)));
		else
			snprintf(err, errlen, "private key %s: %s", key_file,
				 tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "private key %s does not match certificate %s: %s", key_file,
			 cert_file, tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/* Clients never resume: tickets would only cost a write per handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	char ebuf[256];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || ctx_common(ctx) < 0) {
		snprintf(err, errlen, "TLS client context: %s",
			 tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		snprintf(err, errlen, "CA file %s: %s", ca_file,
			 tls_error_string(ebuf, sizeof(ebuf)));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Unlike most OpenSSL calls, this one returns 0 on success. */
	if (SSL_CTX_set_alpn_protos(ctx, alpn_sunrpc, sizeof(alpn_sunrpc)) != 0) {
		snprintf(err, errlen, "TLS client context: cannot set ALPN");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_server_accept_peers(SSL_CTX *ctx, const char *ca_file, char *err, size_t errlen)
{
	char ebuf[256];

	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		snprintf(err, errlen, "CA file %s: %s", ca_file,
			 tls_error_string(ebuf, sizeof(ebuf)));
		return -EINVAL;
	}
	/* A certificate is asked for, not required: users log in with passwords. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1) {
		snprintf(err, errlen, "TLS server context: %s",
			 tls_error_string(ebuf, sizeof(ebuf)));
		return -EINVAL;
	}
	return 0;
}

int tls_client_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *err,
			size_t errlen)
{
	char ebuf[256];

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "certificate %s with key %s: %s", cert_file, key_file,
			 tls_error_string(ebuf, sizeof(ebuf)));
		return -EINVAL;
	}
	return 0;
}

#define SERVER_URI "urn:dfs:server:"

unsigned tls_peer_server_id(SSL *ssl, unsigned max)
{
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	GENERAL_NAMES *names;
	unsigned id = 0;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !id; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		size_t plen = strlen(SERVER_URI);
		char uri[33], *end;
		unsigned long n;
		int len;

		if (g->type != GEN_URI)
			continue;
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (len <= (int)plen || len >= (int)sizeof(uri))
			continue;
		memcpy(uri, ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), (size_t)len);
		uri[len] = '\0';
		if (strncmp(uri, SERVER_URI, plen) != 0 || uri[plen] < '1' || uri[plen] > '9')
			continue;
		errno = 0;
		n = strtoul(uri + plen, &end, 10);
		if (errno == 0 && *end == '\0' && n >= 1 && n <= max)
			id = (unsigned)n;
	}
	GENERAL_NAMES_free(names);
	return id;
}

int tls_peer_expiry(SSL *ssl, long long *seconds)
{
	X509 *cert;
	const ASN1_TIME *not_after;
	int days = 0, secs = 0;

	if (!ssl)
		return -ENOENT;
	cert = SSL_get0_peer_certificate(ssl);
	if (!cert)
		return -ENOENT;
	not_after = X509_get0_notAfter(cert);
	if (!not_after || ASN1_TIME_diff(&days, &secs, NULL, not_after) != 1)
		return -ENOENT;
	*seconds = (long long)days * 86400 + secs;
	return 0;
}

int tls_cert_not_after(const X509 *cert, char *buf, size_t len)
{
	const ASN1_TIME *not_after;
	struct tm tm;

	if (!cert || len == 0)
		return -ENOENT;
	not_after = X509_get0_notAfter(cert);
	if (!not_after || ASN1_TIME_to_tm(not_after, &tm) != 1)
		return -ENOENT;
	if (strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return -ENOSPC;
	return 0;
}
