/* users.h: the user database, an LMDB file holding one SCRAM verifier per user.
 * dfsadm writes it, and so do servers when a user changes their own password
 * (servers open it writable when they may); LMDB's lock file serialises
 * writers and keeps readers consistent across processes. */
#ifndef DFS_USERS_H
#define DFS_USERS_H

#include <stdbool.h>
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

#endif
