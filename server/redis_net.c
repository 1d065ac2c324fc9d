/* redis_net.c: the transport under redis_conn.c: a TCP connection with
 * timeouts, and for rediss:// the TLS client context, the handshake with
 * its host check, and writes that raise no SIGPIPE. */
#include "redis_net.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

int redis_net_connect(const struct addrinfo *ai, int timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct pollfd pfd;
	int fd, flags, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto fail;
	}
	if (rc < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto fail;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
			rc = -errno;
			goto fail;
		}
		if (soerr) {
			rc = -soerr;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, flags);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	close(fd);
	return rc;
}

int redis_tls_context(SSL_CTX **out, const struct redis_url *u, char *err, size_t errlen)
{
	const char *env_ca = getenv("DFS_REDIS_CA");
	const char *what = NULL, *file = NULL;
	SSL_CTX *ctx;

	*out = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (u->ca[0]) {
		if (SSL_CTX_load_verify_locations(ctx, u->ca, NULL) != 1)
			what = "CA file", file = u->ca;
	} else {
		SSL_CTX_set_default_verify_paths(ctx);
		if (env_ca && *env_ca && SSL_CTX_load_verify_locations(ctx, env_ca, NULL) != 1)
			what = "CA file ($DFS_REDIS_CA)", file = env_ca;
	}
	if (!what && u->cert[0]) {
		if (SSL_CTX_use_certificate_chain_file(ctx, u->cert) != 1)
			what = "client certificate", file = u->cert;
		else if (SSL_CTX_use_PrivateKey_file(ctx, u->key, SSL_FILETYPE_PEM) != 1 ||
			 SSL_CTX_check_private_key(ctx) != 1)
			what = "client key (or it does not match the certificate)", file = u->key;
	}
	if (what) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());

		/* OpenSSL says only "system lib" for a file it cannot open. */
		if (access(file, R_OK) != 0)
			why = strerror(errno);
		snprintf(err, errlen, "cannot use the Redis %s %s: %s", what, file,
			 why ? why : "unreadable");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	*out = ctx;
	return 0;
}

int redis_tls_start(SSL **out, SSL_CTX *ctx, int fd, const struct redis_url *u, char *err,
		    size_t errlen)
{
	unsigned char addr[16];
	bool is_ip =
	    inet_pton(AF_INET, u->host, addr) == 1 || inet_pton(AF_INET6, u->host, addr) == 1;
	X509_VERIFY_PARAM *param;
	SSL *ssl;
	long verify;

	*out = NULL;
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, errlen, "user database: out of memory");
		goto fail;
	}
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, u->host) != 1
		  : X509_VERIFY_PARAM_set1_host(param, u->host, 0) != 1 ||
			SSL_set_tlsext_host_name(ssl, u->host) != 1) {
		snprintf(err, errlen, "user database: cannot check certificates for %s", u->host);
		goto fail;
	}
	ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_peek_last_error();

		verify = SSL_get_verify_result(ssl);
		if (verify != X509_V_OK)
			snprintf(err, errlen,
				 "user database unreachable: %s:%s: TLS: Redis's certificate is "
				 "not accepted: %s",
				 u->host, u->port, X509_verify_cert_error_string(verify));
		else
			snprintf(err, errlen,
				 "user database unreachable: %s:%s: TLS handshake failed: %s",
				 u->host, u->port,
				 e && ERR_reason_error_string(e) ? ERR_reason_error_string(e)
								 : "connection closed");
		goto fail;
	}
	*out = ssl;
	return 0;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return -ECONNREFUSED;
}

int redis_tls_write(SSL *ssl, const char *buf, int len)
{
	const struct timespec zero = {0, 0};
	sigset_t pipe_set, old;
	int w;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ERR_clear_error();
	w = SSL_write(ssl, buf, len);
	if (w <= 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}
