/* store.h: chunk storage in a server's data folder.
 *
 * Layout (format 2):
 *   DATA/FORMAT                       "dfs-data 2\n"; a newer number is refused, an
 *                                     older one converted by store_upgrade
 *   DATA/records/                     LMDB: every file's record (XDR dfs_meta:
 *                                     current and previous version), the index
 *                                     of files needing repair, and the chunks of
 *                                     small files (records.c)
 *   DATA/tmp/                         partial uploads; emptied at start
 *   DATA/u/USER/HH/HASH/              one folder per file with chunk files; HASH =
 *                                     hex SHA-256 of the name, HH its first two
 *                                     digits, so no path is ever built from a name
 *   .../HASH/VVVVVVVVVVVVVVVV.K       chunk K of version V (16 hex digits),
 *                                     raw bytes, present once verified+fsynced
 *   DATA/names/                       the name index: every record's name in
 *                                     byte order, for listings by prefix; derived
 *                                     from the records and rebuilt from them at
 *                                     start unless the last stop was clean
 *
 * A chunk is received into tmp/, its checksum checked, fsync'ed and renamed
 * to VVVVVVVVVVVVVVVV.K; a small file's chunks come whole with STORE and go
 * into the database. store_commit then writes the record, which is what makes a
 * version current: the switch is atomic for all the chunks the server holds.
 * Chunks of older versions that the record names neither as current nor
 * previous are removed by commit and delete; abandoned staged chunks of
 * newer versions by housekeeping. A tombstone is a record whose current
 * version has deleted = TRUE.
 *
 * All functions are thread-safe. Names are raw bytes and are checked here
 * (name_check) as well as by callers; user names are checked (user_name_check).
 */
#ifndef DFS_STORE_H
#define DFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dfs_prot.h"

#define STORE_FORMAT 2
/* Chunks of small files stored whole (STORE) up to this size are kept in the
 * records database rather than as files: the default, and the largest allowed. */
#define STORE_INLINE_MAX   (64 * 1024)
#define STORE_INLINE_LIMIT (1024 * 1024)

struct store;
struct store_upload;

/* Opens the data folder, creating it (and FORMAT) if empty; refuses a folder
 * of a newer format or one that is not a dfs data folder; empties tmp/.
 * 0 or -errno with the reason in err. */
int store_open(struct store **out, const char *root, char *err, size_t errlen);
void store_close(struct store *st);
/* Sets the size up to which the chunks of a STORE go in the records database
 * (STORE_INLINE_MAX when not set; 0: never). */
void store_set_inline_max(struct store *st, unsigned bytes);

/* Converts the data folder at root from an older format to this one, offline:
 * refused (-EBUSY) while a dfsd has it open. FORMAT is written last, so an
 * interrupted conversion is run again. Prints nothing; what it did in report
 * and why it failed in err. 0 or -errno. */
int store_upgrade(const char *root, char *report, size_t reportlen, char *err, size_t errlen);

/* Removes every record of user from the data folder at root, which a running
 * dfsd may have open (dfsadm remove --purge): *removed counts them. 0 or -errno
 * (-ENOENT when the folder has no records). */
int store_purge_records(const char *root, const char *user, unsigned long *removed);

/* Starts receiving chunk `index` of version `ver` of a file, `size` bytes.
 * If an identical upload (same user, name, ver, index, size) was interrupted,
 * resumes it: *offset is the count of bytes already staged (else 0).
 * -EINVAL (bad name / index 0), -ENOSPC if the disk lacks room for size. */
int store_upload_begin(struct store *st, const char *user, const void *name, size_t name_len,
		       uint64_t ver, unsigned index, uint64_t size, struct store_upload **out,
		       uint64_t *offset);
/* Appends data at offset, which must equal the bytes staged so far
 * (-EINVAL otherwise; -EFBIG past size; -ENOSPC, -EIO from the disk). */
