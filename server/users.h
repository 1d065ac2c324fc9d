/* users.h: the user database, an LMDB file holding one SCRAM verifier per user.
 * dfsadm writes it, and so do servers when a user changes their own password
 * (servers open it writable when they may); LMDB's lock file serialises
 * writers and keeps readers consistent across processes. */
#ifndef DFS_USERS_H
#define DFS_USERS_H

#include <stdbool.h>
#include <stdint.h>
#include "scram.h"

struct user_db;

/* Opens (writable: creates if missing, mode 0600) the database file at
 * path. 0, or -errno with the reason in err. *out is NULL on failure. */
int user_db_open(struct user_db **out, const char *path, bool writable, char *err, size_t errlen);
void user_db_close(struct user_db *db);

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

#endif
