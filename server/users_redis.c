/* users_redis.c: the user database kept in Redis, shared by every server.
 *
 * Keys (PREFIX is "dfs:"):
 *   dfs:settings     hash: fake_key (32 raw bytes), iterations
 *   dfs:users        set of user names
 *   dfs:user:NAME    hash: salt, iterations, stored_key, server_key (raw bytes),
 *                    quota_bytes, quota_files (absent: no limit)
 * Changes that depend on what is there (add, password change, quota) run in
 * WATCH / MULTI / EXEC and are retried when another writer got in between.
 *
 * One connection per handle, guarded by a mutex, speaking RESP through
 * hiredis's reader over a socket of our own (and OpenSSL for rediss://), so
 * that both have the same timeouts. A lost connection is dropped and made
 * again at the next call; calls fail with -ENOTCONN meanwhile.
 *
 * URL options after '?': ca, cert, key (PEM files for rediss://) and
 * primary=HOST:PORT. A replica answers writes with READONLY; with a primary
 * given, writes go there (same credentials and TLS settings) and then wait
 * until the local replica shows them, so this host reads its own writes.
 */
#include "users.h"
#include "hex.h"
#include "log.h"
#include "names.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TIMEOUT_MS	2000
#define RETRY_AFTER_MS	1000 /* after a failed connect, calls fail at once this long */
#define WATCH_ATTEMPTS	8
#define KEY_SETTINGS	"dfs:settings"
#define KEY_USERS	"dfs:users"
#define KEY_USER_PREFIX "dfs:user:"
#define USER_MAX	64
#define URL_PART_MAX	256
#define CATCH_UP_MS	2000 /* how long a write sent to the primary waits for the replica */

struct user_db_redis {
	pthread_mutex_t lock;
	char host[URL_PART_MAX];
	char port[16];
	char user[URL_PART_MAX], password[URL_PART_MAX];
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char primary_host[URL_PART_MAX], primary_port[16];
	unsigned dbnum;
	bool tls, writable;
	bool replica;		       /* it answered a write with READONLY */
	struct user_db_redis *primary; /* where writes go, when given */
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;
	redisReader *reader;
	struct timespec failed_at; /* of the last failed connect; zero if none */
	char failure[512];	   /* why it failed */
	char lost[256];		   /* why the connection was lost, if known */
	char logged[512];	   /* the failure last logged, so that each is logged once */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies [s, s+len) into out, decoding %XX. -EINVAL if too long or malformed. */
static int url_part(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			char digits[3];
			unsigned char byte;

			if (i + 2 >= len)
				return -EINVAL;
			digits[0] = s[i + 1];
			digits[1] = s[i + 2];
			digits[2] = '\0';
			if (hex_decode(digits, &byte, 1) < 0)
				return -EINVAL;
			c = (char)byte;
			i += 2;
		}
		if (n + 1 >= cap || c == '\0')
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

bool user_db_is_url(const char *path)
{
	return path && (strncmp(path, "redis://", 8) == 0 || strncmp(path, "rediss://", 9) == 0);
}

/* HOST[:PORT] or [IPV6][:PORT] in [p, end) into host and port (default 6379). */
static int parse_hostport(const char *p, const char *end, char *host, size_t hostcap, char *port,
			  size_t portcap)
{
	size_t hostlen;

	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		hostlen = (size_t)(close - p - 1);
		if (hostlen == 0 || hostlen >= hostcap)
			return -EINVAL;
		memcpy(host, p + 1, hostlen);
		host[hostlen] = '\0';
		p = close + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *stop = colon ? colon : end;

		hostlen = (size_t)(stop - p);
		if (hostlen == 0 || hostlen >= hostcap)
			return -EINVAL;
		memcpy(host, p, hostlen);
		host[hostlen] = '\0';
		p = stop;
	}
	snprintf(port, portcap, "6379");
	if (*p == ':') {
		size_t plen = (size_t)(end - p - 1);

		if (plen == 0 || plen >= portcap || strspn(p + 1, "0123456789") < plen)
			return -EINVAL;
		memcpy(port, p + 1, plen);
		port[plen] = '\0';
		p = end;
	}
	return p == end ? 0 : -EINVAL;
}

