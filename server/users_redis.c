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
 * The connection (redis_conn.c) is held locked across each transaction. A
 * replica answers writes with READONLY; with a primary given in the URL,
 * writes go there and then wait until the local replica shows them, so
 * this host reads its own writes.
 */
#include "users.h"
#include "log.h"
#include "names.h"
#include "redis_conn.h"
#include "user_record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define WATCH_ATTEMPTS	  8
#define KEY_SETTINGS	  "dfs:settings"
#define KEY_USERS	  "dfs:users"
#define KEY_USER_PREFIX	  "dfs:user:"
#define USER_MAX	  64
#define CATCH_UP_MS	  2000 /* how long a write sent to the primary waits for the replica */
#define CATCH_UP_PAUSE_MS 10

struct user_db_redis {
	struct redis_conn *c;
	struct user_db_redis *primary; /* for redis_conn_primary(c), when given */
	bool writable;
};

bool user_db_is_url(const char *path)
{
	return path && (strncmp(path, "redis://", 8) == 0 || strncmp(path, "rediss://", 9) == 0);
}

/* Creates the database's settings if missing: a random key for the stand-in
 * verifiers, and the default iteration count (the first user added sets it). */
static int settings_ensure(struct redis_conn *c)
{
	unsigned char key[32];
	char iters[16];
	const char *argv[4] = {"HSETNX", KEY_SETTINGS, "fake_key", (const char *)key};
	size_t lens[4] = {6, sizeof(KEY_SETTINGS) - 1, 8, sizeof(key)};
	redisReply *reply;
	int rc = 0;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	reply = redis_conn_call(c, 4, argv, lens);
	OPENSSL_cleanse(key, sizeof(key));
	if (!reply)
		return -ENOTCONN;
	if (redis_conn_readonly(c, reply))
		rc = -EROFS; /* a replica: dfsadm made the settings on the primary */
	else if (reply->type == REDIS_REPLY_ERROR)
		rc = -EACCES;
	freeReplyObject(reply);
	if (rc < 0)
		return rc;
	snprintf(iters, sizeof(iters), "%u", (unsigned)SCRAM_DEFAULT_ITERATIONS);
	{
		const char *a2[4] = {"HSETNX", KEY_SETTINGS, "iterations", iters};

		reply = redis_conn_call(c, 4, a2, NULL);
	}
	if (!reply)
		return -ENOTCONN;
	if (reply->type == REDIS_REPLY_ERROR)
		rc = -EACCES;
	freeReplyObject(reply);
	return rc;
}

int user_db_redis_open(struct user_db_redis **out, const char *url, bool writable, char *err,
		       size_t errlen)
{
	struct user_db_redis *r;
	int rc;

	*out = NULL;
	r = calloc(2, sizeof(*r)); /* the second for the primary, if any */
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->writable = writable;
	rc = redis_conn_open(&r->c, url, writable, settings_ensure, err, errlen);
	if (rc < 0 && (!errlen || !err[0]))
		snprintf(err, errlen,
			 "invalid user database URL (redis://[USER:PASSWORD@]HOST:PORT[/DB] or "
			 "rediss://...)");
	if (rc < 0) {
		free(r);
		return rc;
	}
	if (redis_conn_primary(r->c)) {
		r->primary = r + 1;
		r->primary->c = redis_conn_primary(r->c);
		r->primary->writable = true;
	}
	*out = r;
	return 0;
}

void user_db_redis_close(struct user_db_redis *r)
{
	if (!r)
		return;
	redis_conn_close(r->c); /* and its primary's */
	free(r);
}

