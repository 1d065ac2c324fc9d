/* users.h: the user database, holding one SCRAM verifier (and quota) per user.
 * Two backends behind one interface: an LMDB file (the default; LMDB's lock
 * file serialises writers and keeps readers consistent across processes), or
 * a Redis database named by a redis:// or rediss:// URL, shared by every
 * server (users_redis.c). dfsadm writes it, and so do servers when a user
 * changes their own password (servers open it writable when they may). */
#ifndef DFS_USERS_H
#define DFS_USERS_H

#include <stdbool.h>
#include <stdint.h>
#include "scram.h"

struct user_db;

/* Opens (writable: creates if missing, mode 0600) the database file at
 * path, or the Redis database at a redis[s]:// URL (checked here; connected
 * at first use, and again after a lost connection). 0, or -errno with the
 * reason in err. *out is NULL on failure. */
int user_db_open(struct user_db **out, const char *path, bool writable, char *err, size_t errlen);
void user_db_close(struct user_db *db);
/* Whether path names a Redis database (redis:// or rediss://). */
bool user_db_is_url(const char *path);
/* Connects now if the database is remote: 0, or -errno with the reason in
 * err (-ENOTCONN: unreachable). Always 0 for a file. */
int user_db_ping(struct user_db *db, char *err, size_t errlen);
/* The text for an error of these functions: -ENOTCONN is "user database
 * unreachable" (a Redis database that cannot be reached). */
const char *user_db_strerror(int err);
/* user_db_strerror for an error of db, for dfsadm: a write refused by a
 * Redis replica names the database and asks for the primary. The text is
 * kept in db until the next call. */
const char *user_db_error(struct user_db *db, int err);

/* 0 and *out filled, -ENOENT for an unknown user, other -errno on failure. */
int user_db_get(struct user_db *db, const char *user, struct scram_verifier *out);
/* Adds or replaces (replace = true) a user. -EEXIST if adding one that exists. */
int user_db_put(struct user_db *db, const char *user, const struct scram_verifier *v, bool replace);
/* -ENOENT if there was no such user. */
int user_db_delete(struct user_db *db, const char *user);
/* Calls fn for every user in name order; stops and returns fn's value if non-zero. */
int user_db_each(struct user_db *db, int (*fn)(const char *user, void *arg), void *arg);

/* Replaces user's verifier only if the current one is still the one whose
 * StoredKey is old_stored_key (a password change by a session that logged
 * in with it), in one transaction. 0 when changed, or when the current
 * verifier already is v (another server sharing the file stored the same
 * change; also answered by a read-only database); -ESTALE if the password
 * changed otherwise in between; -ENOENT if the user is gone; -EROFS. */
int user_db_change(struct user_db *db, const char *user,
		   const unsigned char old_stored_key[SCRAM_KEY_LEN],
		   const struct scram_verifier *v);

/* A user's limits: bytes of file data (the sum of the whole sizes of their
 * live files) and number of live files; 0 = no limit. */
struct user_quota {
	uint64_t bytes, files;
};
/* 0 and *out (zero for a user without a quota), -ENOENT for an unknown user,
 * other -errno. */
int user_db_quota(struct user_db *db, const char *user, struct user_quota *out);
/* Sets user's quota, keeping their verifier. -ENOENT for an unknown user,
 * -EROFS, other -errno. */
int user_db_set_quota(struct user_db *db, const char *user, const struct user_quota *q);
/* Parses a decimal count; with size, an optional suffix K, M, G or T
 * (powers of 1024; "KB", "KiB" read the same). 0, -EINVAL or -ERANGE. */
int user_quota_parse(const char *text, bool size, uint64_t *out);

/* The database's own settings, kept in it beside the users (under a key no
 * user name can take), so that every server reading the same file, or a
 * copy of it, agrees on them without any other shared secret:
 *   - a random 32-byte key for the stand-in verifiers of unknown users;
 *   - the iteration count for new users: the count of the first user added
 *     to the database (dfsadm add --iterations N on a new database sets it),
 *     or for a database written before these settings existed, the count
 *     most of its users have.
 * A writable open creates them when missing. */
struct user_db_settings {
	unsigned char fake_key[32];
	uint32_t iterations;
};
/* 0, -ENOENT if the database has no settings yet (an older one opened
 * read-only), or -errno. */
int user_db_settings(struct user_db *db, struct user_db_settings *out);

/* The stand-in verifier for user, who is not in the database: its salt is
 * derived from the user name with the database's key and its iteration
 * count is the database's count for new users, so it stays the same across
 * restarts and on every server sharing (or holding a copy of) the database,
 * like a real user's. Without settings (an older database only read here),
 * a key random to this process and the most common count among the users
 * stand in. 0 or -errno. */
int user_db_fake_verifier(struct user_db *db, const char *user, struct scram_verifier *out);

/* The Redis backend (users_redis.c), which the functions above use for a
 * database named by a URL; same contracts, and -ENOTCONN while Redis cannot
 * be reached. */
struct user_db_redis;
int user_db_redis_open(struct user_db_redis **out, const char *url, bool writable, char *err,
		       size_t errlen);
void user_db_redis_close(struct user_db_redis *r);
int user_db_redis_ping(struct user_db_redis *r, char *err, size_t errlen);
int user_db_redis_get(struct user_db_redis *r, const char *user, struct scram_verifier *v,
		      struct user_quota *q);
int user_db_redis_put(struct user_db_redis *r, const char *user, const struct scram_verifier *v,
		      bool replace);
int user_db_redis_delete(struct user_db_redis *r, const char *user);
int user_db_redis_each(struct user_db_redis *r, int (*fn)(const char *user, void *arg), void *arg);
int user_db_redis_change(struct user_db_redis *r, const char *user,
			 const unsigned char old_stored_key[SCRAM_KEY_LEN],
			 const struct scram_verifier *v);
int user_db_redis_settings(struct user_db_redis *r, struct user_db_settings *out);
int user_db_redis_set_quota(struct user_db_redis *r, const char *user, const struct user_quota *q);
/* "HOST:PORT" of the database when it refused a write as a read-only
 * replica, else NULL. */
const char *user_db_redis_replica(struct user_db_redis *r);

#endif