/* The options after '?': NAME=VALUE pairs joined by '&', values %XX-decoded. */
static int parse_options(struct user_db_redis *r, const char *q, char *err, size_t errlen)
{
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		const char *stop = amp ? amp : q + strlen(q);
		char value[PATH_MAX];
		size_t nlen;

		eq = memchr(q, '=', (size_t)(stop - q));
		if (!eq || url_part(eq + 1, (size_t)(stop - eq - 1), value, sizeof(value)) < 0 ||
		    !value[0]) {
			snprintf(err, errlen, "user database URL: option '%.*s' is not NAME=VALUE",
				 (int)(stop - q), q);
			return -EINVAL;
		}
		nlen = (size_t)(eq - q);
		if (nlen == 2 && memcmp(q, "ca", 2) == 0) {
			memcpy(r->ca, value, sizeof(r->ca));
		} else if (nlen == 4 && memcmp(q, "cert", 4) == 0) {
			memcpy(r->cert, value, sizeof(r->cert));
		} else if (nlen == 3 && memcmp(q, "key", 3) == 0) {
			memcpy(r->key, value, sizeof(r->key));
		} else if (nlen == 7 && memcmp(q, "primary", 7) == 0) {
			if (parse_hostport(value, value + strlen(value), r->primary_host,
					   sizeof(r->primary_host), r->primary_port,
					   sizeof(r->primary_port)) < 0) {
				snprintf(err, errlen,
					 "user database URL: primary=%s is not HOST:PORT", value);
				return -EINVAL;
			}
		} else {
			snprintf(
			    err, errlen,
			    "user database URL: unknown option '%.*s' (ca, cert, key, primary)",
			    (int)nlen, q);
			return -EINVAL;
		}
		q = amp ? amp + 1 : stop;
	}
	if (!r->tls && (r->ca[0] || r->cert[0] || r->key[0])) {
		snprintf(err, errlen, "user database URL: ca, cert and key need rediss://");
		return -EINVAL;
	}
	if (!r->cert[0] != !r->key[0]) {
		snprintf(err, errlen, "user database URL: give both cert and key, or neither");
		return -EINVAL;
	}
	return 0;
}

/* redis[s]://[USER:PASSWORD@]HOST:PORT[/DB][?OPTIONS]; also [:PASSWORD@] alone, a
 * bracketed IPv6 host, and a missing port (6379). */
static int parse_url(struct user_db_redis *r, const char *url, char *err, size_t errlen)
{
	const char *p, *at, *host_end, *slash, *query;
	char base[PATH_MAX];
	size_t baselen;

	if (strncmp(url, "rediss://", 9) == 0) {
		r->tls = true;
		url += 9;
	} else if (strncmp(url, "redis://", 8) == 0) {
		url += 8;
	} else {
		return -EINVAL;
	}
	/* Options may hold '/' and '@' (file names): cut them off first. */
	query = strchr(url, '?');
	baselen = query ? (size_t)(query - url) : strlen(url);
	if (baselen >= sizeof(base))
		return -EINVAL;
	memcpy(base, url, baselen);
	base[baselen] = '\0';
	p = base;
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon) {
			if (url_part(p, (size_t)(colon - p), r->user, sizeof(r->user)) < 0 ||
			    url_part(colon + 1, (size_t)(at - colon - 1), r->password,
				     sizeof(r->password)) < 0)
				return -EINVAL;
		} else if (url_part(p, (size_t)(at - p), r->password, sizeof(r->password)) < 0) {
			return -EINVAL;
		}
		p = at + 1;
	}
	host_end = slash ? slash : p + strlen(p);
	if (parse_hostport(p, host_end, r->host, sizeof(r->host), r->port, sizeof(r->port)) < 0)
		return -EINVAL;
	if (slash && slash[1]) {
		char *end;
		unsigned long n = strtoul(slash + 1, &end, 10);

		if (*end || n > 1000000 || slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		r->dbnum = (unsigned)n;
	}
	return query ? parse_options(r, query + 1, err, errlen) : 0;
}

