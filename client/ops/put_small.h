/* put_small.h: a small file stored whole, one STORE (or one item of a
 * STORE_MANY) per server; shared by put_small.c and put_files.c. */
#ifndef DFS_PUT_SMALL_H
#define DFS_PUT_SMALL_H

#include <sys/stat.h>
#include "internal.h"

struct small_put {
	struct dfs_client *c;
	const char *path, *name;
	char *bytes; /* the whole file */
	uint64_t size, ver;
	int64_t mtime_ns;
	unsigned n;
	struct layout layout;
	uint64_t offset[DFS_SERVERS_MAX], chunk_size[DFS_SERVERS_MAX], sums[DFS_SERVERS_MAX];
	unsigned lacking[DFS_SERVERS_MAX], nlacking;
	/* per server: whether the file was sent, the answer (0 or -errno), why it failed */
	bool sent[DFS_SERVERS_MAX];
	int err[DFS_SERVERS_MAX];
	char why[DFS_SERVERS_MAX][256];
};

/* Reads the file open as fd (described by sb) into a new *out. 0 or -errno. */
DFS_INTERNAL int small_put_new(struct dfs_client *c, const char *path, const char *remote_name,
			       int fd, const struct stat *sb, struct small_put **out);
DFS_INTERNAL void small_put_free(struct small_put *p);
/* What server s stores of version p->ver: the record into *info (its chunks
 * in held) and the chunks' bytes into data (at most p->size). Returns their length. */
DFS_INTERNAL size_t small_put_item(const struct small_put *p, unsigned s, dfs_file_info *info,
				   dfs_chunk_sum held[2], char *data);
/* Before sending: every server unsent, the servers down recorded as lacking it. */
DFS_INTERNAL void small_put_begin(struct small_put *p);
/* The put's outcome from the answers in sent/err/why: 0, -errno (explained),
 * -EOPNOTSUPP (a server predates STORE) or -ESTALE (a newer version exists). */
DFS_INTERNAL int small_put_settle(struct small_put *p);
/* After attempt number attempt ended in err: while that is -ESTALE, stores the
 * file again numbered above the newest version the servers hold. 0 or -errno. */
DFS_INTERNAL int small_put_again(struct small_put *p, int err, unsigned attempt);

#endif
