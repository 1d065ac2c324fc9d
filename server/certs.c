/* certs.c: the server's TLS context, shared by new connections and replaced on reload. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include "log.h"
#include "server.h"
#include "tls.h"

/* Guards srv->tls: a reload swaps the pointer while connections take references. */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

SSL_CTX *server_tls_hold(struct server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&tls_lock);
	ctx = srv->tls;
	if (ctx && SSL_CTX_up_ref(ctx) != 1)
		ctx = NULL;
	pthread_mutex_unlock(&tls_lock);
	return ctx;
}

/* Logs the expiry of ctx's certificate, as a warning when it is near or past. */
static void log_expiry(SSL_CTX *ctx, const char *what)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	char when[64];
	int days = 0, secs = 0;

	if (tls_cert_not_after(cert, when, sizeof(when)) < 0) {
		log_info("%s certificate (expiry unknown)", what);
		return;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1 &&
	    (days < 0 || secs < 0))
		log_warn("%s certificate, expired on %s: renew it", what, when);
	else if (days < 30)
		log_warn("%s certificate, expires %s (in %d days): renew it", what, when, days);
	else
		log_info("%s certificate, expires %s", what, when);
}

int server_tls_load(struct server *srv, bool reload)
{
	const struct server_config *cfg = &srv->cfg;
	char err[512] = "";
	SSL_CTX *ctx, *old;

	ctx = tls_server_ctx(cfg->cert, cfg->key, err, sizeof(err));
	/* Other servers of the cluster prove themselves with certificates from its CA. */
	if (ctx && cfg->peer_ca[0] &&
	    tls_server_accept_peers(ctx, cfg->peer_ca, err, sizeof(err)) < 0) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx) {
		if (reload)
			log_error("cannot reload the certificate (the old one stays in use): %s",
				  err[0] ? err : "unknown error");
		else
			log_error("cannot set up TLS: %s", err[0] ? err : "unknown error");
		return -EINVAL;
	}
	pthread_mutex_lock(&tls_lock);
	old = srv->tls;
	srv->tls = ctx;
	pthread_mutex_unlock(&tls_lock);
	/* Connections that took a reference keep the old context until they end. */
	SSL_CTX_free(old);
	log_expiry(ctx, reload ? "reloaded" : "loaded");
	return 0;
}