static void disconnect(struct user_db_redis *r)
{
	if (r->ssl) {
		SSL_free(r->ssl);
		r->ssl = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (r->reader) {
		redisReaderFree(r->reader);
		r->reader = NULL;
	}
}

/* Connects to one address within TIMEOUT_MS; the socket then has send and
 * receive timeouts. The fd, or -errno. */
static int connect_addr(const struct addrinfo *ai)
{
	struct timeval tv = {TIMEOUT_MS / 1000, (TIMEOUT_MS % 1000) * 1000};
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
		rc = poll(&pfd, 1, TIMEOUT_MS);
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

/* Notes why TLS failed (e.g. Redis wants a client certificate). */
static void note_tls_error(struct user_db_redis *r)
{
	const char *why = ERR_reason_error_string(ERR_peek_last_error());

	if (why)
		snprintf(r->lost, sizeof(r->lost), "TLS: %s", why);
	ERR_clear_error();
}

/* Why the connection was lost, when the first commands on it fail. */
static const char *lost(struct user_db_redis *r)
{
	/* Under TLS 1.3 Redis refuses a missing client certificate after the
	 * handshake: often all that is seen is a reset connection. */
	if (r->tls && !r->cert[0]) {
		size_t n = strlen(r->lost);

		snprintf(r->lost + n, sizeof(r->lost) - n,
			 "%sconnection closed (if Redis asks for a client certificate, give "
			 "cert= and key=)",
			 n ? ", " : "");
	}
	return r->lost[0] ? r->lost : "connection lost";
}

/* SSL_write, without the SIGPIPE a closed connection would raise in a
 * program that does not ignore it (dfsadm). */
static int ssl_write_nosignal(SSL *ssl, const char *buf, int len)
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

static int send_all(struct user_db_redis *r, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (r->ssl) {
			int w =
			    ssl_write_nosignal(r->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);

			n = w > 0 ? w : -1;
			if (n < 0)
				note_tls_error(r);
		} else {
			n = send(r->fd, buf, len, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR && !r->ssl)
			continue;
		if (n <= 0)
			return -ENOTCONN;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next reply (free with freeReplyObject), or NULL with the connection dropped. */
static redisReply *read_reply(struct user_db_redis *r)
{
	char buf[4096];
	void *reply = NULL;

	for (;;) {
		ssize_t n;

		if (redisReaderGetReply(r->reader, &reply) != REDIS_OK)
			break;
		if (reply)
			return reply;
		if (r->ssl) {
			int got;

			ERR_clear_error(); /* errors left by other TLS work on this thread */
			got = SSL_read(r->ssl, buf, sizeof(buf));

			n = got > 0 ? got : -1;
			if (n < 0)
				note_tls_error(r);
		} else {
			do
				n = recv(r->fd, buf, sizeof(buf), 0);
			while (n < 0 && errno == EINTR);
		}
		if (n <= 0 || redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK)
			break;
	}
	disconnect(r);
	return NULL;
}

/* Sends one command and reads its reply; NULL when the connection failed
 * (it is then dropped). */
static redisReply *command_argv(struct user_db_redis *r, int argc, const char **argv,
				const size_t *lens)
{
	char *cmd = NULL;
	int len;

	if (r->fd < 0)
		return NULL;
	len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (len < 0)
		return NULL;
	if (send_all(r, cmd, (size_t)len) < 0) {
		redisFreeCommand(cmd);
		disconnect(r);
		return NULL;
	}
	redisFreeCommand(cmd);
	return read_reply(r);
}

/* command_argv with NUL-terminated arguments. */
static redisReply *command(struct user_db_redis *r, int argc, const char **argv)
{
	size_t lens[16];

	for (int i = 0; i < argc && i < 16; i++)
		lens[i] = strlen(argv[i]);
	return command_argv(r, argc, argv, lens);
}

/* Whether reply is a status or bulk string equal to s. */
static bool reply_is(const redisReply *reply, const char *s)
{
	return reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) &&
	       (size_t)reply->len == strlen(s) && memcmp(reply->str, s, (size_t)reply->len) == 0;
}

/* The TLS context for rediss://: the CA file if given (else the system's
 * CAs, and $DFS_REDIS_CA), and the client certificate if given. */
static int tls_setup(struct user_db_redis *r, char *err, size_t errlen)
{
	const char *env_ca = getenv("DFS_REDIS_CA");
	const char *what = NULL, *file = NULL;

	ERR_clear_error();
	r->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!r->ssl_ctx) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(r->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (r->ca[0]) {
		if (SSL_CTX_load_verify_locations(r->ssl_ctx, r->ca, NULL) != 1)
			what = "CA file", file = r->ca;
	} else {
		SSL_CTX_set_default_verify_paths(r->ssl_ctx);
		if (env_ca && *env_ca &&
		    SSL_CTX_load_verify_locations(r->ssl_ctx, env_ca, NULL) != 1)
			what = "CA file ($DFS_REDIS_CA)", file = env_ca;
	}
	if (!what && r->cert[0]) {
		if (SSL_CTX_use_certificate_chain_file(r->ssl_ctx, r->cert) != 1)
			what = "client certificate", file = r->cert;
		else if (SSL_CTX_use_PrivateKey_file(r->ssl_ctx, r->key, SSL_FILETYPE_PEM) != 1 ||
			 SSL_CTX_check_private_key(r->ssl_ctx) != 1)
			what = "client key (or it does not match the certificate)", file = r->key;
	}
	if (what) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());

		/* OpenSSL says only "system lib" for a file it cannot open. */
		if (access(file, R_OK) != 0)
			why = strerror(errno);
		snprintf(err, errlen, "cannot use the Redis %s %s: %s", what, file,
			 why ? why : "unreadable");
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

/* Whether reply is a replica's refusal to write; remembers that r is a replica. */
static bool is_readonly(struct user_db_redis *r, const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "READONLY", 8) != 0)
		return false;
	r->replica = true;
	return true;
}

/* The TLS handshake, checking that the certificate names the host (its
 * DNS name, or its IP address when the URL gives one). */
static int tls_start(struct user_db_redis *r, char *err, size_t errlen)
{
	unsigned char addr[16];
	bool is_ip =
	    inet_pton(AF_INET, r->host, addr) == 1 || inet_pton(AF_INET6, r->host, addr) == 1;
	X509_VERIFY_PARAM *param;
	long verify;

	r->ssl = SSL_new(r->ssl_ctx);
	if (!r->ssl || SSL_set_fd(r->ssl, r->fd) != 1) {
		snprintf(err, errlen, "user database: out of memory");
		goto fail;
	}
	param = SSL_get0_param(r->ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, r->host) != 1
		  : X509_VERIFY_PARAM_set1_host(param, r->host, 0) != 1 ||
			SSL_set_tlsext_host_name(r->ssl, r->host) != 1) {
		snprintf(err, errlen, "user database: cannot check certificates for %s", r->host);
		goto fail;
	}
	ERR_clear_error();
	if (SSL_connect(r->ssl) != 1) {
		unsigned long e = ERR_peek_last_error();

		verify = SSL_get_verify_result(r->ssl);
		if (verify != X509_V_OK)
			snprintf(err, errlen,
				 "user database unreachable: %s:%s: TLS: Redis's certificate is "
				 "not accepted: %s",
				 r->host, r->port, X509_verify_cert_error_string(verify));
		else
			snprintf(err, errlen,
				 "user database unreachable: %s:%s: TLS handshake failed: %s",
				 r->host, r->port,
				 e && ERR_reason_error_string(e) ? ERR_reason_error_string(e)
								 : "connection closed");
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	return -ECONNREFUSED;
}

/* Creates the database's settings if missing: a random key for the stand-in
 * verifiers, and the default iteration count (the first user added sets it). */
static int settings_ensure(struct user_db_redis *r)
{
	unsigned char key[32];
	char iters[16];
	const char *argv[4] = {"HSETNX", KEY_SETTINGS, "fake_key", (const char *)key};
	size_t lens[4] = {6, sizeof(KEY_SETTINGS) - 1, 8, sizeof(key)};
	redisReply *reply;
	int rc = 0;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	reply = command_argv(r, 4, argv, lens);
	OPENSSL_cleanse(key, sizeof(key));
	if (!reply)
		return -ENOTCONN;
	if (is_readonly(r, reply))
		rc = -EROFS; /* a replica: dfsadm made the settings on the primary */
	else if (reply->type == REDIS_REPLY_ERROR)
		rc = -EACCES;
	freeReplyObject(reply);
	if (rc < 0)
		return rc;
	snprintf(iters, sizeof(iters), "%u", (unsigned)SCRAM_DEFAULT_ITERATIONS);
	{
		const char *a2[4] = {"HSETNX", KEY_SETTINGS, "iterations", iters};

		reply = command(r, 4, a2);
	}
	if (!reply)
		return -ENOTCONN;
	if (reply->type == REDIS_REPLY_ERROR)
		rc = -EACCES;
	freeReplyObject(reply);
	return rc;
}

/* Makes sure a connection is up (with AUTH and SELECT done). 0, -ENOTCONN
 * (unreachable, or failed within RETRY_AFTER_MS), -EACCES (refused). */
static int ensure(struct user_db_redis *r, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc;

	if (r->fd >= 0)
		return 0;
	if ((r->failed_at.tv_sec || r->failed_at.tv_nsec) &&
	    now_ms() - ((int64_t)r->failed_at.tv_sec * 1000 + r->failed_at.tv_nsec / 1000000) <
		RETRY_AFTER_MS) {
		snprintf(err, errlen, "%s", r->failure);
		return -ENOTCONN;
	}
	rc = getaddrinfo(r->host, r->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "user database unreachable: %s: %s", r->host,
			 gai_strerror(rc));
		rc = -ENOTCONN;
		goto out;
	}
	rc = -ENOTCONN;
	for (struct addrinfo *ai = res; ai && r->fd < 0; ai = ai->ai_next) {
		int fd = connect_addr(ai);

		if (fd >= 0)
			r->fd = fd;
		else
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->host,
				 r->port, strerror(-fd));
	}
	freeaddrinfo(res);
	if (r->fd < 0)
		goto out;
	r->lost[0] = '\0';
	r->replica = false; /* a replica may have been promoted meanwhile */
	if (r->tls && tls_start(r, err, errlen) < 0)
		goto out;
	r->reader = redisReaderCreate();
	if (!r->reader) {
		rc = -ENOMEM;
		goto out;
	}
	if (r->password[0]) {
		const char *argv[3] = {"AUTH", r->user[0] ? r->user : r->password, r->password};
		redisReply *reply = command(r, r->user[0] ? 3 : 2, argv);

		if (!reply)
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->host,
				 r->port, lost(r));
		else if (!reply_is(reply, "OK"))
			snprintf(err, errlen, "user database %s:%s refused the login: %s", r->host,
				 r->port,
				 reply->type == REDIS_REPLY_ERROR ? reply->str
								  : "unexpected reply");
		if (!reply || !reply_is(reply, "OK")) {
			rc = reply ? -EACCES : -ENOTCONN;
			freeReplyObject(reply);
			goto out;
		}
		freeReplyObject(reply);
	}
	if (r->dbnum) {
		char num[16];
		const char *argv[2] = {"SELECT", num};
		redisReply *reply;

		snprintf(num, sizeof(num), "%u", r->dbnum);
		reply = command(r, 2, argv);
		if (!reply || !reply_is(reply, "OK")) {
			snprintf(err, errlen, "user database %s:%s: cannot select database %u",
				 r->host, r->port, r->dbnum);
			rc = reply ? -EINVAL : -ENOTCONN;
			freeReplyObject(reply);
			goto out;
		}
		freeReplyObject(reply);
	}
	/* A server whose Redis user may not write reads the settings dfsadm made. */
	if (r->writable) {
		rc = settings_ensure(r);
		if (rc == -ENOTCONN) {
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->host,
				 r->port, lost(r));
			goto out;
		}
	} else if (r->tls && !r->password[0]) {
		/* TLS 1.3 reports a refused client certificate only at the first
		 * read: ask something now (any reply, even NOPERM, will do). */
		const char *argv[1] = {"PING"};
		redisReply *reply = command(r, 1, argv);

		if (!reply) {
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->host,
				 r->port, lost(r));
			goto out;
		}
		freeReplyObject(reply);
	}
	memset(&r->failed_at, 0, sizeof(r->failed_at));
	return 0;