int store_upload_write(struct store_upload *up, uint64_t offset, const void *data, size_t len);
/* As store_upload_write, for data in *block, a page-aligned buffer of DFS_BLOCK_MAX
 * bytes from aligned_alloc that the caller lends: the upload may hold it back to
 * write it with the blocks that follow, and then puts another such buffer, free,
 * in *block. A held block that fails to be written fails the call that writes it
 * (a later write, or store_upload_finish); store_upload_suspend writes what it
 * holds and keeps only the bytes before a failure. */
int store_upload_write_block(struct store_upload *up, uint64_t offset, void **block, size_t len);
/* Checks that the whole size arrived and its XXH3-64 equals checksum
 * (-EBADMSG otherwise; the upload is then discarded), fsyncs and renames it
 * into place. Always frees up. */
int store_upload_finish(struct store_upload *up, uint64_t checksum);

/* For a writer that fills the chunk itself (recovery writes what it downloads
 * straight into place): the staged file, read-write, with room for the whole
 * size reserved; -errno if there is none. The writer writes all size bytes at
 * their offsets, checking them against the chunk's checksum as it writes,
 * then calls store_upload_finish_written, which checks the size (-EBADMSG)
 * and finishes as store_upload_finish. */
int store_upload_fd(struct store_upload *up);
int store_upload_finish_written(struct store_upload *up);

/* Discards an unfinished upload and frees it. NULL is fine. */
void store_upload_abort(struct store_upload *up);
/* Keeps the staged bytes for a later resume and frees up (connection lost). */
void store_upload_suspend(struct store_upload *up);

/* Stores the chunks of info whole from data (their bytes in info->chunks order,
 * each checked against its checksum: -EBADMSG) and commits them as store_commit
 * does: one step for a small file. -EINVAL if the sizes do not add up to len,
 * -ENOSPC if the disk lacks room. */
int store_put_whole(struct store *st, const char *user, const dfs_file_info *info, const void *data,
		    size_t len);

/* Makes info->ver current for info->name, durably: the chunks in info->chunks
 * are flushed to disk before the record that names them. Every chunk must
 * be present for that version with that size (-ENOENT otherwise; the
 * checksums are recorded as given, having been checked at upload). If the
 * current version is newer (or a newer tombstone exists): -ESTALE and
 * nothing changes. Committing the current version again is allowed (it
 * refreshes chunks and lacking); the same version with another size or
 * digest is refused with -EEXIST. The old current becomes previous; older
 * chunk files are removed. info->deleted must be FALSE. */
int store_commit(struct store *st, const char *user, const dfs_file_info *info);

/* A user's limits (users.h): bytes of file data, counted as the whole sizes
 * (dfs_file_info.size) of their live files, and live files; 0 = no limit.
 * Every server holds part of every file, so every server's counts see all of
 * a user's files and each can check the limits alone. */
struct store_quota {
	uint64_t bytes, files;
};
/* store_commit, refused with -EDQUOT (nothing changes) when the version
 * would take the user's bytes or files above q: an overwrite counts the new
 * size minus the old, a new name one more file; a commit that adds nothing
 * is allowed even over the limit. The check and the count update are one
 * step per server (a lock held across them), so concurrent commits of one
 * user cannot both pass it. q NULL or all zero: no limit. */
int store_commit_quota(struct store *st, const char *user, const dfs_file_info *info,
		       const struct store_quota *q);
/* store_put_whole with the same quota check; on -EDQUOT nothing is left. */
int store_put_whole_quota(struct store *st, const char *user, const dfs_file_info *info,
			  const void *data, size_t len, const struct store_quota *q);
/* Several small files stored whole, as store_put_whole_quota would store each
 * (results[i] its 0 or -errno), those whose chunks are kept in the records
 * database written together by one flush. Returns 0. */
struct store_whole {
	const dfs_file_info *info;
	const void *data;
	size_t len;
};
int store_put_whole_many(struct store *st, const char *user, const struct store_whole *files,
			 unsigned n, const struct store_quota *q, int *results);