int user_db_redis_ping(struct user_db_redis *r, char *err, size_t errlen)
{
	int rc;

	redis_conn_lock(r->c);
	rc = redis_conn_connect(r->c, true, err, errlen);
	redis_conn_unlock(r->c);
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
	redisReply *reply, **e;
	uint64_t iterations;
	struct user_quota dummy;
	int rc;

	if (!q)
		q = &dummy;
	memset(v, 0, sizeof(*v));
	memset(q, 0, sizeof(*q));
	rc = redis_conn_connect_logged(r->c);
	if (rc < 0)
		return rc;
	user_key(key, user);
	reply = redis_conn_call(r->c, 8, argv, NULL);
	if (!reply)
		return -ENOTCONN;
	rc = -EBADMSG;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6)
		goto out;
	e = reply->element;
	if (e[0]->type == REDIS_REPLY_NIL) {
		rc = -ENOENT;
		goto out;
	}
	if (e[0]->type != REDIS_REPLY_STRING || e[2]->type != REDIS_REPLY_STRING ||
	    e[3]->type != REDIS_REPLY_STRING || reply_u64(e[1], 0, &iterations) < 0 ||
	    reply_u64(e[4], 0, &q->bytes) < 0 || reply_u64(e[5], 0, &q->files) < 0)
		goto out;
	rc = user_record_verifier(v, e[0]->str, (size_t)e[0]->len, iterations, e[2]->str,
				  (size_t)e[2]->len, e[3]->str, (size_t)e[3]->len);
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

	redis_conn_lock(r->c);
	rc = get_locked(r, user, v, q);
	redis_conn_unlock(r->c);
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
	return redis_conn_run(r->c, 10, argv, lens);
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
	redis_conn_lock(r->c);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		long long exists = 0, users = 1;

		rc = redis_conn_connect_logged(r->c);
		if (rc == 0)
			rc = redis_conn_run(r->c, 4, watch, NULL);
		if (rc == 0)
			rc = redis_conn_integer(r->c, "EXISTS", key, &exists);
		if (rc == 0)
			rc = redis_conn_integer(r->c, "SCARD", KEY_USERS, &users);
		if (rc < 0)
			break;
		if (!replace && exists) {
			redis_conn_unwatch(r->c);
			rc = -EEXIST;
			break;
		}
		rc = redis_conn_run(r->c, 1, multi, NULL);
		if (rc == 0)
			rc = queue_verifier(r, key, v);
		if (rc == 0)
			rc = redis_conn_run(r->c, 3, sadd, NULL);
		/* The first user's iteration count becomes the count for new users. */
		if (rc == 0 && !replace && users == 0) {
			char iters[16];
			const char *set[4] = {"HSET", KEY_SETTINGS, "iterations", iters};

			snprintf(iters, sizeof(iters), "%u", (unsigned)v->iterations);
			rc = redis_conn_run(r->c, 4, set, NULL);
		}
		if (rc == 0) {
			rc = redis_conn_exec(r->c, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	if (rc < 0 && rc != -EEXIST && rc != -EAGAIN)
		redis_conn_drop(r->c);
	redis_conn_unlock(r->c);
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
	redis_conn_lock(r->c);
	rc = redis_conn_connect_logged(r->c);
	if (rc == 0)
		rc = redis_conn_run(r->c, 1, multi, NULL);
	if (rc == 0)
		rc = redis_conn_run(r->c, 2, del, NULL);
	if (rc == 0)
		rc = redis_conn_run(r->c, 3, srem, NULL);
	if (rc == 0)
		rc = redis_conn_exec(r->c, &reply);
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
		redis_conn_drop(r->c);
	redis_conn_unlock(r->c);
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

	redis_conn_lock(r->c);
	rc = redis_conn_connect_logged(r->c);
	if (rc == 0) {
		reply = redis_conn_call(r->c, 2, argv, NULL);
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
	redis_conn_unlock(r->c);
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
	redis_conn_lock(r->c);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		rc = redis_conn_connect_logged(r->c);
		if (rc == 0)
			rc = redis_conn_run(r->c, 2, watch, NULL);
		if (rc == 0)
			rc = get_locked(r, user, &cur, NULL);
		if (rc < 0)
			break;
		if (user_record_same(&cur, v) ||
		    CRYPTO_memcmp(cur.stored_key, old_stored_key, SCRAM_KEY_LEN) != 0 ||
		    !r->writable || redis_conn_is_replica(r->c)) {
			rc = user_record_same(&cur, v)			   ? 0
			     : !r->writable || redis_conn_is_replica(r->c) ? -EROFS
									   : -ESTALE;
			redis_conn_unwatch(r->c);
			break;
		}
		rc = redis_conn_run(r->c, 1, multi, NULL);
		if (rc == 0)
			rc = queue_verifier(r, key, v);
		if (rc == 0) {
			rc = redis_conn_exec(r->c, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	/* A replica refusing a queued write leaves the transaction open: start afresh. */
	if (rc == -ENOTCONN || rc == -EIO || rc == -EROFS)
		redis_conn_drop(r->c);
	if (rc == -ENOENT && redis_conn_connected(r->c))
		redis_conn_unwatch(r->c);
	redis_conn_unlock(r->c);
	OPENSSL_cleanse(&cur, sizeof(cur));
	return rc;
}

/* Waits, up to CATCH_UP_MS, until r (a replica) shows user's verifier v, so
 * that this server's next check of the session finds the new password. */
static void catch_up(struct user_db_redis *r, const char *user, const struct scram_verifier *v)
{
	const struct timespec pause = {0, CATCH_UP_PAUSE_MS * 1000 * 1000};
	struct timespec start, now;
	struct scram_verifier cur;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int rc;

		redis_conn_lock(r->c);
		rc = get_locked(r, user, &cur, NULL);
		redis_conn_unlock(r->c);
		if ((rc == 0 && user_record_same(&cur, v)) || (rc < 0 && rc != -ENOENT))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
		    CATCH_UP_MS) {
			log_warn("user database %s has not received %s's new password from the "
				 "primary after %d ms",
				 redis_conn_where(r->c), user, CATCH_UP_MS);
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
	redis_conn_lock(r->c);
	rc = redis_conn_connect_logged(r->c);
	if (rc == 0) {
		reply = redis_conn_call(r->c, 4, argv, NULL);
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
		out->iterations = user_record_settings_iterations(iterations);
	}
	freeReplyObject(reply);
	redis_conn_unlock(r->c);
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
	redis_conn_lock(r->c);
	for (int attempt = 0; attempt < WATCH_ATTEMPTS && rc == -EAGAIN; attempt++) {
		long long exists = 0;

		rc = redis_conn_connect_logged(r->c);
		if (rc == 0)
			rc = redis_conn_run(r->c, 2, watch, NULL);
		if (rc == 0)
			rc = redis_conn_integer(r->c, "EXISTS", key, &exists);
		if (rc < 0)
			break;
		if (!exists) {
			redis_conn_unwatch(r->c);
			rc = -ENOENT;
			break;
		}
		rc = redis_conn_run(r->c, 1, multi, NULL);
		if (rc == 0)
			rc = redis_conn_run(r->c, 6, set, NULL);
		if (rc == 0) {
			rc = redis_conn_exec(r->c, NULL);
			rc = rc == 0 ? -EAGAIN : rc < 0 ? rc : 0;
		}
	}
	if (rc < 0 && rc != -ENOENT && rc != -EAGAIN)
		redis_conn_drop(r->c);
	redis_conn_unlock(r->c);
	return rc;
}

const char *user_db_redis_replica(struct user_db_redis *r)
{
	return redis_conn_is_replica(r->c) ? redis_conn_where(r->c) : NULL;
}
