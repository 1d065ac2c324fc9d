/* store_internal.h: what the files of server/store/ share: the data folder's
 * names, struct store, and the helpers more than one of them uses. */
#ifndef DFS_STORE_INTERNAL_H
#define DFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hex.h"
#include "store.h"
#include "verify_state.h"

#define STORE_LOCKS  256
#define HASH_HEX     64
#define USER_MAX     64
#define META_BUF     16384 /* a record: two versions with names of up to 4 KiB */
#define READ_BUF     (1024 * 1024)
#define PATH_BUF     512
#define META_OPS_MAX (DFS_HELD_MAX + DFS_SERVERS_MAX + 3) /* see meta_ops */
/* A commit's own operations: its chunks kept in the database, and meta_ops's. */
#define COMMIT_OPS_MAX (DFS_HELD_MAX + 3)
#define FORMAT_MAGIC   "dfs-data "
#define FORMAT_NAME    "FORMAT"
/* Format 1 kept each record in its file's folder, as META_NAME (written through
 * META_TMP_PREFIX temporaries); format 2 keeps them in DATA/records/. */
#define META_NAME	"meta"
#define META_TMP_PREFIX "meta.tmp."
/* The encoding of a record (dfs_meta.format), unchanged from format 1. */
#define RECORD_FORMAT	1
#define IN_SERVICE_NAME "IN-SERVICE"

struct store {
	int rootfd;
	struct records *records; /* every file's record (records.c) */
	unsigned inline_max;	 /* chunks up to this size are kept in records */
	pthread_mutex_t locks[STORE_LOCKS];
	struct counts *counts;	  /* built at open, kept at every change of a record */
	struct name_index *names; /* every record's name, in order (name_index.c) */
	/* Held from the quota check to the count update of a commit under a
	 * limit, so that two commits of one user cannot both pass the check. */
	pthread_mutex_t quota_lock;
	struct trash *trash;	 /* chunk files moved aside, being removed (trash.c) */
	atomic_uint run_buffers; /* block buffers owned by uploads' runs (block_run.c) */
};

/* Everything a per-file operation needs to find and lock a file's folder. */
struct file_ref {
	char user[USER_MAX + 1];
	char hash[HASH_HEX + 1];
	char dir[PATH_BUF]; /* relative to the root: u/USER/HH/HASH */
	pthread_mutex_t *lock;
};

/* A file written in a folder that appears there under its final name in one step:
 * unnamed (O_TMPFILE) until placed where the file system allows, else under a
 * temporary name. An unnamed file needs no entry in the folder until it is
 * placed, so writers in one folder do not queue behind each other's creation. */
struct new_file {
	int dirfd, fd;
	bool unnamed;
	char tmp[32];
};

/* layout.c: names, paths and locks of the data folder. */
/* 0, or -EINVAL for a bad user name (names.h) or NULL. */
int store_check_user(const char *user);
/* The lock of a file's folder: one of STORE_LOCKS, chosen by user and name hash. */
pthread_mutex_t *stripe(struct store *st, const char *user, const char *hash);
/* Fills ref for the folder of (user, hash), both already checked. */
int ref_init(struct store *st, const char *user, const char *hash, struct file_ref *ref);
int ref_for(struct store *st, const char *user, const void *name, size_t name_len,
	    struct file_ref *ref);
int path_join(char *out, size_t len, const char *a, const char *b);
/* The file name of chunk index of version ver: "VVVVVVVVVVVVVVVV.K". */
void chunk_name(char *out, size_t outlen, uint64_t ver, unsigned index);
bool parse_chunk_name(const char *s, uint64_t *ver, unsigned *index);
void mark_in_service(int rootfd);
/* Reads DATA/FORMAT into *format, writing the current one into an empty folder;
 * refuses a newer format or a folder that is not a data folder (why in err). */
int format_check(int rootfd, const char *root, unsigned *format, char *err, size_t errlen);
/* Writes FORMAT, durably, naming the current format. */
int format_write(int rootfd);

/* durable.c: I/O that survives a crash. */
/* The wall clock in nanoseconds since the epoch. */
int64_t now_ns(void);
/* Writes all of data at off: 0, -ENOSPC (disk or quota full) or -EIO. */
int write_all(int fd, const void *data, size_t len, uint64_t off);
/* Reads up to len bytes at off, fewer only at the end of the file: the count or -EIO. */
ssize_t read_full(int fd, void *buf, size_t len, uint64_t off);
int mkdirs_at(int dirfd, const char *path, bool durable, size_t *new_from);
int sync_new_folders(int dirfd, const char *path, size_t new_from);
/* Creates a file in the folder dirfd, to be placed by new_file_place. 0 or -errno. */
int new_file_open(struct new_file *nf, int dirfd);
int new_file_place(struct new_file *nf, const char *final, bool replace);
/* Closes and removes a file not placed; harmless after new_file_place. */
void new_file_discard(struct new_file *nf);
int check_space(int fd, uint64_t done, uint64_t size);
int reserve_space(int fd, uint64_t done, uint64_t end);

