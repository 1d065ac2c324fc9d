/* redis_conn.c: one connection to Redis for the user database: connecting
 * with timeouts, TLS, RESP commands and replies, reconnection after a
 * failure, AUTH and SELECT, and noticing a read-only replica.
 *
 * One connection per handle, guarded by a mutex that callers hold across a
 * transaction. A lost connection is dropped and made again at the next
 * call; calls fail with -ENOTCONN meanwhile, and at once for RETRY_AFTER_MS
 * after a failed connect.
 *
 * With primary=HOST:PORT in the URL, a writable handle also gets a handle
 * for the primary (same credentials and TLS settings), where writes go.
 */
#include "redis_conn.h"
#include "log.h"
#include "redis_net.h"
#include "redis_url.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define TIMEOUT_MS     2000
#define RETRY_AFTER_MS 1000 /* after a failed connect, calls fail at once this long */

struct redis_conn {
	pthread_mutex_t lock;
	struct redis_url u;
	char where[REDIS_URL_PART_MAX + 20]; /* HOST:PORT */
	bool writable;
	bool replica;		    /* it answered a write with READONLY */
	struct redis_conn *primary; /* where writes go, when given */
	redis_conn_setup_fn setup;
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

void redis_conn_drop(struct redis_conn *r)
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

/* Notes why TLS failed (e.g. Redis wants a client certificate). */
static void note_tls_error(struct redis_conn *r)
{
	const char *why = ERR_reason_error_string(ERR_peek_last_error());

	if (why)
		snprintf(r->lost, sizeof(r->lost), "TLS: %s", why);
	ERR_clear_error();
}

/* Why the connection was lost, when the first commands on it fail. */
const char *redis_conn_lost(struct redis_conn *r)
{
	/* Under TLS 1.3 Redis refuses a missing client certificate after the
	 * handshake: often all that is seen is a reset connection. */
	if (r->u.tls && !r->u.cert[0]) {
		size_t n = strlen(r->lost);

		snprintf(r->lost + n, sizeof(r->lost) - n,
			 "%sconnection closed (if Redis asks for a client certificate, give "
			 "cert= and key=)",
			 n ? ", " : "");
	}
	return r->lost[0] ? r->lost : "connection lost";
}

static int send_all(struct redis_conn *r, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (r->ssl) {
			int w =
			    redis_tls_write(r->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);

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
static redisReply *read_reply(struct redis_conn *r)
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
	redis_conn_drop(r);
	return NULL;
}

redisReply *redis_conn_call(struct redis_conn *r, int argc, const char **argv, const size_t *lens)
{
	size_t own[16];
	char *cmd = NULL;
	int len;

	if (r->fd < 0 || (!lens && argc > 16))
		return NULL;
	if (!lens) {
		for (int i = 0; i < argc; i++)
			own[i] = strlen(argv[i]);
		lens = own;
	}
	len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (len < 0)
		return NULL;
	if (send_all(r, cmd, (size_t)len) < 0) {
		redisFreeCommand(cmd);
		redis_conn_drop(r);
		return NULL;
	}
	redisFreeCommand(cmd);
	return read_reply(r);
}

/* Whether reply is a status or bulk string equal to s. */
bool redis_reply_is(const redisReply *reply, const char *s)
{
	return reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) &&
	       (size_t)reply->len == strlen(s) && memcmp(reply->str, s, (size_t)reply->len) == 0;
}

int redis_conn_run(struct redis_conn *c, int argc, const char **argv, const size_t *lens)
{
	redisReply *reply = redis_conn_call(c, argc, argv, lens);
	int rc = 0;

	if (!reply)
		return -ENOTCONN;
	if (redis_conn_readonly(c, reply))
		rc = -EROFS;
	else if (reply->type == REDIS_REPLY_ERROR)
		rc = -EIO;
	freeReplyObject(reply);
	return rc;
}

int redis_conn_exec(struct redis_conn *c, redisReply **out)
{
	const char *argv[1] = {"EXEC"};
	redisReply *reply = redis_conn_call(c, 1, argv, NULL);

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

int redis_conn_integer(struct redis_conn *c, const char *cmd, const char *key, long long *out)
{
	const char *argv[2] = {cmd, key};
	redisReply *reply = redis_conn_call(c, 2, argv, NULL);

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

void redis_conn_unwatch(struct redis_conn *c)
{
	const char *argv[1] = {"UNWATCH"};

	redis_conn_run(c, 1, argv, NULL);
}

/* Whether reply is a replica's refusal to write; remembers that r is a replica. */
bool redis_conn_readonly(struct redis_conn *r, const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "READONLY", 8) != 0)
		return false;
	r->replica = true;
	return true;
}

int redis_conn_connect(struct redis_conn *r, bool now, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc;

	if (now)
		memset(&r->failed_at, 0, sizeof(r->failed_at));
	if (r->fd >= 0)
		return 0;
	if ((r->failed_at.tv_sec || r->failed_at.tv_nsec) &&
	    now_ms() - ((int64_t)r->failed_at.tv_sec * 1000 + r->failed_at.tv_nsec / 1000000) <
		RETRY_AFTER_MS) {
		snprintf(err, errlen, "%s", r->failure);
		return -ENOTCONN;
	}
	rc = getaddrinfo(r->u.host, r->u.port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "user database unreachable: %s: %s", r->u.host,
			 gai_strerror(rc));
		rc = -ENOTCONN;
		goto out;
	}
	rc = -ENOTCONN;
	for (struct addrinfo *ai = res; ai && r->fd < 0; ai = ai->ai_next) {
		int fd = redis_net_connect(ai, TIMEOUT_MS);

		if (fd >= 0)
			r->fd = fd;
		else
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->u.host,
				 r->u.port, strerror(-fd));
	}
	freeaddrinfo(res);
	if (r->fd < 0)
		goto out;
	r->lost[0] = '\0';
	r->replica = false; /* a replica may have been promoted meanwhile */
	if (r->u.tls && redis_tls_start(&r->ssl, r->ssl_ctx, r->fd, &r->u, err, errlen) < 0)
		goto out;
	r->reader = redisReaderCreate();
	if (!r->reader) {
		rc = -ENOMEM;
		goto out;
	}
	if (r->u.password[0]) {
		const char *argv[3] = {"AUTH", r->u.user[0] ? r->u.user : r->u.password,
				       r->u.password};
		redisReply *reply = redis_conn_call(r, r->u.user[0] ? 3 : 2, argv, NULL);

		if (!reply)
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->u.host,
				 r->u.port, redis_conn_lost(r));
		else if (!redis_reply_is(reply, "OK"))
			snprintf(err, errlen, "user database %s:%s refused the login: %s",
				 r->u.host, r->u.port,
				 reply->type == REDIS_REPLY_ERROR ? reply->str
								  : "unexpected reply");
		if (!reply || !redis_reply_is(reply, "OK")) {
			rc = reply ? -EACCES : -ENOTCONN;
			freeReplyObject(reply);
			goto out;
		}
		freeReplyObject(reply);
	}
	if (r->u.dbnum) {
		char num[16];
		const char *argv[2] = {"SELECT", num};
		redisReply *reply;

		snprintf(num, sizeof(num), "%u", r->u.dbnum);
		reply = redis_conn_call(r, 2, argv, NULL);
		if (!reply || !redis_reply_is(reply, "OK")) {
			snprintf(err, errlen, "user database %s:%s: cannot select database %u",
				 r->u.host, r->u.port, r->u.dbnum);
			rc = reply ? -EINVAL : -ENOTCONN;
			freeReplyObject(reply);
			goto out;
		}
		freeReplyObject(reply);
	}
	/* A server whose Redis user may not write reads the settings dfsadm made. */
	if (r->writable && r->setup) {
		rc = r->setup(r);
		if (rc == -ENOTCONN) {
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->u.host,
				 r->u.port, redis_conn_lost(r));
			goto out;
		}
	} else if (r->u.tls && !r->u.password[0]) {
		/* TLS 1.3 reports a refused client certificate only at the first
		 * read: ask something now (any reply, even NOPERM, will do). */
		const char *argv[1] = {"PING"};
		redisReply *reply = redis_conn_call(r, 1, argv, NULL);

		if (!reply) {
			snprintf(err, errlen, "user database unreachable: %s:%s: %s", r->u.host,
				 r->u.port, redis_conn_lost(r));
			goto out;
		}
		freeReplyObject(reply);
	}
	memset(&r->failed_at, 0, sizeof(r->failed_at));
	return 0;
