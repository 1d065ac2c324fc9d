/* user_record.c: checking a user's stored record, for both database backends. */
#include "user_record.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

int user_record_verifier(struct scram_verifier *v, const void *salt, size_t salt_len,
			 uint64_t iterations, const void *stored_key, size_t stored_len,
			 const void *server_key, size_t server_len)
{
	memset(v, 0, sizeof(*v));
	/* No server or dfsadm stores more iterations than a client will compute. */
	if (salt_len == 0 || salt_len > SCRAM_SALT_MAX || iterations == 0 ||
	    iterations > SCRAM_MAX_ITERATIONS || stored_len != SCRAM_KEY_LEN ||
	    server_len != SCRAM_KEY_LEN)
		return -EBADMSG;
	memcpy(v->salt, salt, salt_len);
	v->salt_len = salt_len;
	v->iterations = (uint32_t)iterations;
	memcpy(v->stored_key, stored_key, SCRAM_KEY_LEN);
	memcpy(v->server_key, server_key, SCRAM_KEY_LEN);
	return 0;
}

uint32_t user_record_settings_iterations(uint64_t stored)
{
	return stored < SCRAM_MIN_ITERATIONS || stored > SCRAM_MAX_ITERATIONS
		   ? SCRAM_DEFAULT_ITERATIONS
		   : (uint32_t)stored;
}

bool user_record_same(const struct scram_verifier *a, const struct scram_verifier *b)
{
	return a->salt_len == b->salt_len && a->iterations == b->iterations &&
	       CRYPTO_memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       CRYPTO_memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
	       CRYPTO_memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}