/* block_run.c: an upload's consecutive blocks, held to be written in one go. */
#define BLOCK_RUN_MAX (4u << 20)
struct block_run;
struct block_run *block_run_new(struct store *st);
/* Holds *block (page-aligned, DFS_BLOCK_MAX bytes, from aligned_alloc; len bytes
 * of data to go at off, right after the held ones) and puts in *block a free
 * buffer of the same kind. False, taking nothing, when the run has no room or no
 * free buffer can be had within the server's share. */
bool block_run_take(struct block_run *r, void **block, size_t len, uint64_t off);
/* Whether the run has no room for another whole block. */
bool block_run_full(const struct block_run *r);
size_t block_run_bytes(const struct block_run *r);
/* Where the first held block goes. */
uint64_t block_run_from(const struct block_run *r);
/* Writes the held blocks through fd (O_DIRECT) at their offsets, in one call
 * where it can, and empties the run: 0, or write_all's failure. */
int block_run_write(struct block_run *r, int fd);
/* Frees the run and its buffers. NULL is allowed. */
void block_run_free(struct block_run *r);

/* records.c: the records database (see there). */
struct records;
int records_open(struct records **out, const char *root);
void records_close(struct records *r);
/* Copies the record of (user, hash), at most cap bytes, into buf: 0 with *len and
 * (if not NULL) the time it was written, -ENOENT if there is none, -EBADMSG if it
 * does not fit, or -errno. */
int records_get(struct records *r, const char *user, const char *hash, void *buf, size_t cap,
		size_t *len, int64_t *written_ns);
/* A chunk kept in the database: its size, when it was written, and the bytes read. */
struct inline_chunk {
	uint64_t size;
	int64_t written_ns;
	size_t got;
};
/* Reads up to count bytes at offset of chunk (ver, index) of the file, if the
 * database holds it: 0 and *out, -ENOENT if it does not, or -errno. */
int records_chunk_read(struct records *r, const char *user, const char *hash, uint64_t ver,
		       unsigned index, uint64_t offset, void *buf, size_t count,
		       struct inline_chunk *out);
/* Calls fn with every verification kept for the chunks of version ver in the
 * database (vs->ino is the chunk's written_ns then). 0 or -errno. */
typedef void (*verified_fn)(unsigned index, const struct verify_state *vs, void *arg);
int records_verified_each(struct records *r, const char *user, const char *hash, uint64_t ver,
			  verified_fn fn, void *arg);

/* One change to a file's entries; the changes of one records_apply are written together. */
enum rec_op_kind {
	OP_RECORD_PUT,	 /* the record := val */
	OP_RECORD_DEL,	 /* no record */
	OP_LACKING,	 /* the file needs repair (len 1) or not (len 0) */
	OP_CHUNK_PUT,	 /* chunk (ver, index) := val, never verified */
	OP_CHUNK_DEL,	 /* no chunk (ver, index); its verification stays */
	OP_CHUNKS_PRUNE, /* no chunk of a version below `below` and not in keep[] */
	OP_VERIFIED_PUT, /* chunk (ver, index) was verified: vs */
};
struct rec_op {
	enum rec_op_kind kind;
	uint64_t ver;
	unsigned index;
	const void *val;
	size_t len;
	uint64_t below, keep[2];
	unsigned nkeep;
	struct verify_state vs;
};
/* Applies ops to the entries of (user, hash) as one step, and returns once they are
 * on disk. The caller holds the file's lock. 0 or -errno (-ENOSPC when full). */
int records_apply(struct records *r, const char *user, const char *hash, const struct rec_op *ops,
		  unsigned nops);
/* records_apply in two halves, so that one thread can have several changes
 * written by one flush: records_queue queues the change (ops stay the caller's
 * until records_wait returns), records_wait returns once it is on disk. */
struct rec_change {
	char user[USER_MAX + 1], hash[HASH_HEX + 1];
	const struct rec_op *ops;
	unsigned nops;
	int64_t written_ns;
	int rc;
	bool done;
	struct rec_change *next;
};
void records_queue(struct records *r, struct rec_change *c, const char *user, const char *hash,
		   const struct rec_op *ops, unsigned nops);
