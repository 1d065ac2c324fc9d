/* checksum.h: chunk checksums (XXH3-64) and the whole-file digest built from them. */
#ifndef DFS_CHECKSUM_H
#define DFS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

struct checksum {
	XXH3_state_t state;
};

void checksum_init(struct checksum *c);
void checksum_update(struct checksum *c, const void *data, size_t len);
uint64_t checksum_final(const struct checksum *c);
uint64_t checksum_of(const void *data, size_t len);

/* The whole-file digest: XXH3-64 over the chunk checksums in chunk order,
 * each as 8 big-endian bytes. Lets a reader verify the file without reading
 * it in order. */
uint64_t checksum_file_digest(const uint64_t *chunk_sums, unsigned nchunks);

#endif