out:
	redis_conn_drop(r);
	clock_gettime(CLOCK_MONOTONIC, &r->failed_at);
	snprintf(r->failure, sizeof(r->failure), "%s", err);
	return rc;
}

int redis_conn_connect_logged(struct redis_conn *r)
{
	char err[512];
	int rc;

	err[0] = '\0';
	rc = redis_conn_connect(r, false, err, sizeof(err));
	if (rc < 0 && err[0] && strcmp(err, r->logged) != 0) {
		log_warn("%s", err);
		snprintf(r->logged, sizeof(r->logged), "%s", err);
	} else if (rc == 0 && r->logged[0]) {
		log_info("user database %s:%s is reachable again", r->u.host, r->u.port);
		r->logged[0] = '\0';
	}
	return rc;
}

/* A handle for the primary named by r's primary option: r's settings with
 * the primary's address. */
static int open_primary(struct redis_conn *r, char *err, size_t errlen)
{
	struct redis_conn *p;
	int rc;

	p = malloc(sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*p = *r;
	memcpy(p->u.host, r->u.primary_host, sizeof(p->u.host));
	memcpy(p->u.port, r->u.primary_port, sizeof(p->u.port));
	p->u.primary_host[0] = '\0';
	snprintf(p->where, sizeof(p->where), "%s:%s", p->u.host, p->u.port);
	rc = p->u.tls ? redis_tls_context(&p->ssl_ctx, &p->u, err, errlen) : 0;
	if (rc < 0) {
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
		return rc;
	}
	pthread_mutex_init(&p->lock, NULL);
	r->primary = p;
	return 0;
}

int redis_conn_open(struct redis_conn **out, const char *url, bool writable,
		    redis_conn_setup_fn setup, char *err, size_t errlen)
{
	struct redis_conn *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->fd = -1;
	r->writable = writable;
	r->setup = setup;
	rc = redis_url_parse(&r->u, url, err, errlen);
	if (rc < 0 && (!errlen || !err[0]))
		snprintf(err, errlen,
			 "invalid user database URL (redis://[USER:PASSWORD@]HOST:PORT[/DB] or "
			 "rediss://...)");
	/* Only writes go to the primary: a read-only handle needs none. */
	if (rc == 0 && writable && r->u.primary_host[0] &&
	    (strcmp(r->u.primary_host, r->u.host) != 0 ||
	     strcmp(r->u.primary_port, r->u.port) != 0))
		rc = open_primary(r, err, errlen);
	if (rc == 0 && r->u.tls)
		rc = redis_tls_context(&r->ssl_ctx, &r->u, err, errlen);
	snprintf(r->where, sizeof(r->where), "%s:%s", r->u.host, r->u.port);
	if (rc < 0) {
		if (r->primary)
			redis_conn_close(r->primary);
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

void redis_conn_close(struct redis_conn *r)
{
	if (!r)
		return;
	if (r->primary)
		redis_conn_close(r->primary);
	redis_conn_drop(r);
	if (r->ssl_ctx)
		SSL_CTX_free(r->ssl_ctx);
	pthread_mutex_destroy(&r->lock);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

struct redis_conn *redis_conn_primary(struct redis_conn *c)
{
	return c->primary;
}

bool redis_conn_is_replica(const struct redis_conn *c)
{
	return c->replica;
}

const char *redis_conn_where(const struct redis_conn *c)
{
	return c->where;
}

const char *redis_conn_error(const struct redis_conn *c)
{
	return c->failed_at.tv_sec || c->failed_at.tv_nsec ? c->failure : "";
}

bool redis_conn_connected(const struct redis_conn *c)
{
	return c->fd >= 0;
}

void redis_conn_lock(struct redis_conn *c)
{
	pthread_mutex_lock(&c->lock);
}

void redis_conn_unlock(struct redis_conn *c)
{
	pthread_mutex_unlock(&c->lock);
}