int records_wait(struct records *r, struct rec_change *c);
int records_put(struct records *r, const char *user, const char *hash, const void *val, size_t len);
/* For the conversion of a format 1 folder: records_put with a given write time,
 * written in batches (records_import_end writes the last one). 0 or -errno. */
int records_import(struct records *r, const char *user, const char *hash, const void *val,
		   size_t len, bool lacking, int64_t written_ns);
int records_import_end(struct records *r);
/* Calls fn for each record of user (NULL: of everyone) in key order, after
 * after_hash (NULL or "": from the first); fn returns 0 to go on, 1 to stop, or
 * -errno, returned. Keys are read in short batches: records added or removed
 * meanwhile may or may not be seen. */
typedef int (*records_fn)(const char *user, const char *hash, void *arg);
int records_each(struct records *r, const char *user, const char *after_hash, records_fn fn,
		 void *arg);
/* The same for every record whose user sorts at or after from_user ("": all). */
int records_each_from(struct records *r, const char *from_user, records_fn fn, void *arg);
/* Calls fn for each file of user whose record names a server that lacks it. */
int records_lacking_each(struct records *r, const char *user, records_fn fn, void *arg);

/* commit.c: the steps of a commit, shared with commit_many.c. */
struct count_totals;
/* A commit being made: the file, its record before and after, and the write. */
struct pending_commit {
	struct file_ref ref;
	const dfs_file_info *info;
	dfs_meta old, m;
	bool have_old;
	struct rec_op ops[COMMIT_OPS_MAX];
	char *record; /* m encoded for ops (malloc), or NULL */
	struct rec_change change;
};
/* Decides whether pc->info may become current (the caller holds its lock, and
 * the quota lock with t the user's totals when q limits): reads the record,
 * applies the version rules, checks the chunks (ops supply some; chunk files
 * found are opened into chunk_fds) and the quota, builds pc->m; with
 * index_name, indexes a new name (else the caller must, before the write).
 * 0 or -errno; commit_free frees pc either way. */
int commit_decide(struct store *st, struct pending_commit *pc, const struct count_totals *t,
		  const struct store_quota *q, const struct rec_op *ops, unsigned nops,
		  int chunk_fds[DFS_HELD_MAX], int *nchunk_fds, bool index_name);
/* After pc->m is written: the counts, and chunk files no longer kept. */
void commit_done(struct store *st, struct pending_commit *pc);
void commit_free(struct pending_commit *pc);
/* Checks a whole small file's record against its len bytes and q, and finds its
 * ref. 0 or -errno. */
int whole_check(struct store *st, const char *user, const dfs_file_info *info, size_t len,
		const struct store_quota *q, struct file_ref *ref);
/* -ENOSPC if len bytes do not fit on the data folder's file system. */
int space_check(struct store *st, uint64_t len);
/* Whether every chunk of info is small enough to be kept in the database. */
bool fits_inline(const struct store *st, const dfs_file_info *info);
/* The operations that store info's chunks, bytes, in the database: their count,
 * or -EBADMSG if a chunk does not match its checksum. */
int inline_ops(const dfs_file_info *info, const char *bytes, struct rec_op ops[DFS_HELD_MAX]);
bool quota_limited(const struct store_quota *q);
/* Adds info, replacing old (NULL: none), to the user's totals t. */
void quota_count(struct count_totals *t, const dfs_file_info *old, const dfs_file_info *info);

/* record.c: a file's record. */
/* Reads the record of (user, hash). With name, it must be that name's; otherwise its
 * name must hash to hash. 0, -ENOENT (no record) or -EBADMSG/-EIO. */
int meta_read(struct store *st, const char *user, const char *hash, const void *name,
	      size_t name_len, dfs_meta *out);
/* meta_read of a record known by its hash, also telling when it was last written. */
int meta_read_written(struct store *st, const char *user, const char *hash, dfs_meta *out,
		      int64_t *written_ns);
/* Replaces the record with meta, durably, after flushing the chunk files flush_too
 * and their folder, together with the operations extra (chunks kept in the
 * database) and the removal of the database's chunks meta no longer keeps. */
int meta_write_ops(struct store *st, const struct file_ref *ref, const dfs_meta *meta,
		   const int *flush_too, int nflush, const struct rec_op *extra, unsigned nextra);
/* The operations that write meta with extra, into ops (room for ops_max: nextra
 * and three more), the record encoded into buf (len bytes: META_BUF holds any
 * record). Their count, or -EINVAL. */
