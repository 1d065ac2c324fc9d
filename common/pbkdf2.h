/* pbkdf2.h: PBKDF2-HMAC-SHA256 for one 32-byte output block (RFC 8018). */
#ifndef DFS_PBKDF2_H
#define DFS_PBKDF2_H

#include <stddef.h>
#include <stdint.h>

#define PBKDF2_OUT_LEN 32

/* out = PBKDF2-HMAC-SHA256(password, salt, iterations), first block only: the
 * same bytes as OpenSSL's PKCS5_PBKDF2_HMAC with a 32-byte output. Runs about
 * twice as fast, because every iteration restarts from saved inner and outer
 * hash states instead of rebuilding the HMAC. 0, or -EINVAL for iterations 0. */
int pbkdf2_hmac_sha256(const void *password, size_t password_len, const unsigned char *salt,
		       size_t salt_len, uint32_t iterations, unsigned char out[PBKDF2_OUT_LEN]);

#endif