out:
	disconnect(r);
	clock_gettime(CLOCK_MONOTONIC, &r->failed_at);
	snprintf(r->failure, sizeof(r->failure), "%s", err);
	return rc;
}

/* ensure for calls that have no caller to tell: logs each new reason it
 * fails for, and when the database is back. */
static int ensure_logged(struct user_db_redis *r)
{
	char err[512];
	int rc;

	err[0] = '\0';
	rc = ensure(r, err, sizeof(err));
	if (rc < 0 && err[0] && strcmp(err, r->logged) != 0) {
		log_warn("%s", err);
		snprintf(r->logged, sizeof(r->logged), "%s", err);
	} else if (rc == 0 && r->logged[0]) {
		log_info("user database %s:%s is reachable again", r->host, r->port);
		r->logged[0] = '\0';
	}
	return rc;
}

/* A handle for the primary named by r's primary option: r's settings with
 * the primary's address. */
static int open_primary(struct user_db_redis *r, char *err, size_t errlen)
{
	struct user_db_redis *p;
	int rc;

	p = malloc(sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*p = *r;
	memcpy(p->host, r->primary_host, sizeof(p->host));
	memcpy(p->port, r->primary_port, sizeof(p->port));
	p->primary_host[0] = '\0';
	rc = p->tls ? tls_setup(p, err, errlen) : 0;
	if (rc < 0) {
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
		return rc;
	}
	pthread_mutex_init(&p->lock, NULL);
	r->primary = p;
	return 0;
}

int user_db_redis_open(struct user_db_redis **out, const char *url, bool writable, char *err,
		       size_t errlen)
{
	struct user_db_redis *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->fd = -1;
	r->writable = writable;
	if (errlen)
		err[0] = '\0';
	rc = parse_url(r, url, err, errlen);
	if (rc < 0 && (!errlen || !err[0]))
		snprintf(err, errlen,
			 "invalid user database URL (redis://[USER:PASSWORD@]HOST:PORT[/DB] or "
			 "rediss://...)");
	/* Only writes go to the primary: a read-only handle needs none. */
	if (rc == 0 && writable && r->primary_host[0] &&
	    (strcmp(r->primary_host, r->host) != 0 || strcmp(r->primary_port, r->port) != 0))
		rc = open_primary(r, err, errlen);
	if (rc == 0 && r->tls)
		rc = tls_setup(r, err, errlen);
	if (rc < 0) {
		if (r->primary)
			user_db_redis_close(r->primary);
		if (r->ssl_ctx)
			SSL_CTX_free(r->ssl_ctx);
		OPENSSL_cleanse(r, sizeof(*r));
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void user_db_redis_close(struct user_db_redis *r)
{
	if (!r)
		return;
	if (r->primary)
		user_db_redis_close(r->primary);
	disconnect(r);
	if (r->ssl_ctx)
		SSL_CTX_free(r->ssl_ctx);
	pthread_mutex_destroy(&r->lock);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

int user_db_redis_ping(struct user_db_redis *r, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	memset(&r->failed_at, 0, sizeof(r->failed_at));
	rc = ensure(r, err, errlen);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void user_key(char out[sizeof(KEY_USER_PREFIX) + USER_MAX], const char *user)
{
	snprintf(out, sizeof(KEY_USER_PREFIX) + USER_MAX, "%s%s", KEY_USER_PREFIX, user);
}

/* Parses an unsigned decimal bulk string (NIL: def). */
static int reply_u64(const redisReply *e, uint64_t def, uint64_t *out)
{
	char buf[24], *end;

	*out = def;
	if (e->type == REDIS_REPLY_NIL)
		return 0;
	if (e->type != REDIS_REPLY_STRING || e->len == 0 || (size_t)e->len >= sizeof(buf))
		return -EBADMSG;
	memcpy(buf, e->str, (size_t)e->len);
	buf[e->len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return *end || errno || buf[0] < '0' || buf[0] > '9' ? -EBADMSG : 0;
}

/* Reads user's record with the lock held. 0, -ENOENT, -EBADMSG, -ENOTCONN. */
static int get_locked(struct user_db_redis *r, const char *user, struct scram_verifier *v,
		      struct user_quota *q)
{
	char key[sizeof(KEY_USER_PREFIX) + USER_MAX];
	const char *argv[8] = {"HMGET",	     key,	   "salt",	  "iterations",
			       "stored_key", "server_key", "quota_bytes", "quota_files"};
	redisReply *reply;
	uint64_t iterations;
	struct user_quota dummy;
	int rc;

	if (!q)
		q = &dummy;
	memset(v, 0, sizeof(*v));
	memset(q, 0, sizeof(*q));
	rc = ensure_logged(r);
	if (rc < 0)
		return rc;
	user_key(key, user);
	reply = command(r, 8, argv);
	if (!reply)
		return -ENOTCONN;
	rc = -EBADMSG;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6)
		goto out;
	if (reply->element[0]->type == REDIS_REPLY_NIL) {
		rc = -ENOENT;
		goto out;
	}
	if (reply->element[0]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0 ||
	    (size_t)reply->element[0]->len > SCRAM_SALT_MAX ||
	    reply->element[2]->type != REDIS_REPLY_STRING ||
	    reply->element[2]->len != SCRAM_KEY_LEN ||
	    reply->element[3]->type != REDIS_REPLY_STRING ||
	    reply->element[3]->len != SCRAM_KEY_LEN ||
	    reply_u64(reply->element[1], 0, &iterations) < 0 || iterations == 0 ||
	    iterations > UINT32_MAX || reply_u64(reply->element[4], 0, &q->bytes) < 0 ||
	    reply_u64(reply->element[5], 0, &q->files) < 0)
		goto out;
	memcpy(v->salt, reply->element[0]->str, (size_t)reply->element[0]->len);
	v->salt_len = (size_t)reply->element[0]->len;
	v->iterations = (uint32_t)iterations;
	memcpy(v->stored_key, reply->element[2]->str, SCRAM_KEY_LEN);
	memcpy(v->server_key, reply->element[3]->str, SCRAM_KEY_LEN);
	rc = 0;
out:
	freeReplyObject(reply);
	if (rc < 0)
		memset(v, 0, sizeof(*v));
	return rc;
}

int user_db_redis_get(struct user_db_redis *r, const char *user, struct scram_verifier *v,
		      struct user_quota *q)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = get_locked(r, user, v, q);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Runs a simple command whose reply is only checked for errors. */
static int simple(struct user_db_redis *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *reply = lens ? command_argv(r, argc, argv, lens) : command(r, argc, argv);
	int rc = 0;

	if (!reply)
		return -ENOTCONN;
	if (is_readonly(r, reply))
		rc = -EROFS;
	else if (reply->type == REDIS_REPLY_ERROR)
		rc = -EIO;
	freeReplyObject(reply);
	return rc;
}

/* Queues (inside MULTI) the HSET of v's fields. */
static int queue_verifier(struct user_db_redis *r, const char *key, const struct scram_verifier *v)
{
	char iters[16];
	const char *argv[10] = {"HSET",	      key,
				"salt",	      (const char *)v->salt,
				"iterations", iters,
				"stored_key", (const char *)v->stored_key,
				"server_key", (const char *)v->server_key};
	size_t lens[10] = {4,  strlen(key),   4,  v->salt_len,	10, 0,
			   10, SCRAM_KEY_LEN, 10, SCRAM_KEY_LEN};

	snprintf(iters, sizeof(iters), "%u", (unsigned)v->iterations);
	lens[5] = strlen(iters);
	return simple(r, 10, argv, lens);
}

/* EXEC: 1 when it ran, 0 when a watched key changed (retry), -errno. */
static int exec(struct user_db_redis *r, redisReply **out)
{
	const char *argv[1] = {"EXEC"};
	redisReply *reply = command(r, 1, argv);

	if (out)
		*out = NULL;
	if (!reply)
		return -ENOTCONN;
	if (reply->type == REDIS_REPLY_NIL) {
		freeReplyObject(reply);
		return 0;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(reply);
		return -EIO;
	}
	if (out)
		*out = reply;
	else
		freeReplyObject(reply);
	return 1;
}

/* Integer reply of a one-key command (EXISTS, SCARD). */
static int integer(struct user_db_redis *r, const char *cmd, const char *key, long long *out)
{
	const char *argv[2] = {cmd, key};
	redisReply *reply = command(r, 2, argv);

	if (!reply)
		return -ENOTCONN;
	if (reply->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(reply);
		return -EIO;
	}
	*out = reply->integer;
	freeReplyObject(reply);
	return 0;
}

static void unwatch(struct user_db_redis *r)
{
	const char *argv[1] = {"UNWATCH"};

	simple(r, 1, argv, NULL);
}

int user_db_redis_put(struct user_db_redis *r, const char *user, const struct scram_verifier *v,
		      bool replace)
{
	char key[sizeof(KEY_USER_PREFIX) + USER_MAX];
	const char *watch[4] = {"WATCH", key, KEY_USERS, KEY_SETTINGS};
	const char *multi[1] = {"MULTI"};
	const char *sadd[3] = {"SADD", KEY_USERS, user};
	int rc = -EAGAIN;

	if (!r->writable)
		return -EROFS;
	if (r->primary)
		return user_db_redis_put(r->primary, user, v, replace);
	user_key(key, user);
	pthread_mutex_lock(&r->lock);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		long long exists = 0, users = 1;

		rc = ensure_logged(r);
		if (rc == 0)
			rc = simple(r, 4, watch, NULL);
		if (rc == 0)
			rc = integer(r, "EXISTS", key, &exists);
		if (rc == 0)
			rc = integer(r, "SCARD", KEY_USERS, &users);
		if (rc < 0)
			break;
		if (!replace && exists) {
			unwatch(r);
			rc = -EEXIST;
			break;
		}
		rc = simple(r, 1, multi, NULL);
		if (rc == 0)
			rc = queue_verifier(r, key, v);
		if (rc == 0)
			rc = simple(r, 3, sadd, NULL);
		/* The first user's iteration count becomes the count for new users. */
		if (rc == 0 && !replace && users == 0) {
			char iters[16];
			const char *set[4] = {"HSET", KEY_SETTINGS, "iterations", iters};

			snprintf(iters, sizeof(iters), "%u", (unsigned)v->iterations);
			rc = simple(r, 4, set, NULL);
		}
		if (rc == 0) {
			rc = exec(r, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	if (rc < 0 && rc != -EEXIST && rc != -EAGAIN)
		disconnect(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int user_db_redis_delete(struct user_db_redis *r, const char *user)
{
	char key[sizeof(KEY_USER_PREFIX) + USER_MAX];
	const char *multi[1] = {"MULTI"}, *del[2] = {"DEL", key},
		   *srem[3] = {"SREM", KEY_USERS, user};
	redisReply *reply = NULL;
	int rc;

	if (!r->writable)
		return -EROFS;
	if (r->primary)
		return user_db_redis_delete(r->primary, user);
	user_key(key, user);
	pthread_mutex_lock(&r->lock);
	rc = ensure_logged(r);
	if (rc == 0)
		rc = simple(r, 1, multi, NULL);
	if (rc == 0)
		rc = simple(r, 2, del, NULL);
	if (rc == 0)
		rc = simple(r, 3, srem, NULL);
	if (rc == 0)
		rc = exec(r, &reply);
	if (rc == 1) {
		rc = reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_INTEGER &&
			     reply->element[0]->integer > 0
			 ? 0
			 : -ENOENT;
	} else if (rc == 0) {
		rc = -EIO;
	}
	freeReplyObject(reply);
	if (rc < 0 && rc != -ENOENT)
		disconnect(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int user_db_redis_each(struct user_db_redis *r, int (*fn)(const char *user, void *arg), void *arg)
{
	const char *argv[2] = {"SMEMBERS", KEY_USERS};
	char **names = NULL;
	redisReply *reply = NULL;
	size_t count = 0;
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = ensure_logged(r);
	if (rc == 0) {
		reply = command(r, 2, argv);
		rc = reply ? 0 : -ENOTCONN;
	}
	if (rc == 0 && reply->type != REDIS_REPLY_ARRAY)
		rc = -EIO;
	if (rc == 0) {
		names = calloc(reply->elements + 1, sizeof(*names));
		if (!names)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < reply->elements; i++) {
		const redisReply *e = reply->element[i];

		if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > USER_MAX)
			continue;
		names[count] = strndup(e->str, (size_t)e->len);
		if (!names[count])
			rc = -ENOMEM;
		else if (user_name_check(names[count], NULL) != 0)
			free(names[count]);
		else
			count++;
	}
	freeReplyObject(reply);
	pthread_mutex_unlock(&r->lock);
	/* fn runs with the lock released: it may itself use the database. */
	if (rc == 0)
		qsort(names, count, sizeof(*names), cmp_names);
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = fn(names[i], arg);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

static bool same_verifier(const struct scram_verifier *a, const struct scram_verifier *b)
{
	return a->salt_len == b->salt_len && a->iterations == b->iterations &&
	       CRYPTO_memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       CRYPTO_memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
	       CRYPTO_memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}

/* user_db_redis_change on r itself. */
static int change_here(struct user_db_redis *r, const char *user,
		       const unsigned char old_stored_key[SCRAM_KEY_LEN],
		       const struct scram_verifier *v)
{
	char key[sizeof(KEY_USER_PREFIX) + USER_MAX];
	const char *watch[2] = {"WATCH", key}, *multi[1] = {"MULTI"};
	struct scram_verifier cur;
	int rc = -EAGAIN;

	user_key(key, user);
	pthread_mutex_lock(&r->lock);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		rc = ensure_logged(r);
		if (rc == 0)
			rc = simple(r, 2, watch, NULL);
		if (rc == 0)
			rc = get_locked(r, user, &cur, NULL);
		if (rc < 0)
			break;
		if (same_verifier(&cur, v) ||
		    CRYPTO_memcmp(cur.stored_key, old_stored_key, SCRAM_KEY_LEN) != 0 ||
		    !r->writable || r->replica) {
			rc = same_verifier(&cur, v)	  ? 0
			     : !r->writable || r->replica ? -EROFS
							  : -ESTALE;
			unwatch(r);
			break;
		}
		rc = simple(r, 1, multi, NULL);
		if (rc == 0)
			rc = queue_verifier(r, key, v);
		if (rc == 0) {
			rc = exec(r, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	/* A replica refusing a queued write leaves the transaction open: start afresh. */
	if (rc == -ENOTCONN || rc == -EIO || rc == -EROFS)
		disconnect(r);
	if (rc == -ENOENT && r->fd >= 0)
		unwatch(r);
	pthread_mutex_unlock(&r->lock);
	OPENSSL_cleanse(&cur, sizeof(cur));
	return rc;
}

/* Waits, up to CATCH_UP_MS, until r (a replica) shows user's verifier v, so
 * that this server's next check of the session finds the new password. */
static void catch_up(struct user_db_redis *r, const char *user, const struct scram_verifier *v)
{
	const struct timespec pause = {0, 10 * 1000 * 1000};
	int64_t deadline = now_ms() + CATCH_UP_MS;
	struct scram_verifier cur;

	for (;;) {
		int rc;

		pthread_mutex_lock(&r->lock);
		rc = get_locked(r, user, &cur, NULL);
		pthread_mutex_unlock(&r->lock);
		if ((rc == 0 && same_verifier(&cur, v)) || (rc < 0 && rc != -ENOENT))
			break;
		if (now_ms() >= deadline) {
			log_warn("user database %s:%s has not received %s's new password from the "
				 "primary after %d ms",
				 r->host, r->port, user, CATCH_UP_MS);
			break;
		}
		nanosleep(&pause, NULL);
	}
	OPENSSL_cleanse(&cur, sizeof(cur));
}

int user_db_redis_change(struct user_db_redis *r, const char *user,
			 const unsigned char old_stored_key[SCRAM_KEY_LEN],
			 const struct scram_verifier *v)
{
	int rc;

	if (!r->primary)
		return change_here(r, user, old_stored_key, v);
	rc = change_here(r->primary, user, old_stored_key, v);
	if (rc == 0)
		catch_up(r, user, v);
	return rc;
}

int user_db_redis_settings(struct user_db_redis *r, struct user_db_settings *out)
{
	const char *argv[4] = {"HMGET", KEY_SETTINGS, "fake_key", "iterations"};
	redisReply *reply = NULL;
	uint64_t iterations;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	rc = ensure_logged(r);
	if (rc == 0) {
		reply = command(r, 4, argv);
		rc = reply ? 0 : -ENOTCONN;
	}
	if (rc == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2))
		rc = -EBADMSG;
	if (rc == 0 && reply->element[0]->type == REDIS_REPLY_NIL)
		rc = -ENOENT;
	if (rc == 0 && (reply->element[0]->type != REDIS_REPLY_STRING ||
			reply->element[0]->len != (int)sizeof(out->fake_key) ||
			reply_u64(reply->element[1], SCRAM_DEFAULT_ITERATIONS, &iterations) < 0))
		rc = -EBADMSG;
	if (rc == 0) {
		memcpy(out->fake_key, reply->element[0]->str, sizeof(out->fake_key));
		out->iterations =
		    iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS
			? SCRAM_DEFAULT_ITERATIONS
			: (uint32_t)iterations;
	}
	freeReplyObject(reply);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int user_db_redis_set_quota(struct user_db_redis *r, const char *user, const struct user_quota *q)
{
	char key[sizeof(KEY_USER_PREFIX) + USER_MAX], bytes[24], files[24];
	const char *watch[2] = {"WATCH", key}, *multi[1] = {"MULTI"};
	const char *set[6] = {"HSET", key, "quota_bytes", bytes, "quota_files", files};
	int rc = -EAGAIN;

	if (!r->writable)
		return -EROFS;
	if (r->primary)
		return user_db_redis_set_quota(r->primary, user, q);
	user_key(key, user);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)q->bytes);
	snprintf(files, sizeof(files), "%llu", (unsigned long long)q->files);
	pthread_mutex_lock(&r->lock);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		long long exists = 0;

		rc = ensure_logged(r);
		if (rc == 0)
			rc = simple(r, 2, watch, NULL);
		if (rc == 0)
			rc = integer(r, "EXISTS", key, &exists);
		if (rc < 0)
			break;
		if (!exists) {
			unwatch(r);
			rc = -ENOENT;
			break;
		}
		rc = simple(r, 1, multi, NULL);
		if (rc == 0)
			rc = simple(r, 6, set, NULL);
		if (rc == 0) {
			rc = exec(r, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	if (rc < 0 && rc != -ENOENT && rc != -EAGAIN)
		disconnect(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}