/* Early refusal for an upload of a size-byte chunk: -EDQUOT when the chunk
 * alone exceeds the byte limit, or the user is already at the file limit and
 * at or over the byte limit. The full check is at commit. */
int store_quota_precheck(struct store *st, const char *user, const struct store_quota *q,
			 uint64_t size);

/* Removes staged (uncommitted) chunk files of (name, ver). If ver is the
 * file's current version here (its put failed on other servers after this
 * one committed), the commit is undone: the version it replaced is current
 * again, or a tombstone at ver if it replaced no live file. */
int store_abort(struct store *st, const char *user, const void *name, size_t name_len,
		uint64_t ver);

/* The file's record. 0 and *out filled (free with xdr_free(xdr_dfs_meta)),
 * -ENOENT if this server has no record (file or tombstone) for it. */
int store_lookup(struct store *st, const char *user, const void *name, size_t name_len,
		 dfs_meta *out);

/* Reads up to count bytes at offset of chunk index of version ver, if this
 * server holds that chunk: committed, or staged whole and verified (readers
 * only ask for versions that some server committed, and check every byte).
 * Otherwise -ESTALE if the version is no longer kept, -ENOENT if not held.
 * *got = bytes read (short only at the chunk's end). */
int store_read(struct store *st, const char *user, const void *name, size_t name_len, uint64_t ver,
	       unsigned index, uint64_t offset, void *buf, size_t count, size_t *got);

/* Deletes the file at version ver: writes a tombstone (recording the
 * servers known to miss it, lacking[0..nlacking)) and removes its chunk
 * files. -ESTALE if a newer version exists (nothing changes); -ENOENT if
 * there was no live file (a tombstone is still written or advanced, so
 * a lagging copy never revives it). */
int store_delete(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, const unsigned *lacking, unsigned nlacking);

/* How many of user's files have a current record naming a server that lacks
 * them (read from the repair index, not from every record). 0 or -errno. */
int store_lacking_files(struct store *st, const char *user, uint64_t *files);

/* Lists the user's records (tombstones included), ordered by name hash,
 * starting after cookie (empty = the start). Fills at most max entries
 * (free each with xdr_free(xdr_dfs_file_info)); writes the next cookie
 * (64 hex digits + NUL) and *eof. */
int store_list(struct store *st, const char *user, const char *cookie, dfs_file_info *entries,
	       unsigned max, unsigned *count, char next_cookie[65], bool *eof);

/* Lists the user's records (tombstones included) in byte order of their names:
 * only names beginning with prefix, strictly after `after` (after_len 0: from
 * the first), at most max (free each with xdr_free(xdr_dfs_file_info)). Reads
 * the name index from the prefix on, and the records it returns: the cost
 * follows the page, not the number of files. *eof when nothing is left. */
int store_list_names(struct store *st, const char *user, const void *prefix, size_t prefix_len,
		     const void *after, size_t after_len, dfs_file_info *entries, unsigned max,
		     unsigned *count, bool *eof);

/* The users with records here (files or deletes), in byte order, after `after`
 * ("" for the first), at most max (1..DFS_LIST_MAX); *eof when none is left. */
int store_list_users(struct store *st, const char *after, char (*users)[65], unsigned max,
		     unsigned *count, bool *eof);

/* Re-reads each chunk this server holds of (name, ver) and checks it against
 * the recorded checksum. checks[] gets one entry per chunk held (at most
 * DFS_HELD_MAX): DFS_OK, DFS_EBADMSG (bit rot) or DFS_ENOENT (file missing).
 * Each DFS_OK and DFS_EBADMSG is recorded as the copy's last verification. */
int store_verify(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, dfs_chunk_check *checks, unsigned *count);

/* Paces a long read: fn is called after each block of bytes read; a negative
 * return stops the read (the server is stopping). */
