/* chunk.c: the byte range of each chunk of a file. */
#include "chunk.h"

void chunk_range(uint64_t file_size, unsigned nchunks, unsigned index, uint64_t *offset,
		 uint64_t *size)
{
	uint64_t n = nchunks ? nchunks : 1;
	uint64_t i = index ? index - 1 : 0;
	uint64_t base = file_size / n;
	uint64_t extra = file_size % n;

	if (i >= n) {
		*offset = file_size;
		*size = 0;
		return;
	}
	/* Chunks before i contribute base bytes each plus one for each of the
	 * first `extra` chunks among them. */
	*offset = i * base + (i < extra ? i : extra);
	*size = base + (i < extra ? 1 : 0);
}
