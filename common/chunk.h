/* chunk.h: how a file is cut into contiguous chunks whose sizes differ by at most one byte. */
#ifndef DFS_CHUNK_H
#define DFS_CHUNK_H

#include <stdint.h>

/* Offset and size of chunk `index` (1..nchunks) of a file of `file_size`
 * bytes: the first file_size % nchunks chunks are one byte longer. */
void chunk_range(uint64_t file_size, unsigned nchunks, unsigned index, uint64_t *offset,
		 uint64_t *size);

#endif
