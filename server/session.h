/* session.h: login exchanges in progress, session tokens, and the
 * rate limit on failed logins. All functions are thread-safe. */
#ifndef DFS_SESSION_H
#define DFS_SESSION_H

#include <stdint.h>
#include <sys/socket.h>
#include "scram.h"

#define SESSION_TOKEN_LEN 32

struct sessions;

/* ttl_s: session lifetime. max_sessions, max_logins: table bounds. */
int sessions_new(struct sessions **out, unsigned ttl_s, unsigned max_sessions, unsigned max_logins);
void sessions_free(struct sessions *s);

/* Stores a SCRAM exchange between its two calls; returns its id in *id.
 * -EAGAIN when too many are pending (the oldest expire after 30 s). */
int sessions_login_store(struct sessions *s, const struct scram_server *st, uint64_t *id);
/* Takes (and removes) a stored exchange. -ENOENT if unknown or expired. */
int sessions_login_take(struct sessions *s, uint64_t id, struct scram_server *out);

/* Creates a session for user (1..64 bytes) with a fresh random token; *expires
 * (may be NULL) gets its end in unix seconds. -EAGAIN when max_sessions are
 * live (expired ones are dropped first). */
int sessions_create(struct sessions *s, const char *user, unsigned char token[SESSION_TOKEN_LEN],
		    int64_t *expires);
/* 0 and the user name (cap bytes), -EKEYEXPIRED if expired (on every use until
 * the slot is reused), -EACCES if unknown. */
int sessions_check(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		   size_t cap);
void sessions_end(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN]);
/* Ends every session of user (the user was removed). */
void sessions_end_user(struct sessions *s, const char *user);

/* Failed-login throttle, per user and per client address: after 5 failures
 * a delay doubling from 1 s up to 5 min, reset by a success. Returns 0 if an
 * attempt may proceed now, or -EAGAIN with *retry_s set. Addresses are keyed
 * without the port (IPv4-mapped IPv6 counts as IPv4); other families and a
 * NULL addr are throttled by user only. At most 4096 keys are remembered; the
 * least recently failed one is forgotten first. */
int sessions_throttle_check(struct sessions *s, const char *user, const struct sockaddr *addr,
			    unsigned *retry_s);
void sessions_throttle_record(struct sessions *s, const char *user, const struct sockaddr *addr,
			      int success);

/* For tests: moves this table's clock (expiry, throttle and the reported
 * expiry time) forward by seconds, instead of sleeping. */
void sessions_advance_clock(struct sessions *s, int64_t seconds);

#endif
