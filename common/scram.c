/* scram.c: SCRAM-SHA-256 message building, parsing and proof checks on OpenSSL. */
#include "names.h"
#include "pbkdf2.h"
#include "scram.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define USER_MAX     64
#define PASSWORD_MAX 1023
#define NEW_SALT_LEN 16
/* base64("n,,"): the only gs2 header we speak. */
#define CBIND_INPUT "biws"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A growing, bounded, always NUL-terminated output buffer. */
struct outbuf {
	char *p;
	size_t cap;
	size_t len;
	bool overflow;
};

static void ob_put(struct outbuf *b, const char *s, size_t n)
{
	if (b->overflow || n >= b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void ob_str(struct outbuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void ob_b64(struct outbuf *b, const unsigned char *in, size_t n)
{
	char quad[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		quad[0] = b64_alphabet[(v >> 18) & 63];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		quad[3] = left > 2 ? b64_alphabet[v & 63] : '=';
		ob_put(b, quad, 4);
	}
}

/* Ends a message: its length if it fits in both cap and SCRAM_MSG_MAX. */
static int ob_finish(const struct outbuf *b)
{
	if (b->overflow || b->len >= SCRAM_MSG_MAX)
		return -ENOSPC;
	return (int)b->len;
}

static int b64_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict canonical base64 decode: length a multiple of 4, padding only at the
 * end, unused bits zero. 0, or -EPROTO. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
	size_t pad = 0, n = 0;

	if (len == 0 || len % 4 != 0)
		return -EPROTO;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if (len / 4 * 3 - pad > cap)
		return -EPROTO;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		uint32_t w;
		bool last = i + 4 == len;

		for (int k = 0; k < 4; k++) {
			bool padded = last && k >= 4 - (int)pad;

			v[k] = padded ? (in[i + k] == '=' ? 0 : -1) : b64_value(in[i + k]);
			if (v[k] < 0)
				return -EPROTO;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		if (last && pad == 2 && (w & 0xffff) != 0)
			return -EPROTO;
		if (last && pad == 1 && (w & 0xff) != 0)
			return -EPROTO;
		out[n++] = (unsigned char)(w >> 16);
		if (!(last && pad == 2))
			out[n++] = (unsigned char)(w >> 8);
		if (!(last && pad >= 1))
			out[n++] = (unsigned char)w;
	}
	*outlen = n;
	return 0;
}

/* Printable ASCII except ',' (RFC 5802 "printable"). */
static bool nonce_ok(const char *n, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (n[i] < 0x21 || n[i] > 0x7e || n[i] == ',')
			return false;
	return true;
}

/* Passwords are printable ASCII (space included), unnormalized. */
static bool password_ok(const char *p)
{
	size_t len = strlen(p);

	if (len == 0 || len > PASSWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

/* saslname: ',' as "=2C" and '=' as "=3D". */
static void ob_saslname(struct outbuf *b, const char *u)
{
	for (; *u; u++) {
		if (*u == ',')
			ob_str(b, "=2C");
		else if (*u == '=')
			ob_str(b, "=3D");
		else
			ob_put(b, u, 1);
	}
}

/* Decodes a saslname into out (cap bytes with NUL). 0 or -EPROTO. */
static int saslname_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '=') {
			if (len - i < 3)
				return -EPROTO;
			if (in[i + 1] == '2' && in[i + 2] == 'C')
				c = ',';
			else if (in[i + 1] == '3' && in[i + 2] == 'D')
				c = '=';
			else
				return -EPROTO;
			i += 2;
		}
		if (n + 1 >= cap)
			return -EPROTO;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* A parser over one comma-separated message. */
struct attrs {
	const char *p;
	const char *end;
};

/* Takes the next "NAME=value" attribute, requiring NAME == want; the value
 * runs to the next ',' or the end. 0 or -EPROTO. */
static int attr_next(struct attrs *a, char want, const char **val, size_t *vlen)
{
	const char *comma;

	if (a->end - a->p < 2 || a->p[0] != want || a->p[1] != '=')
		return -EPROTO;
	a->p += 2;
	comma = memchr(a->p, ',', (size_t)(a->end - a->p));
	*val = a->p;
	*vlen = (size_t)((comma ? comma : a->end) - a->p);
	a->p = comma ? comma + 1 : a->end;
	if (comma && a->p == a->end)
		return -EPROTO; /* trailing comma */
	return 0;
}

static bool attrs_done(const struct attrs *a)
{
	return a->p == a->end;
}

/* Rejects empty, oversized, or NUL-containing input. */
static int msg_ok(const char *msg, size_t len)
{
	if (!msg || len == 0 || len >= SCRAM_MSG_MAX || memchr(msg, '\0', len))
		return -EPROTO;
	return 0;
}

static int hmac_sha256(const unsigned char *key, size_t keylen, const void *data, size_t len,
		       unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) ||
	    outlen != SCRAM_KEY_LEN)
		return -EIO;
	return 0;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof. */
static int auth_message(char *out, size_t cap, const char *cfb, const char *sf,
			const char *cf_noproof, size_t cf_noproof_len)
{
	struct outbuf b = {out, cap, 0, false};

	ob_str(&b, cfb);
	ob_put(&b, ",", 1);
	ob_str(&b, sf);
	ob_put(&b, ",", 1);
	ob_put(&b, cf_noproof, cf_noproof_len);
	return b.overflow ? -ENOSPC : (int)b.len;
}

/* Writes a fresh random nonce (base64 of SCRAM_NONCE_LEN bytes) into out. */
static int random_nonce(char *out, size_t cap)
{
	unsigned char raw[SCRAM_NONCE_LEN];
	struct outbuf b = {out, cap, 0, false};

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	ob_b64(&b, raw, sizeof(raw));
	return b.overflow ? -ENOSPC : 0;
}

int scram_salted_password(const char *password, const unsigned char *salt, size_t salt_len,
			  uint32_t iterations, unsigned char out[SCRAM_KEY_LEN])
{
	if (!password || !password_ok(password) || !salt || salt_len == 0 ||
	    salt_len > SCRAM_SALT_MAX || iterations == 0 || iterations > INT32_MAX)
		return -EINVAL;
	return pbkdf2_hmac_sha256(password, strlen(password), salt, salt_len, iterations, out);
}

int scram_verifier_from_salt(const char *password, const unsigned char *salt, size_t salt_len,
			     uint32_t iterations, struct scram_verifier *out)
{
	unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = scram_salted_password(password, salt, salt_len, iterations, salted);
	if (rc < 0)
		goto out;
	rc = hmac_sha256(salted, sizeof(salted), "Client Key", 10, client_key);
	if (rc < 0)
		goto out;
	rc = hmac_sha256(salted, sizeof(salted), "Server Key", 10, out->server_key);
	if (rc < 0)
		goto out;
	SHA256(client_key, sizeof(client_key), out->stored_key);
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iterations = iterations;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	if (rc < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

int scram_make_verifier(const char *password, uint32_t iterations, struct scram_verifier *out)
{
	unsigned char salt[NEW_SALT_LEN];

	memset(out, 0, sizeof(*out));
	if (iterations < SCRAM_MIN_ITERATIONS)
		return -EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	return scram_verifier_from_salt(password, salt, sizeof(salt), iterations, out);
}

int scram_client_first_nonce(struct scram_client *c, const char *user, const char *nonce, char *out,
			     size_t cap)
{
	struct outbuf bare = {c->client_first_bare, sizeof(c->client_first_bare), 0, false};
	struct outbuf msg = {out, cap, 0, false};
	size_t ulen = user ? strlen(user) : 0;

	memset(c, 0, sizeof(*c));
	if (!user || user_name_check(user, NULL) != 0 || !nonce ||
	    !nonce_ok(nonce, strlen(nonce)) || !out || cap == 0)
		return -EINVAL;
	memcpy(c->user, user, ulen + 1);
	ob_str(&bare, "n=");
	ob_saslname(&bare, user);
	ob_str(&bare, ",r=");
	ob_str(&bare, nonce);
	if (bare.overflow)
		return -EINVAL;
	ob_str(&msg, "n,,");
	ob_str(&msg, c->client_first_bare);
	return ob_finish(&msg);
}

int scram_client_first(struct scram_client *c, const char *user, char *out, size_t cap)
{
	char nonce[SCRAM_NONCE_LEN * 2];
	int rc = random_nonce(nonce, sizeof(nonce));

	if (rc < 0) {
		memset(c, 0, sizeof(*c));
		return rc;
	}
	return scram_client_first_nonce(c, user, nonce, out, cap);
}

/* The nonce our client-first-bare carried (after its last "r="). */
static const char *client_own_nonce(const struct scram_client *c)
{
	const char *r = strstr(c->client_first_bare, ",r=");

	return r ? r + 3 : NULL;
}

/* Decimal without sign or leading zeros, at most max. 0 or -EPROTO. */
static int parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10 || (s[0] == '0' && len > 1))
		return -EPROTO;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EPROTO;
	*out = (uint32_t)v;
	return 0;
}

int scram_client_parse_server_first(struct scram_client *c, const char *msg, size_t len,
				    unsigned char *salt, size_t *salt_len, uint32_t *iterations)
{
	struct attrs a = {msg, msg + len};
	const char *own = client_own_nonce(c), *r, *s, *i;
	size_t rlen, slen, ilen, ownlen;
	unsigned char saltbuf[SCRAM_SALT_MAX];
	size_t saltn = 0;
	uint32_t iter = 0;
	int rc;

	if (!own || c->nonce[0] != '\0')
		return -EINVAL;
	ownlen = strlen(own);
	rc = msg_ok(msg, len);
	if (rc < 0)
		return rc;
	if (attr_next(&a, 'r', &r, &rlen) < 0 || attr_next(&a, 's', &s, &slen) < 0 ||
	    attr_next(&a, 'i', &i, &ilen) < 0 || !attrs_done(&a))
		return -EPROTO;
	if (rlen <= ownlen || memcmp(r, own, ownlen) != 0 || !nonce_ok(r, rlen))
		return -EPROTO;
	if (b64_decode(s, slen, saltbuf, sizeof(saltbuf), &saltn) < 0 || saltn == 0)
		return -EPROTO;
	if (parse_u32(i, ilen, UINT32_MAX, &iter) < 0 || iter < SCRAM_MIN_ITERATIONS)
		return -EPROTO;
	if (iter > SCRAM_MAX_ITERATIONS) {
		*iterations = iter;
		return -ERANGE;
	}
	memcpy(c->server_first, msg, len);
	c->server_first[len] = '\0';
	memcpy(c->nonce, r, rlen);
	c->nonce[rlen] = '\0';
	memcpy(salt, saltbuf, saltn);
	*salt_len = saltn;
	*iterations = iter;
	return 0;
}

int scram_client_final(struct scram_client *c, const unsigned char salted[SCRAM_KEY_LEN], char *out,
		       size_t cap)
{
	unsigned char client_key[SCRAM_KEY_LEN], stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	char am[3 * SCRAM_MSG_MAX];
	struct outbuf msg = {out, cap, 0, false};
	int rc, amlen;

	if (c->nonce[0] == '\0' || !out || cap == 0)
		return -EINVAL;
	ob_str(&msg, "c=" CBIND_INPUT ",r=");
	ob_str(&msg, c->nonce);
	if (msg.overflow)
		return -ENOSPC;
	amlen = auth_message(am, sizeof(am), c->client_first_bare, c->server_first, out, msg.len);
	if (amlen < 0)
		return amlen;
	rc = hmac_sha256(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key);
	if (rc == 0)
		rc = hmac_sha256(salted, SCRAM_KEY_LEN, "Server Key", 10, server_key);
	if (rc < 0)
		goto out;
	SHA256(client_key, sizeof(client_key), stored_key);
	rc = hmac_sha256(stored_key, sizeof(stored_key), am, (size_t)amlen, sig);
	if (rc == 0)
		rc = hmac_sha256(server_key, sizeof(server_key), am, (size_t)amlen,
				 c->server_signature);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < SCRAM_KEY_LEN; k++)
		proof[k] = client_key[k] ^ sig[k];
	ob_str(&msg, ",p=");
	ob_b64(&msg, proof, sizeof(proof));
	rc = ob_finish(&msg);
out:
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(proof, sizeof(proof));
	return rc;
}

int scram_client_check_server(struct scram_client *c, const char *msg, size_t len)
{
	struct attrs a = {msg, msg + len};
	unsigned char sig[SCRAM_KEY_LEN];
	size_t vlen, siglen = 0;
	const char *v;
	int rc;

	if (c->nonce[0] == '\0')
		return -EINVAL;
	rc = msg_ok(msg, len);
	if (rc < 0)
		return rc;
	if (attr_next(&a, 'v', &v, &vlen) < 0 || !attrs_done(&a))
		return -EPROTO; /* "e=..." lands here too */
	if (b64_decode(v, vlen, sig, sizeof(sig), &siglen) < 0 || siglen != SCRAM_KEY_LEN)
		return -EPROTO;
	rc = CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(c->server_signature, sizeof(c->server_signature));
	c->nonce[0] = '\0';
	return rc;
}

int scram_server_parse_first(struct scram_server *s, const char *msg, size_t len)
{
	struct attrs a;
	const char *n, *r;
	size_t nlen, rlen;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = msg_ok(msg, len);
	if (rc < 0)
		return rc;
	/* gs2-header: only "n,," (no channel binding, no authzid). */
	if (len < 3 || memcmp(msg, "n,,", 3) != 0)
		return -EPROTO;
	a.p = msg + 3;
	a.end = msg + len;
	if (attr_next(&a, 'n', &n, &nlen) < 0 || attr_next(&a, 'r', &r, &rlen) < 0 ||
	    !attrs_done(&a))
		return -EPROTO;
	if (saslname_decode(n, nlen, s->user, sizeof(s->user)) < 0 ||
	    user_name_check(s->user, NULL) != 0 || !nonce_ok(r, rlen)) {
		memset(s, 0, sizeof(*s));
		return -EPROTO;
	}
	memcpy(s->client_first_bare, msg + 3, len - 3);
	s->client_first_bare[len - 3] = '\0';
	memcpy(s->nonce, r, rlen);
	s->nonce[rlen] = '\0';
	return 0;
}

int scram_server_first_nonce(struct scram_server *s, const struct scram_verifier *v,
			     const char *server_nonce, char *out, size_t cap)
{
	struct outbuf msg = {out, cap, 0, false};
	size_t clen = strlen(s->nonce), slen;
	char iter[16];
	int rc;

	if (s->client_first_bare[0] == '\0' || s->server_first[0] != '\0' || !v ||
	    v->salt_len == 0 || v->salt_len > SCRAM_SALT_MAX || v->iterations == 0 || !out ||
	    cap == 0 || !server_nonce)
		return -EINVAL;
	slen = strlen(server_nonce);
	if (!nonce_ok(server_nonce, slen) || clen + slen >= sizeof(s->nonce))
		return -EINVAL;
	memcpy(s->nonce + clen, server_nonce, slen + 1);
	snprintf(iter, sizeof(iter), "%u", (unsigned)v->iterations);
	ob_str(&msg, "r=");
	ob_str(&msg, s->nonce);
	ob_str(&msg, ",s=");
	ob_b64(&msg, v->salt, v->salt_len);
	ob_str(&msg, ",i=");
	ob_str(&msg, iter);
	rc = ob_finish(&msg);
	if (rc < 0) {
		s->nonce[clen] = '\0';
		return rc;
	}
	memcpy(s->server_first, out, msg.len + 1);
	s->verifier = *v;
	return rc;
}

int scram_server_first(struct scram_server *s, const struct scram_verifier *v, char *out,
		       size_t cap)
{
	char nonce[SCRAM_NONCE_LEN * 2];
	int rc = random_nonce(nonce, sizeof(nonce));

	if (rc < 0)
		return rc;
	return scram_server_first_nonce(s, v, nonce, out, cap);
}

int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap)
{
	struct attrs a = {msg, msg + len};
	unsigned char proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	unsigned char check[SCRAM_KEY_LEN], server_sig[SCRAM_KEY_LEN];
	char am[3 * SCRAM_MSG_MAX];
	struct outbuf reply = {out, cap, 0, false};
	const char *c, *r, *p;
	size_t clen, rlen, plen, prooflen = 0;
	int rc, amlen;

	if (s->server_first[0] == '\0' || !out || cap == 0)
		return -EINVAL;
	rc = msg_ok(msg, len);
	if (rc < 0)
		return rc;
	if (attr_next(&a, 'c', &c, &clen) < 0 || attr_next(&a, 'r', &r, &rlen) < 0 ||
	    attr_next(&a, 'p', &p, &plen) < 0 || !attrs_done(&a))
		return -EPROTO;
	if (clen != strlen(CBIND_INPUT) || memcmp(c, CBIND_INPUT, clen) != 0)
		return -EPROTO;
	if (rlen != strlen(s->nonce) || memcmp(r, s->nonce, rlen) != 0)
		return -EPROTO;
	if (b64_decode(p, plen, proof, sizeof(proof), &prooflen) < 0 || prooflen != SCRAM_KEY_LEN)
		return -EPROTO;
	/* The proof attribute is last: everything before ",p=" is signed. */
	amlen = auth_message(am, sizeof(am), s->client_first_bare, s->server_first, msg,
			     (size_t)(p - 3 - msg));
	if (amlen < 0)
		return -EPROTO;
	rc = hmac_sha256(s->verifier.stored_key, SCRAM_KEY_LEN, am, (size_t)amlen, sig);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < SCRAM_KEY_LEN; k++)
		client_key[k] = proof[k] ^ sig[k];
	SHA256(client_key, sizeof(client_key), check);
	if (CRYPTO_memcmp(check, s->verifier.stored_key, SCRAM_KEY_LEN) != 0) {
		rc = -EACCES;
		goto out;
	}
	rc = hmac_sha256(s->verifier.server_key, SCRAM_KEY_LEN, am, (size_t)amlen, server_sig);
	if (rc < 0)
		goto out;
	ob_str(&reply, "v=");
	ob_b64(&reply, server_sig, sizeof(server_sig));
	rc = ob_finish(&reply);
out:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	OPENSSL_cleanse(server_sig, sizeof(server_sig));
	return rc;
}

void scram_fake_verifier(const char *user, const unsigned char key[32], uint32_t iterations,
			 struct scram_verifier *out)
{
	unsigned char buf[16 + USER_MAX + 1], mac[SCRAM_KEY_LEN];
	const char *labels[3] = {"salt", "stored_key", "server_key"};
	size_t ulen = user ? strnlen(user, USER_MAX + 1) : 0;

	memset(out, 0, sizeof(*out));
	if (ulen > USER_MAX)
		ulen = USER_MAX;
	for (int k = 0; k < 3; k++) {
		size_t llen = strlen(labels[k]);

		/* label "|" user: distinct per purpose, so the three values are unrelated. */
		memcpy(buf, labels[k], llen);
		buf[llen] = '|';
		if (ulen)
			memcpy(buf + llen + 1, user, ulen);
		if (hmac_sha256(key, 32, buf, llen + 1 + ulen, mac) < 0)
			memset(mac, 0, sizeof(mac));
		if (k == 0)
			memcpy(out->salt, mac, NEW_SALT_LEN);
		else if (k == 1)
			memcpy(out->stored_key, mac, SCRAM_KEY_LEN);
		else
			memcpy(out->server_key, mac, SCRAM_KEY_LEN);
	}
	out->salt_len = NEW_SALT_LEN;
	out->iterations = iterations;
	OPENSSL_cleanse(mac, sizeof(mac));
}

