/* writer.h: the blocks of a download written into its file one at a time.
 *
 * ext4 (like most file systems) takes a file's inode lock for each buffered
 * write, and threads writing one file spin on it. Here the chunk threads hand
 * their blocks over instead: the one that finds nobody writing writes its own
 * block, while it is still in its cache, and the blocks queued meanwhile; the
 * others go on fetching. A small pool of DFS_BLOCK_MAX buffers bounds the
 * memory of a get. */
#ifndef DFS_WRITER_H
#define DFS_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

struct block_writer;

/* The blocks one thread hands to the writer, written in the order given. */
struct block_stream {
	struct block_writer *w;
	unsigned queued; /* handed over, not written yet */
	int err;	 /* the first failed write's -errno, or 0 */
	/* Called after a block ending at byte end (of the range the stream's
	 * caller counts in) is written, by the thread that wrote it; may be NULL. */
	void (*written)(struct block_stream *s, uint64_t end);
};

/* Writes len bytes at offset of fd. 0 or -errno. */
DFS_INTERNAL int write_at(int fd, const char *p, size_t len, uint64_t offset);

/* A writer into fd using at most nblocks buffers (>= 1): 0 and *out, or
 * -errno. block_writer_stop frees it. */
DFS_INTERNAL int block_writer_start(struct block_writer **out, int fd, unsigned nblocks);
/* Frees the writer, once every stream is drained; takes NULL. */
DFS_INTERNAL void block_writer_stop(struct block_writer *w);
/* A free buffer of DFS_BLOCK_MAX bytes, waiting for one when all are in use;
 * NULL if none can be allocated. Goes back by block_stream_submit or block_writer_put. */
DFS_INTERNAL char *block_writer_get(struct block_writer *w);
/* Gives back a buffer from block_writer_get unwritten. */
DFS_INTERNAL void block_writer_put(struct block_writer *w, char *block);
/* Hands block (from block_writer_get) over: len bytes for file offset offset;
 * end is passed to s->written. Writes it, and the blocks other threads hand
 * over meanwhile, when nobody else is writing. Returns s->err as it is now. */
DFS_INTERNAL int block_stream_submit(struct block_stream *s, char *block, size_t len,
				     uint64_t offset, uint64_t end);
/* Waits until every block of s is written: 0, or the first write's -errno. */
DFS_INTERNAL int block_stream_drain(struct block_stream *s);

#endif