int meta_ops(const dfs_meta *meta, const struct rec_op *extra, unsigned nextra, struct rec_op *ops,
	     unsigned ops_max, char *buf, size_t len);
int meta_write_with(struct store *st, const struct file_ref *ref, const dfs_meta *meta,
		    const int *flush_too, int nflush);
int meta_write(struct store *st, const struct file_ref *ref, const dfs_meta *meta);
int meta_remove(struct store *st, const struct file_ref *ref);
/* Decodes and checks a record's XDR (as meta_read does); for the conversion. */
int meta_decode(const void *buf, size_t len, const void *name, size_t name_len, const char *hash,
		dfs_meta *out);
const dfs_file_info *meta_version(const dfs_meta *m, uint64_t ver);
bool version_kept(const dfs_meta *m, uint64_t v);
int remove_old_chunks(struct store *st, const char *dir, const dfs_meta *m, uint64_t below,
		      bool later);
int missing_version(const dfs_meta *m, uint64_t ver);

/* trash.c: chunk files removed after the call that no longer needs them. */
struct trash;
/* Starts the thread that removes what trash_file moves aside. 0 or -errno. */
int trash_start(struct store *st);
/* Stops it; what it has not removed yet goes at the next start (tmp/ is emptied). */
void trash_stop(struct store *st);
/* Moves dir_fd/name into tmp/, to be removed soon; where it cannot, removes it
 * now. 0 or -errno. */
int trash_file(struct store *st, int dir_fd, const char *name);

/* list.c: walks of the data folder. */
typedef int (*folder_fn)(struct store *st, const char *user, const char *hash, const char *dir,
			 void *arg);
/* Calls fn for each file folder u/USER/HH/HASH (holding chunk files), stopping at a
 * negative return. */
int walk_folders(struct store *st, folder_fn fn, void *arg);
/* Calls fn for each record, stopping at a negative return. */
typedef int (*record_fn)(struct store *st, const char *user, const char *hash, void *arg);
int walk_records(struct store *st, record_fn fn, void *arg);

/* name_index.c: the name index (see there). */
struct name_index;
/* Opens DATA/names; *rebuild tells that it was emptied and must be refilled with
 * name_index_add for every record (in one transaction, before any other use),
 * then name_index_refilled. 0 or -errno. */
int name_index_open(struct name_index **out, int rootfd, const char *root, bool *rebuild);
int name_index_refilled(struct name_index *n);
/* The counts (counts.h), kept beside the names under the same rule: saved at a
 * clean stop, loaded (into empty counts) at the next start if the index is
 * trusted; -ENOENT when none were saved. Either is 0 or -errno. */
int name_index_save_counts(struct name_index *n, struct counts *c);
int name_index_load_counts(struct name_index *n, struct counts *c);
/* Closes the index; with clean, flushed and marked clean first. NULL is fine. */
void name_index_close(struct name_index *n, int rootfd, bool clean);
/* Adds or replaces (user, name) -> hash; before the record is first written. */
int name_index_add(struct name_index *n, const char *user, const void *name, size_t len,
		   const char *hash);
/* name_index_add of several names of user, in one transaction. */
struct name_entry {
	const void *name;
	size_t len;
	const char *hash;
};
int name_index_add_many(struct name_index *n, const char *user, const struct name_entry *e,
			unsigned count);
/* Removes the entry; after the record is removed. */
int name_index_remove(struct name_index *n, const char *user, const void *name, size_t len,
		      const char *hash);
struct name_index_query {
	const void *prefix, *after; /* names beginning with prefix, strictly after `after` */
	size_t prefix_len, after_len;
};
/* Called in name order; returns 0 to go on, 1 to stop (the entry not taken), or
 * -errno. name points into the index: valid only during the call. */
typedef int (*name_index_fn)(const char *hash, const void *name, size_t len, void *arg);
/* Calls fn for each of user's entries q selects, in byte order of the names. *eof
 * is set when no entry is left (fn never stopped the scan). */
int name_index_scan(struct name_index *n, const char *user, const struct name_index_query *q,
		    name_index_fn fn, void *arg, bool *eof);
/* Calls fn with each user who has entries, in byte order, after `after` ("" for
 * all), until fn returns nonzero (negative: an error, returned). *eof when the
 * users ran out. 0 or -errno. */
typedef int (*name_index_user_fn)(const char *user, void *arg);
int name_index_users(struct name_index *n, const char *after, name_index_user_fn fn, void *arg,
		     bool *eof);

/* housekeep.c: clean-up of the data folder. */
int clean_tmp(int rootfd, bool all, unsigned max_age_s);

#endif
