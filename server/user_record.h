/* user_record.h: a user's record as both user database backends hold it
 * (users.c in LMDB, users_redis.c in Redis), checked the same way. */
#ifndef DFS_USER_RECORD_H
#define DFS_USER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "scram.h"

/* Fills *v from a stored record's fields, checking them: a salt of 1 to
 * SCRAM_SALT_MAX bytes, 1 to SCRAM_MAX_ITERATIONS iterations, and keys of
 * SCRAM_KEY_LEN bytes. 0, or -EBADMSG with *v zeroed. */
int user_record_verifier(struct scram_verifier *v, const void *salt, size_t salt_len,
			 uint64_t iterations, const void *stored_key, size_t stored_len,
			 const void *server_key, size_t server_len);
/* The iteration count for new users kept in the database's settings, or
 * SCRAM_DEFAULT_ITERATIONS when it is outside SCRAM_MIN_ITERATIONS to
 * SCRAM_MAX_ITERATIONS. */
uint32_t user_record_settings_iterations(uint64_t stored);
/* Whether a and b are the same verifier (in constant time over the keys). */
bool user_record_same(const struct scram_verifier *a, const struct scram_verifier *b);

#endif
