/* session.h: login exchanges in progress, session tokens, and the throttle
 * on login attempts. All functions are thread-safe.
 *
 * Every bound evicts rather than refuses, so that no client can fill a table
 * for the others: a new pending login replaces the oldest of its connection,
 * then of its address, then of the server; a new session replaces the oldest
 * of its user, then of the server. What an address can be refused is its own
 * login attempts, by the throttle.
 *
 * Client addresses are grouped as the limits count them: an IPv4 address
 * alone (IPv4-mapped IPv6 counts as IPv4), an IPv6 address by its /64 prefix
 * (one host or network usually holds a whole /64). */
#ifndef DFS_SESSION_H
#define DFS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "scram.h"

#define SESSION_TOKEN_LEN 32

/* Defaults of struct sessions_limits. */
#define SESSIONS_PER_USER	    64
#define SESSIONS_LOGINS_PER_ADDRESS 32
#define SESSIONS_LOGINS_PER_CONN    4

struct sessions;

struct sessions_limits {
	unsigned ttl_s;		      /* session lifetime, 1 s .. 1 year */
	unsigned max_sessions;	      /* all users together */
	unsigned max_per_user;	      /* sessions of one user */
	unsigned max_logins;	      /* pending login exchanges, all clients together */
	unsigned max_logins_per_addr; /* pending logins of one address group */
	unsigned max_logins_per_conn; /* pending logins of one connection */
};

/* A table with the given limits (each 1 or more; the per-user, per-address
 * and per-connection ones at most the totals). 0, -EINVAL or -ENOMEM. */
int sessions_new_limits(struct sessions **out, const struct sessions_limits *lim);
/* sessions_new_limits with the default per-user, per-address and
 * per-connection bounds (capped at the totals). */
int sessions_new(struct sessions **out, unsigned ttl_s, unsigned max_sessions, unsigned max_logins);
void sessions_free(struct sessions *s);

/* Where a login comes from. */
struct login_origin {
	const struct sockaddr *addr; /* the client's address (port ignored); may be NULL */
	uint64_t conn;		     /* the connection, as numbered by the server */
};

/* Starts a login attempt for st->user: admits it by the throttle, then
 * stores the SCRAM exchange between its two calls and returns its id in
 * *id. -EAGAIN with *retry_s (seconds until an attempt may succeed) when the
 * throttle refuses it; -EIO if no random id could be drawn.
 *
 * Throttle: attempts are counted per (user, address group) and per address
 * group, never per user alone, so guesses from elsewhere cannot lock a user
 * out from their own address. An attempt counts from its start until it
 * succeeds: failed, abandoned and evicted attempts count as failures, and
 * attempts still in flight count too, so pipelined guesses are bounded. For
 * each counter, after FREE failures a delay doubling from 1 s up to 5 min
 * applies before the next attempt; and once failures plus attempts in flight
 * reach BURST, only one attempt at a time is admitted. (user, address):
 * FREE 5, BURST 16; address: FREE 20, BURST 64. A success clears the
 * (user, address) counter and halves the address's failures. At most 4096
 * counters are remembered (the least recently used idle one is forgotten
 * first), and one idle for an hour is forgotten. */
int sessions_login_begin(struct sessions *s, const struct scram_server *st,
			 const struct login_origin *o, uint64_t *id, unsigned *retry_s);
/* Takes (and removes) the exchange with this id begun on connection conn;
 * the attempt stays in flight until sessions_login_done. -ENOENT if unknown,
 * begun on another connection, or expired (30 s) or evicted. */
int sessions_login_take(struct sessions *s, uint64_t id, uint64_t conn, struct scram_server *out);
/* Ends a taken attempt of user from addr, as a success or a failure. */
void sessions_login_done(struct sessions *s, const char *user, const struct sockaddr *addr,
			 bool success);

/* Creates a session for user (1..64 bytes) with a fresh random token,
 * remembering verifier_key (may be NULL: 32 zero bytes), the StoredKey of
 * the verifier the user logged in with. *expires (may be NULL) gets its end
 * in unix seconds. When the user already has max_per_user sessions, their
 * oldest ends; when the table is full, expired sessions are dropped, then
 * the oldest session of all ends. 0, -EINVAL or -EIO. */
int sessions_create_key(struct sessions *s, const char *user,
			const unsigned char verifier_key[SCRAM_KEY_LEN],
			unsigned char token[SESSION_TOKEN_LEN], int64_t *expires);
/* A session for user opened by server peer (1..64) on the user's behalf:
 * no password proved it, so a password change does not end it. */
int sessions_create_peer(struct sessions *s, const char *user, unsigned peer,
			 unsigned char token[SESSION_TOKEN_LEN], int64_t *expires);
/* sessions_create_key without a verifier key. */
int sessions_create(struct sessions *s, const char *user, unsigned char token[SESSION_TOKEN_LEN],
		    int64_t *expires);
/* 0 with the user name (cap bytes) and, if verifier_key is not NULL, the
 * session's verifier key; -EKEYEXPIRED if expired (on every use until the
 * slot is reused), -EACCES if unknown, -ENOSPC if cap is too small. */
int sessions_lookup(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		    size_t cap, unsigned char verifier_key[SCRAM_KEY_LEN]);
/* sessions_lookup, also giving the server that opened the session (0: its user). */
int sessions_lookup_peer(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN],
			 char *user, size_t cap, unsigned char verifier_key[SCRAM_KEY_LEN],
			 unsigned *peer);
/* sessions_lookup without the verifier key. */
int sessions_check(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		   size_t cap);
/* Gives a live session a new verifier key (its user changed the password
 * through it). 0 or -EACCES if the token is unknown. */
int sessions_rekey(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN],
		   const unsigned char verifier_key[SCRAM_KEY_LEN]);
void sessions_end(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN]);
/* Ends every session of user (the user was removed). */
void sessions_end_user(struct sessions *s, const char *user);
/* Ends every session of user whose verifier key differs from
 * verifier_key (the password changed); returns how many ended. */
unsigned sessions_end_stale(struct sessions *s, const char *user,
			    const unsigned char verifier_key[SCRAM_KEY_LEN]);
/* Live (unexpired) sessions of user, for tests and metrics. */
unsigned sessions_count_user(struct sessions *s, const char *user);
/* Live (unexpired) sessions of all users, for metrics. */
unsigned sessions_count(struct sessions *s);

/* The address group of addr as the limits count it: 4 bytes for IPv4, the
 * first 8 bytes (the /64) for IPv6; its length, or 0 for other families
 * and NULL. key must hold 16 bytes. */
size_t sessions_addr_group(const struct sockaddr *addr, unsigned char key[16]);

/* For tests: moves this table's clock (expiry, throttle and the reported
 * expiry time) forward by seconds, instead of sleeping. */
void sessions_advance_clock(struct sessions *s, int64_t seconds);

#endif