struct store_pace {
	int (*fn)(void *arg, size_t bytes);
	void *arg;
};
/* What a scrub of one file found. */
struct store_scrub_tally {
	uint64_t copies, bytes, corrupt;
	uint64_t missing; /* listed by the record but absent */
};
/* Calls fn with the user and name hash of every file that has a record, in byte
 * order of (user, hash), from the first user at or after from_user (""
 * for all); fn returns 0 to go on, 1 to stop, or a negative value, returned.
 * Files added or removed meanwhile may or may not be seen. */
typedef int (*store_file_fn)(const char *user, const char *hash, void *arg);
int store_each_file(struct store *st, const char *from_user, store_file_fn fn, void *arg);
/* Re-reads every chunk copy this server keeps of the file (USER, HASH) (its
 * current and its previous version) against the recorded checksums, recording
 * each result (verify_state.h). A copy that fails is moved to DATA/quarantine/
 * (named USER-HASH-VVVVVVVVVVVVVVVV.K) and dropped from the record, which then
 * lists server `self` as lacking it: it is no longer served, and a client's
 * read repair, repair pass or catch-up rewrites it. A copy the record lists
 * but the server lacks is dropped from the record the same way. 0, -EINTR if pace stopped
 * it, or -errno. A folder without a record is no error. */
int store_scrub_file(struct store *st, const char *user, const char *hash, unsigned self,
		     const struct store_pace *pace, struct store_scrub_tally *t);

/* The last verification of one copy. */
struct store_verified {
	unsigned index;
	int64_t when_ns;
	int result; /* DFS_OK, or DFS_EBADMSG: found corrupt (and quarantined by a scrub) */
};
/* The copies of (name, ver) whose last verification still applies: a copy
 * verified and unchanged since, or one quarantined and not yet rewritten. At
 * most DFS_HELD_MAX entries in out. -ESTALE/-ENOENT as store_read. */
int store_verified(struct store *st, const char *user, const void *name, size_t name_len,
		   uint64_t ver, struct store_verified *out, unsigned *count);

struct store_stats {
	uint64_t files, chunks, bytes, chunks_need_repair;
	uint64_t logical_bytes; /* the whole sizes of the live files */
	uint64_t space_free, space_total;
};
/* Live files, their chunks and bytes, and chunks whose version lists servers
 * that lack them (see counts.h), from counts kept at every change: the cost
 * does not grow with the number of files. Also the filesystem's free space.
 * store_user_stats gives one user's share; store_stats_walk counts the same
 * by reading every record (what the kept counts must always equal). */
int store_stats(struct store *st, struct store_stats *out);
int store_user_stats(struct store *st, const char *user, struct store_stats *out);
int store_stats_walk(struct store *st, struct store_stats *out);

/* Removes what is no longer needed: tmp/ files older than max_tmp_age_s,
 * chunk files of versions meta no longer names, tombstones older than
 * tombstone_ttl_s. Returns the number of files removed or -errno. */
int store_housekeep(struct store *st, unsigned max_tmp_age_s, unsigned tombstone_ttl_s);

/* The retention rule housekeeping applies (see docs/operations.md). */
struct store_retention {
	unsigned max_tmp_age_s;	  /* tmp/ files and abandoned staged chunks */
	unsigned tombstone_ttl_s; /* tombstones that no server is known to miss */
	unsigned previous_ttl_s;  /* a superseded version, counted from its replacement */
};
/* As store_housekeep, and also drops a file's previous version once the
 * commit that replaced it is older than previous_ttl_s (UINT_MAX: never).
 * A tombstone that lists servers lacking it is never removed. Marks the
 * folder as in service. Returns the number of files removed or -errno. */
int store_housekeep_retention(struct store *st, const struct store_retention *r);

/* Checks when the folder was last in service (the IN-SERVICE marker, touched
 * at start and by housekeeping). 0 (and the marker is refreshed) if within
 * max_age_s or never marked; -ESTALE with the date in when if older: the
 * folder may come from an old backup or a long outage, and tombstones that
 * would keep its deleted files deleted may have expired elsewhere. */
int store_check_in_service(struct store *st, unsigned max_age_s, char *when, size_t whenlen);

#endif
