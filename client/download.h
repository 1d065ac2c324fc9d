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

/* plan.c: plan_lookup in parts, so that get_files.c can ask about several
 * files in one call per server and still read each answer as plan_lookup does. */
/* The chunk a reader asks server for first. */
DFS_INTERNAL unsigned plan_first_chunk(const struct file_view *view, unsigned server);
/* The most chunk bytes a lookup asks a server to send with a record. */
DFS_INTERNAL unsigned plan_data_max(const struct file_view *view);
/* An empty view of name, before any server is asked. */
DFS_INTERNAL void plan_view_start(const struct dfs_client *c, const char *name,
				  struct file_view *view);
/* Keeps server's record and the chunk bytes sent with it in view (taken over from ok). */
DFS_INTERNAL void plan_keep_read(struct file_view *view, unsigned server, dfs_lookup_read_ok *ok);
/* Records the status of server l's answer in h (answered), or warns that
 * its lookup failed; a negative status (no answer) is ignored. */
DFS_INTERNAL void plan_note_status(struct dfs_client *c, struct link *l, struct holder_view *h,
				   int status);
/* Ends a lookup whose answers are in view: drops those that fail the checks
 * (with a warning), then fails with -EHOSTDOWN if no answer is left. */
DFS_INTERNAL int plan_lookup_end(struct dfs_client *c, struct file_view *view);
/* plan_read_choice; with looked_up, view already holds the answers of the
 * first lookup (not yet ended by plan_lookup_end). */
DFS_INTERNAL int plan_read_choice_from(struct dfs_client *c, const char *name, bool with_data,
				       struct file_view *view, struct read_plan *plan,
				       bool looked_up);

/* get_local.c: the local side of a get. */
/* Where a get to path goes, as cp would see it: into a character device, FIFO
 * or socket (*special; the bytes are written into it, it is never replaced),
 * or to the regular file at *out, reached through any symbolic links (the link
 * stays, its target is replaced). 0 or -errno, saying why. */
DFS_INTERNAL int get_resolve_target(struct dfs_client *c, const char *path, char *out, size_t len,
				    bool *special);
/* Opens the device, FIFO or socket at path for writing: the fd, or -errno. */
DFS_INTERNAL int get_open_special(struct dfs_client *c, const char *path);
/* Copies the whole of fd to out_fd. 0 or -errno. */
DFS_INTERNAL int get_copy_out(struct dfs_client *c, int fd, int out_fd);
/* Gives a fetched file the source's mtime and, if it was made private
 * (set_mode), the mode a new file gets here; -errno (errno set too) on failure. */
DFS_INTERNAL int get_finish_attributes(int fd, const dfs_file_info *info, bool set_mode);

/* get.c: dfs_get, starting from looked_up when not NULL: the answers of a
 * lookup of remote_name with data (plan_view_start, then each server's answer
 * kept), which this takes over and frees. */
DFS_INTERNAL int get_from_lookup(struct dfs_client *c, const char *remote_name, const char *target,
				 struct file_view *looked_up);

#endif
