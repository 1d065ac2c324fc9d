/* pbkdf2.c: PBKDF2-HMAC-SHA256 on saved SHA-256 states. */
#include "pbkdf2.h"

#include <errno.h>
#include <string.h>

/* The low-level SHA256_* calls are deprecated in OpenSSL 3 but are the only way to
 * copy a hash state without an allocation; EVP's context copy is what makes
 * PKCS5_PBKDF2_HMAC slow. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define BLOCK 64

int pbkdf2_hmac_sha256(const void *password, size_t password_len, const unsigned char *salt,
		       size_t salt_len, uint32_t iterations, unsigned char out[PBKDF2_OUT_LEN])
{
	static const unsigned char block_index[4] = {0, 0, 0, 1};
	unsigned char key[BLOCK] = {0}, pad[BLOCK], u[SHA256_DIGEST_LENGTH];
	SHA256_CTX inner, outer, c;

	if (iterations == 0)
		return -EINVAL;
	if (password_len > BLOCK)
		SHA256(password, password_len, key);
	else if (password_len > 0)
		memcpy(key, password, password_len);
	for (int i = 0; i < BLOCK; i++)
		pad[i] = key[i] ^ 0x36;
	SHA256_Init(&inner);
	SHA256_Update(&inner, pad, BLOCK);
	for (int i = 0; i < BLOCK; i++)
		pad[i] = key[i] ^ 0x5c;
	SHA256_Init(&outer);
	SHA256_Update(&outer, pad, BLOCK);

	/* U1 = HMAC(password, salt || INT(1)); Un = HMAC(password, Un-1); out = U1 ^ ... ^ Un */
	c = inner;
	SHA256_Update(&c, salt, salt_len);
	SHA256_Update(&c, block_index, sizeof(block_index));
	SHA256_Final(u, &c);
	c = outer;
	SHA256_Update(&c, u, sizeof(u));
	SHA256_Final(u, &c);
	memcpy(out, u, PBKDF2_OUT_LEN);
	for (uint32_t n = 1; n < iterations; n++) {
		c = inner;
		SHA256_Update(&c, u, sizeof(u));
		SHA256_Final(u, &c);
		c = outer;
		SHA256_Update(&c, u, sizeof(u));
		SHA256_Final(u, &c);
		for (int i = 0; i < PBKDF2_OUT_LEN; i++)
			out[i] ^= u[i];
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(u, sizeof(u));
	OPENSSL_cleanse(&inner, sizeof(inner));
	OPENSSL_cleanse(&outer, sizeof(outer));
	OPENSSL_cleanse(&c, sizeof(c));
	return 0;
}