#define CHANGE_LABEL "dfs-set-verifier"

/* HMAC(stored_key, M) for the change message M (see scram.h). */
static int change_signature(const unsigned char stored_key[SCRAM_KEY_LEN],
			    const unsigned char *token, size_t token_len,
			    const struct scram_verifier *v, unsigned char sig[SCRAM_KEY_LEN])
{
	unsigned char
	    msg[sizeof(CHANGE_LABEL) + 1 + 255 + 1 + SCRAM_SALT_MAX + 4 + 2 * SCRAM_KEY_LEN];
	size_t n = 0;
	int rc;

	if (!token || token_len == 0 || token_len > 255 || !v || v->salt_len == 0 ||
	    v->salt_len > SCRAM_SALT_MAX)
		return -EINVAL;
	memcpy(msg, CHANGE_LABEL, strlen(CHANGE_LABEL));
	n += strlen(CHANGE_LABEL);
	msg[n++] = (unsigned char)token_len;
	memcpy(msg + n, token, token_len);
	n += token_len;
	msg[n++] = (unsigned char)v->salt_len;
	memcpy(msg + n, v->salt, v->salt_len);
	n += v->salt_len;
	msg[n++] = (unsigned char)(v->iterations >> 24);
	msg[n++] = (unsigned char)(v->iterations >> 16);
	msg[n++] = (unsigned char)(v->iterations >> 8);
	msg[n++] = (unsigned char)v->iterations;
	memcpy(msg + n, v->stored_key, SCRAM_KEY_LEN);
	n += SCRAM_KEY_LEN;
	memcpy(msg + n, v->server_key, SCRAM_KEY_LEN);
	n += SCRAM_KEY_LEN;
	rc = hmac_sha256(stored_key, SCRAM_KEY_LEN, msg, n, sig);
	OPENSSL_cleanse(msg, sizeof(msg));
	return rc;
}

