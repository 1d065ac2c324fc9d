/* redis_conn.h: one connection to a Redis database named by a redis:// or
 * rediss:// URL, for the Redis user database (users_redis.c). Speaks RESP
 * through hiredis's reader over a socket of its own (and OpenSSL for
 * rediss://), so that both have the same timeouts. A lost connection is
 * dropped and made again at the next call. */
#ifndef DFS_REDIS_CONN_H
#define DFS_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct redis_conn;

/* Called on every new connection (after AUTH and SELECT) of a writable
 * handle: 0, -ENOTCONN (the connection was lost), or another -errno, which
 * is noted but does not fail the connection. */
typedef int (*redis_conn_setup_fn)(struct redis_conn *c);

/* Parses url (redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB][?ca=&cert=&key=&
 * primary=]) and prepares TLS; connects at first use. For a writable
 * handle whose URL names a primary elsewhere, also a handle for the
 * primary (redis_conn_primary). 0, or -errno with the reason in err; *out
 * is NULL on failure. Free with redis_conn_close. */
int redis_conn_open(struct redis_conn **out, const char *url, bool writable,
		    redis_conn_setup_fn setup, char *err, size_t errlen);
void redis_conn_close(struct redis_conn *c);
/* The handle for the primary= given in the URL, or NULL. */
struct redis_conn *redis_conn_primary(struct redis_conn *c);
/* Whether Redis answered a write with READONLY on this connection. */
bool redis_conn_is_replica(const struct redis_conn *c);
/* "HOST:PORT" of the database. */
const char *redis_conn_where(const struct redis_conn *c);
/* Why the last connect failed ("" if it did not). */
const char *redis_conn_error(const struct redis_conn *c);

/* Serialise a series of calls (a transaction) on one handle. */
void redis_conn_lock(struct redis_conn *c);
void redis_conn_unlock(struct redis_conn *c);

/* Makes sure the connection is up (with AUTH and SELECT done). 0, -ENOTCONN
 * (unreachable, or failed within the last second), -EACCES (refused), with
 * the reason in err. now forgets a recent failure and tries at once. */
int redis_conn_connect(struct redis_conn *c, bool now, char *err, size_t errlen);
/* redis_conn_connect for calls that have no caller to tell: logs each new
 * reason it fails for, and when the database is back. */
int redis_conn_connect_logged(struct redis_conn *c);
/* Drops the connection (the next call makes a new one). */
void redis_conn_drop(struct redis_conn *c);
bool redis_conn_connected(const struct redis_conn *c);

/* Sends one command and reads its reply (free with freeReplyObject); NULL
 * when the connection failed (it is then dropped). lens may be NULL for
 * NUL-terminated arguments (at most 16). */
redisReply *redis_conn_call(struct redis_conn *c, int argc, const char **argv, const size_t *lens);
/* Runs a command whose reply is only checked: 0, -ENOTCONN, -EROFS (a
 * replica refused it), -EIO (another error). */
int redis_conn_run(struct redis_conn *c, int argc, const char **argv, const size_t *lens);
/* EXEC: 1 when it ran (*out, if not NULL, gets its reply), 0 when a
 * watched key changed (retry), -errno. */
int redis_conn_exec(struct redis_conn *c, redisReply **out);
/* The integer reply of a one-key command (EXISTS, SCARD): 0 or -errno. */
int redis_conn_integer(struct redis_conn *c, const char *cmd, const char *key, long long *out);
/* Ends a WATCH that leads to no transaction. */
void redis_conn_unwatch(struct redis_conn *c);
/* Whether reply is a replica's refusal to write; remembers that c is a replica. */
bool redis_conn_readonly(struct redis_conn *c, const redisReply *reply);
/* Whether reply is a status or bulk string equal to s. */
bool redis_reply_is(const redisReply *reply, const char *s);
/* Why the connection was lost, when the first commands on it fail. */
const char *redis_conn_lost(struct redis_conn *c);

#endif
