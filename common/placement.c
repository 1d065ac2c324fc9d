/* placement.c: the placement row of a name and the rotating chunk-pair table. */
#include "placement.h"

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

unsigned placement_row(const void *name, size_t len, unsigned nservers)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;
	uint64_t h = 0;

	if (nservers <= 1)
		return 0;
	/* EVP_Digest with SHA-256 only fails on allocation failure; treat it as row 0
	 * rather than returning a value outside the table. */
	if (!EVP_Digest(name, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		h = (h << 8) | md[i];
	return (unsigned)(h % nservers);
}

void placement_pair(unsigned row, unsigned server, unsigned nservers, unsigned *first,
		    unsigned *second)
{
	unsigned n = nservers ? nservers : 1;
	/* Add n before subtracting so the unsigned arithmetic never wraps. */
	unsigned a = ((server - 1) % n + n - row % n) % n + 1;

	*first = a;
	*second = a % n + 1;
}

unsigned placement_holder(unsigned row, unsigned chunk, unsigned nservers, int which)
{
	unsigned n = nservers ? nservers : 1;
	/* Inverse of placement_pair: chunk c is the first of server s's pair when
	 * c - 1 = (s - 1 - row) mod n, i.e. s = ((c - 1 + row) mod n) + 1; it is the
	 * second of the pair of the server just before that one. */
	unsigned s = ((chunk - 1) % n + row % n) % n + 1;

	if (which)
		s = (s + n - 2) % n + 1;
	return s;
}