int scram_change_proof(const unsigned char salted[SCRAM_KEY_LEN], const unsigned char *token,
		       size_t token_len, const struct scram_verifier *new_v,
		       unsigned char proof[SCRAM_KEY_LEN])
{
	unsigned char client_key[SCRAM_KEY_LEN], stored_key[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	int rc;

	memset(proof, 0, SCRAM_KEY_LEN);
	if (!salted)
		return -EINVAL;
	rc = hmac_sha256(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key);
	if (rc < 0)
		goto out;
	SHA256(client_key, sizeof(client_key), stored_key);
	rc = change_signature(stored_key, token, token_len, new_v, sig);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < SCRAM_KEY_LEN; k++)
		proof[k] = client_key[k] ^ sig[k];
out:
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	OPENSSL_cleanse(sig, sizeof(sig));
	return rc;
}

int scram_change_check(const unsigned char stored_key[SCRAM_KEY_LEN], const unsigned char *token,
		       size_t token_len, const struct scram_verifier *new_v,
		       const unsigned char proof[SCRAM_KEY_LEN])
{
	unsigned char sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
	int rc;

	if (!stored_key || !proof)
		return -EINVAL;
	rc = change_signature(stored_key, token, token_len, new_v, sig);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < SCRAM_KEY_LEN; k++)
		client_key[k] = proof[k] ^ sig[k];
	SHA256(client_key, sizeof(client_key), check);
	rc = CRYPTO_memcmp(check, stored_key, SCRAM_KEY_LEN) == 0 ? 0 : -EACCES;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	return rc;
}
