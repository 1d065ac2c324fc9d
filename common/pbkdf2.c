/* pbkdf2.c: PBKDF2-HMAC-SHA256 on saved SHA-256 states. */
#include "pbkdf2.h"

#include <errno.h>
#include <string.h>

/* The low-level SHA256_* calls are deprecated in OpenSSL 3 but are the only way to
 * copy a hash state without an allocation, or to run one compression on it; EVP's
 * context copy is what makes PKCS5_PBKDF2_HMAC slow. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define BLOCK 64

/* The digest in state c, as SHA256_Final would write it, into out. */
static void state_digest(const SHA256_CTX *c, unsigned char out[SHA256_DIGEST_LENGTH])
{
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

int pbkdf2_hmac_sha256(const void *password, size_t password_len, const unsigned char *salt,
		       size_t salt_len, uint32_t iterations, unsigned char out[PBKDF2_OUT_LEN])
{
	static const unsigned char block_index[4] = {0, 0, 0, 1};
	unsigned char key[BLOCK] = {0}, pad[BLOCK], u[SHA256_DIGEST_LENGTH], block[BLOCK] = {0};
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
	/* Every later message is one 32-byte digest after a 64-byte pad: a single block,
	 * padded once here (0x80, then the length, 96 bytes = 768 bits), so that each
	 * step is one compression on a copied state rather than Update and Final. */
	memcpy(block, u, sizeof(u));
	block[sizeof(u)] = 0x80;
	block[BLOCK - 2] = 0x03;
	for (uint32_t n = 1; n < iterations; n++) {
		c = inner;
		SHA256_Transform(&c, block);
		state_digest(&c, block);
		c = outer;
		SHA256_Transform(&c, block);
		state_digest(&c, block);
		for (int i = 0; i < PBKDF2_OUT_LEN; i++)
			out[i] ^= block[i];
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(u, sizeof(u));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&inner, sizeof(inner));
	OPENSSL_cleanse(&outer, sizeof(outer));
	OPENSSL_cleanse(&c, sizeof(c));
	return 0;
}
