/* scram.h: SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding ("n,,").
 *
 * Client:  scram_client_first -> [server-first] -> scram_client_parse_server_first
 *          -> scram_salted_password (once per login, cached by salt+iterations)
 *          -> scram_client_final -> [server-final] -> scram_client_check_server
 * Server:  scram_server_parse_first -> (look up the verifier) -> scram_server_first
 *          -> [client-final] -> scram_server_final
 * Messages are the RFC's text, not NUL-terminated on the wire; functions that
 * write one also NUL-terminate it in out (so cap must exceed the length).
 *
 * Simplifications of RFC 5802: no SASLprep normalization. User names follow
 * the dfs rule [A-Za-z0-9._-]{1,64}, not starting with '.'; passwords are
 * 1..1023 bytes of printable ASCII (space included), used as they are. The
 * gs2 header must be exactly "n,," (no channel binding, no authzid): "y" and
 * "p=" are refused with -EPROTO, as are extensions and the "m=" attribute.
 * Every message must be shorter than SCRAM_MSG_MAX and contain no NUL. */
#ifndef DFS_SCRAM_H
#define DFS_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN		 32 /* SHA-256 */
#define SCRAM_SALT_MAX		 64
#define SCRAM_NONCE_LEN		 24   /* random bytes, sent base64-encoded */
#define SCRAM_MSG_MAX		 1024 /* matches DFS_SCRAM_MAX */
#define SCRAM_DEFAULT_ITERATIONS 600000
#define SCRAM_MIN_ITERATIONS	 4096
/* The most a client computes for one login (about a second of PBKDF2 on a
 * current core), so a hostile server cannot make it spin for minutes; the
 * servers and dfsadm store no verifier above it. */
#define SCRAM_MAX_ITERATIONS 2000000

/* What a server stores for a user: never the password. */
struct scram_verifier {
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint32_t iterations;
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
};

/* SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, iterations). 0 or -errno. */
int scram_salted_password(const char *password, const unsigned char *salt, size_t salt_len,
			  uint32_t iterations, unsigned char out[SCRAM_KEY_LEN]);

/* A new verifier with a fresh 16-byte random salt; iterations must be at
 * least SCRAM_MIN_ITERATIONS. 0 or -errno (-EINVAL for a bad password). */
int scram_make_verifier(const char *password, uint32_t iterations, struct scram_verifier *out);
/* The verifier for a given salt (1..SCRAM_SALT_MAX bytes): deterministic, for
 * reproducible tests and imports. 0 or -errno. */
int scram_verifier_from_salt(const char *password, const unsigned char *salt, size_t salt_len,
			     uint32_t iterations, struct scram_verifier *out);

struct scram_client {
	char user[65];
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_MSG_MAX];
	char nonce[SCRAM_MSG_MAX]; /* the combined nonce from server-first */
	unsigned char server_signature[SCRAM_KEY_LEN];
};

/* Writes client-first-message "n,,n=USER,r=CNONCE" into out (cap bytes);
 * returns its length or -errno. */
int scram_client_first(struct scram_client *c, const char *user, char *out, size_t cap);
/* scram_client_first with a given nonce (printable ASCII, no ','), for
 * reproducible tests only: a real client must use a fresh random nonce. */
int scram_client_first_nonce(struct scram_client *c, const char *user, const char *nonce, char *out,
			     size_t cap);
/* Parses server-first-message: checks the nonce extends ours, returns the
 * salt and iteration count. 0, -EPROTO on a malformed or tampered message,
 * or -ERANGE when the server demands more than SCRAM_MAX_ITERATIONS (the
 * count is still returned in *iterations, for the message). */
int scram_client_parse_server_first(struct scram_client *c, const char *msg, size_t len,
				    unsigned char *salt, size_t *salt_len, uint32_t *iterations);
/* Writes client-final-message "c=biws,r=NONCE,p=PROOF" using the salted
 * password; remembers the server signature to expect. Length or -errno. */
int scram_client_final(struct scram_client *c, const unsigned char salted[SCRAM_KEY_LEN], char *out,
		       size_t cap);
/* Checks server-final-message "v=SIGNATURE" (constant time). 0, or -EACCES
 * if the server does not know the verifier, -EPROTO if malformed ("e=..."
 * errors included). */
int scram_client_check_server(struct scram_client *c, const char *msg, size_t len);

struct scram_server {
	char user[65];
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_MSG_MAX];
	char nonce[SCRAM_MSG_MAX];
	struct scram_verifier verifier;
};

/* Parses client-first-message; copies the user name into s->user.
 * 0 or -EPROTO (channel binding requested, bad syntax, bad user name). */
int scram_server_parse_first(struct scram_server *s, const char *msg, size_t len);
/* With the user's verifier, writes server-first-message "r=..,s=..,i=..".
 * Length or -errno. For an unknown user, pass scram_fake_verifier's output so
 * the answer does not reveal that the user does not exist. */
int scram_server_first(struct scram_server *s, const struct scram_verifier *v, char *out,
		       size_t cap);
/* scram_server_first with a given server nonce part (appended to the
 * client's), for reproducible tests only. */
int scram_server_first_nonce(struct scram_server *s, const struct scram_verifier *v,
			     const char *server_nonce, char *out, size_t cap);
/* Checks client-final-message's proof; on success writes server-final
 * "v=SIGNATURE" and returns its length; -EACCES on a wrong proof, -EPROTO on
 * a malformed or mismatched message. */
int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap);
/* A deterministic stand-in verifier for an unknown user: a 16-byte salt and
 * keys derived from the user name with a keyed hash, and the given iteration
 * count. With a key and count every server of a cluster shares, an unknown
 * user gets the same answer from each of them, as a real one does. */
void scram_fake_verifier(const char *user, const unsigned char key[32], uint32_t iterations,
			 struct scram_verifier *out);

/* Password change proof, SCRAM style, for a session that replaces its
 * user's verifier. The message binds the session token and every field of
 * the new verifier:
 *   M     = "dfs-set-verifier" || len(token) (1 byte) || token
 *           || len(salt) (1 byte) || salt || iterations (BE32)
 *           || StoredKey' || ServerKey'
 *   proof = ClientKey XOR HMAC(StoredKey, M)
 * where ClientKey = HMAC(SaltedPassword, "Client Key") of the CURRENT
 * password and StoredKey = H(ClientKey). The server, which holds StoredKey,
 * recovers ClientKey and checks H(ClientKey) == StoredKey: the proof shows
 * knowledge of the current password without revealing anything that could
 * be replayed for another session or another new verifier.
 * token: 1..255 bytes. 0 or -errno. */
int scram_change_proof(const unsigned char salted[SCRAM_KEY_LEN], const unsigned char *token,
		       size_t token_len, const struct scram_verifier *new_v,
		       unsigned char proof[SCRAM_KEY_LEN]);
/* Checks a change proof against the StoredKey the session logged in with
 * (constant time). 0, -EACCES on a wrong proof, -EINVAL on bad arguments. */
int scram_change_check(const unsigned char stored_key[SCRAM_KEY_LEN], const unsigned char *token,
		       size_t token_len, const struct scram_verifier *new_v,
		       const unsigned char proof[SCRAM_KEY_LEN]);

#endif
