/* download.h: fetching one chunk, shared by get and repair; the sidecar of a
 * partial get records each chunk's progress. */
#ifndef DFS_DOWNLOAD_H
#define DFS_DOWNLOAD_H

#include <stdatomic.h>
#include "internal.h"
#include "transfer/writer.h"

/* The sidecar of a partial get: a header naming the version, then one
 * fixed-width line per chunk counting the bytes of it already written, so
 * each chunk's thread rewrites its own line in place. */
#define PART_MAGIC    "dfs-part 1"
#define PART_SLOT_LEN 21 /* "%020llu\n" */

struct part {
	int state_fd; /* -1: no sidecar */
	off_t slots;  /* offset of chunk 1's line */
	uint64_t have[DFS_SERVERS_MAX];
};

/* Bytes of a whole file fetched so far, reported block by block so that a
 * long transfer shows its progress while the chunks are still coming in. */
struct read_progress {
	atomic_uint_fast64_t *done;
	uint64_t total;
};

/* Records in p's sidecar that done bytes of chunk index are written (no-op without one). */
DFS_INTERNAL void part_record(const struct part *p, unsigned index, uint64_t done);
/* Adds len fetched bytes to p and reports them (to *reported too). */
DFS_INTERNAL void report_read(struct dfs_client *c, const struct read_progress *p, const char *name,
			      uint64_t len, uint64_t *reported);
/* get_chunk_from, starting at byte start of the chunk (the bytes before it
 * are already in fd; they are checksummed, not fetched), recording progress in
 * part and reporting it through prog (bytes added to *reported); the blocks
 * go through w when it is not NULL, and are all written when this returns.
 * When writing into fd failed, that error is also set in *write_err (if not
 * NULL): the server is not to blame. */
DFS_INTERNAL int get_chunk_part(struct dfs_client *c, struct link *l, int role, const char *name,
				uint64_t ver, unsigned index, int fd, uint64_t offset,
				uint64_t size, uint64_t sum, uint64_t start,
				const struct part *part, const struct read_progress *prog,
				uint64_t *reported, struct block_writer *w, int *write_err);

#endif
