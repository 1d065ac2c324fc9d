/* checksum.c: XXH3-64 chunk checksums and the whole-file digest over them. */
#include "checksum.h"

void checksum_init(struct checksum *c)
{
	XXH3_64bits_reset(&c->state);
}

void checksum_update(struct checksum *c, const void *data, size_t len)
{
	if (len == 0)
		return;
	XXH3_64bits_update(&c->state, data, len);
}

uint64_t checksum_final(const struct checksum *c)
{
	return XXH3_64bits_digest(&c->state);
}

uint64_t checksum_of(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

uint64_t checksum_file_digest(const uint64_t *chunk_sums, unsigned nchunks)
{
	struct checksum c;

	checksum_init(&c);
	for (unsigned i = 0; i < nchunks; i++) {
		unsigned char be[8];

		for (int b = 0; b < 8; b++)
			be[b] = (unsigned char)(chunk_sums[i] >> (56 - 8 * b));
		checksum_update(&c, be, sizeof(be));
	}
	return checksum_final(&c);
}
