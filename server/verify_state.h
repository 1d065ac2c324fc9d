/* verify_state.h: when a chunk copy was last verified and what was found.
 *
 * Kept in a small sidecar file next to the copy VVVVVVVVVVVVVVVV.K, named
 * VVVVVVVVVVVVVVVV-K.verified (no ".K" in it, so no glob for chunk files matches it),
 * replaced by write-rename under the file folder's lock: a crash leaves the
 * old state or the new one. No sidecar means "never verified", so data folders
 * written before sidecars existed need no conversion. The state names the
 * inode of the copy it was taken on: a copy rewritten since (after a
 * quarantine) is again "never verified".
 */
#ifndef DFS_VERIFY_STATE_H
#define DFS_VERIFY_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VERIFY_STATE_SUFFIX ".verified"
#define VERIFY_STATE_TMP    ".verified.tmp"
#define VERIFY_CHUNK_NAME   32 /* bytes for a chunk file name and its NUL */

struct verify_state {
	int64_t when_ns; /* CLOCK_REALTIME of the verification */
	int result;	 /* a dfs_stat: DFS_OK or DFS_EBADMSG */
	uint64_t ino;	 /* inode of the copy that was read */
};

/* The text of a state ("dfs-verified 1 WHEN RESULT INO\n") into buf.
 * Returns its length, or -ENAMETOOLONG if it does not fit. */
int verify_state_format(const struct verify_state *vs, char *buf, size_t len);
/* Parses that text (len bytes). 0, or -EBADMSG for anything else. */
int verify_state_parse(const char *text, size_t len, struct verify_state *out);

/* Whether name is a sidecar or its temporary; chunk gets the name of the
 * chunk file it belongs to (not checked further). */
bool verify_state_name(const char *name, char chunk[VERIFY_CHUNK_NAME], bool *is_tmp);

/* Writes the state of chunk file `chunk` in the folder dirfd, durably.
 * The caller holds the folder's lock. 0 or -errno. */
int verify_state_write(int dirfd, const char *chunk, const struct verify_state *vs);
/* Reads it: 0, -ENOENT (never verified) or -EBADMSG (unreadable). */
int verify_state_read(int dirfd, const char *chunk, struct verify_state *out);

#endif
