/* upload.h: streaming one chunk to its servers, shared by put and repair. */
#ifndef DFS_UPLOAD_H
#define DFS_UPLOAD_H

#include <stdatomic.h>
#include "internal.h"

struct target {
	struct link *link;
	int role;     /* which of the link's connections carries this chunk */
	CLIENT *clnt; /* that connection, opened by upload_run */
	uint64_t handle;
	uint64_t start; /* bytes the server already had (resume) */
	unsigned outstanding;
	int err;     /* 0, or why this copy failed */
	bool broken; /* the connection itself failed */
	bool skip;   /* already stored by the put being resumed */
	char why[256];
};

struct upload {
	struct dfs_client *c;
	const char *name;
	uint64_t ver;
	unsigned index;
	struct chunk_source src;
	struct target targets[2];
	unsigned ntargets;
	uint64_t sum;
	atomic_uint_fast64_t *progress; /* shared bytes-done counter, or NULL */
	uint64_t total;
	struct put_resume *resume; /* where stored copies are recorded, or NULL */
};

/* Streams u's chunk to every live target of u (a chunk thread's worker: arg
 * is the struct upload); each target's err says how its copy ended. */
DFS_INTERNAL void *upload_run(void *arg);

#endif
