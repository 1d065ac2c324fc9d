/* layout.h: where one file's chunks live, computed once from its name.
 *
 * A file has one chunk per server. Its placement row (SPEC section 1) decides
 * the pair of chunks each server holds and so the two holders of each chunk.
 * Every part of the client that sends, fetches, checks or shows chunks reads
 * them from one layout instead of recomputing the table.
 */
#ifndef DFS_LAYOUT_H
#define DFS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "dfs_prot.h"

struct layout {
	unsigned nservers; /* servers in the cluster = chunks in the file */
	unsigned row;	   /* placement row of the name */
	/* pair[s - 1]: the chunks server s holds, {first, second}. */
	unsigned pair[DFS_SERVERS_MAX][2];
	/* holder[k - 1]: the servers holding chunk k; [0] is the one a reader asks
	 * first (k is the first of its pair), [1] the other. */
	unsigned holder[DFS_SERVERS_MAX][2];
};

/* The layout of the file called name (len bytes) in a cluster of nservers
 * (1..DFS_SERVERS_MAX) servers. */
void layout_init(struct layout *l, const void *name, size_t len, unsigned nservers);
/* The layout of any file in placement row row (< nservers). */
void layout_init_row(struct layout *l, unsigned row, unsigned nservers);

/* Which of server's two connections carries chunk: 0 if chunk is the first
 * of its pair, 1 if the second; -1 if server does not hold chunk. */
int layout_role(const struct layout *l, unsigned server, unsigned chunk);

/* Offset and size of chunk (1-based) in a file of size bytes. */
void layout_range(const struct layout *l, uint64_t size, unsigned chunk, uint64_t *offset,
		  uint64_t *len);

#endif
