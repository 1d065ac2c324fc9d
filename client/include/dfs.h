/* dfs.h: the whole public API of libdfs, the dfs client library.
 *
 * Every function returns 0 (or a count) on success and a negative errno
 * value on failure; dfs_strerror() explains one, and dfs_last_error() gives
 * the last failure's full story in words (which server, what to do).
 * Functions taking a struct dfs_client are not safe to call concurrently on
 * the same client; use one client per thread.
 *
 * Results: every result is allocated by the library, returned through a
 * pointer, and freed with the *_free function declared beside it; lists hold
 * pointers to their entries. A caller never allocates a result struct or
 * steps through an array of them, so a later libdfs of the same SOVERSION
 * may add fields at the end of any struct declared here.
 */
#ifndef DFS_H
#define DFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DFS_API __attribute__((visibility("default")))
#else
#define DFS_API
#endif

#define DFS_NAME_MAX_BYTES 4096 /* a whole name; each '/'-separated component at most 255 */
#define DFS_SERVERS_MAX	   64	/* servers in a cluster, and so chunks in a file */

struct dfs_client;

/* Reads the client configuration at config_path (NULL: $DFS_CONFIG, then
 * ~/.config/dfs/dfs.conf, then /etc/dfs/dfs.conf). Connects to nothing yet.
 * *out is NULL on failure; the reason is in dfs_last_error(NULL). */
DFS_API int dfs_client_new(struct dfs_client **out, const char *config_path);
/* Closes every connection, ends the sessions and frees the client. NULL is fine. */
DFS_API void dfs_client_free(struct dfs_client *c);

/* Connects to every server in parallel and logs in with SCRAM-SHA-256 on each
 * one that answers (the password is salted once). Succeeds if at least one
 * server accepted; servers that are down are reported through the event
 * callback and tolerated. With every server up, and some server recording
 * files of this user that another missed, it then repairs them (a server
 * back from an outage is caught up this way). -EACCES: wrong user or
 * password; -EHOSTDOWN: no server answered. */
DFS_API int dfs_login(struct dfs_client *c, const char *user, const char *password);

/* A second client on owner's session, for transfers in parallel (one client
 * per thread): it opens its own connections to the servers owner is logged
 * in to and uses the same session, without a new login. Its events go to
 * owner's handler (one at a time); its errors stay its own. Free it before
 * owner; freeing it does not end the session. On failure *out is NULL and
 * the reason is in dfs_last_error(NULL). */
DFS_API int dfs_client_share(struct dfs_client *owner, struct dfs_client **out);

#define DFS_SHARES_PREPARED_MAX 8
/* Before dfs_login: n clients (at most DFS_SHARES_PREPARED_MAX) will be made
 * by dfs_client_share right after it. Their connections are opened while the
 * login derives its key, and each of those clients takes one per server, so
 * they are ready when the login ends. A connection not taken within a second
 * is not handed over; all close with c. 0 (the default) prepares none.
 * 0, or -EINVAL (n too large) or -ENOMEM. */
DFS_API int dfs_prepare_shares(struct dfs_client *c, unsigned n);

/* Events reported while operations run (warnings, progress, detail). */
enum dfs_event_kind {
	DFS_EVENT_SERVER_DOWN,	 /* server could not be reached; text says why */
	DFS_EVENT_WARNING,	 /* something degraded but the operation goes on */
	DFS_EVENT_PROGRESS,	 /* bytes done of total for the current file */
	DFS_EVENT_CHUNK_SERVED,	 /* chunk `chunk` moved to/from `server` */
	DFS_EVENT_REPAIRED,	 /* a missing, stale or corrupt copy was rewritten */
	DFS_EVENT_CERT_EXPIRING, /* server certificate expires within 30 days */
};
struct dfs_event {
	enum dfs_event_kind kind;
	unsigned server;      /* 1-based, 0 if none */
	unsigned chunk;	      /* 1-based, 0 if none */
	const char *name;     /* remote name concerned, or NULL */
	uint64_t done, total; /* bytes, for PROGRESS */
	const char *text;     /* a sentence, for SERVER_DOWN, WARNING, REPAIRED */
};
typedef void (*dfs_event_fn)(const struct dfs_event *ev, void *arg);
DFS_API void dfs_set_event_handler(struct dfs_client *c, dfs_event_fn fn, void *arg);

/* Stores the local file at path as remote_name (a new version; readers see
 * the old or the new file whole). Reads the file once, streams each chunk
 * to both of its servers. Succeeds with one server of a pair down (a
 * warning event names it). -ENOENT / -EACCES on the local file, -EINVAL on
 * a bad name, -EHOSTDOWN if some chunk could not be stored anywhere,
 * -ENOSPC if a server is full. */
DFS_API int dfs_put(struct dfs_client *c, const char *path, const char *remote_name);

/* Fetches remote_name into local_path: written to a temporary file beside
 * it, renamed into place only once every chunk is verified; on failure no
 * file is created and an existing one is untouched. Modification time kept.
 * -ENOENT: no such file; -EIO: some chunk unreadable or corrupt everywhere. */
DFS_API int dfs_get(struct dfs_client *c, const char *remote_name, const char *local_path);
/* The same to an open descriptor (e.g. stdout): each chunk is written once
 * verified, so a failure may leave earlier chunks written. */
DFS_API int dfs_get_fd(struct dfs_client *c, const char *remote_name, int fd);

/* The outcome of file i of dfs_put_files or dfs_get_files: 0 or dfs_put's
 * (dfs_get's) -errno, with why the sentence dfs_last_error would give. */
typedef void (*dfs_file_done_fn)(size_t i, int err, const char *why, void *arg);
/* dfs_put of paths[i] as names[i] for i < n, each file on its own as dfs_put
 * says, but small files share their calls to the servers (and the servers'
 * flushes), several files per call. done is called once per file, on this
 * thread, before the function returns. Returns 0 when every file was
 * stored, else the -errno of a file that was not. */
DFS_API int dfs_put_files(struct dfs_client *c, size_t n, const char *const *paths,
			  const char *const *names, dfs_file_done_fn done, void *arg);
/* dfs_get of names[i] into local_paths[i] for i < n, in the same way: the
 * records and bytes of small files come several per call. */
DFS_API int dfs_get_files(struct dfs_client *c, size_t n, const char *const *names,
			  const char *const *local_paths, dfs_file_done_fn done, void *arg);

/* Removes every copy of remote_name. -ENOENT if no server that answered had it. */
DFS_API int dfs_delete(struct dfs_client *c, const char *remote_name);

struct dfs_file {
	char *name;
	uint64_t size;
	uint64_t version;
	int64_t mtime_ns;
	unsigned nchunks;
	/* copies[k] (k < nchunks) = good current copies of chunk k+1 on servers
	 * that answered */
	unsigned *copies;
	/* holders[k]: bit s-1 set when server s answered with a good current
	 * copy of chunk k+1 (servers are numbered 1..DFS_SERVERS_MAX) */
	uint64_t *holders;
	bool readable; /* every chunk has a copy on a live server */
	bool degraded; /* some chunk has fewer than two copies */
	bool diverged; /* live servers disagree about its newest version,
			  or one records a server that lacks it */
};
struct dfs_file_list {
	size_t count;
	struct dfs_file **files; /* count entries, sorted by name */
};
/* The user's files, sorted by name, merged from every server that answers. */
DFS_API int dfs_list(struct dfs_client *c, struct dfs_file_list **out);
/* dfs_list of the files whose names begin with prefix (byte for byte; NULL or
 * "" for all), only the first limit of them in name order (0: no limit); the
 * servers send only those names (older servers send all, and the rest are
 * dropped). -ENAMETOOLONG for a prefix longer than a name can be. Free *out
 * with dfs_file_list_free. */
DFS_API int dfs_list_prefix(struct dfs_client *c, const char *prefix, size_t limit,
			    struct dfs_file_list **out);
DFS_API void dfs_file_list_free(struct dfs_file_list *list);

struct dfs_server_info {
	unsigned number;
	char address[300]; /* host:port */
	uint32_t program;
	bool up;
	bool tls;
	double rtt_ms;
	char software[64];
	uint64_t space_free, space_total;
	uint64_t files, chunks, bytes_stored, chunks_need_repair;
	uint64_t bytes_read, bytes_written, reads;
	char error[256]; /* why it is down, if it is */
	/* The logged-in user's limits (0 = none) and usage: the whole sizes of
	 * their live files, as this server counts them. */
	uint64_t quota_bytes, quota_files, logical_bytes;
	/* The server's own scrub of the copies it holds (has_scrub false: the server
	 * does not say, being older or not logged in). Items are chunk copies; the
	 * totals are what the current (or last) pass had to read when it began. */
	bool has_scrub, scrub_running;
	uint64_t scrub_items_done, scrub_items_total, scrub_bytes_done, scrub_bytes_total;
	uint64_t scrub_corrupt;	  /* copies found corrupt since the server started */
	int64_t scrub_started_s;  /* start of the current or last pass (Unix time); 0 none */
	int64_t scrub_last_end_s; /* end of the last finished pass; 0 none */
	/* The server's recovery from the other servers (has_recovery false: it
	 * does not recover by itself, or does not say). Items are users. */
	bool has_recovery, recovery_running;
	uint64_t recovery_users_done, recovery_users_total;
	uint64_t recovery_bytes_done; /* chunk bytes copied in the current or last pass */
	uint64_t recovery_errors;     /* copies not made good since the server started */
	int64_t recovery_started_s;   /* start of the current or last pass; 0 none */
	int64_t recovery_last_end_s;  /* end of the last finished pass; 0 none */
};
struct dfs_server_list {
	size_t count;
	struct dfs_server_info **servers; /* one per configured server, by number */
};
/* Every configured server, up or not, with its figures. */
DFS_API int dfs_status(struct dfs_client *c, struct dfs_server_list **out);
DFS_API void dfs_server_list_free(struct dfs_server_list *list);

struct dfs_location {
	unsigned server;	/* 1-based */
	unsigned first, second; /* the chunk pair by the placement table */
	bool up;
	int held; /* chunks the server reports holding: -1 unknown
		     (down), else a bitmask: 1 = first, 2 = second */
};
struct dfs_placement {
	size_t count;
	struct dfs_location **servers; /* one per configured server, by number */
};
/* The placement of remote_name on every server, with what each live server
 * reports. */
DFS_API int dfs_locate(struct dfs_client *c, const char *remote_name, struct dfs_placement **out);
DFS_API void dfs_placement_free(struct dfs_placement *placement);

/* What a repair or a scrub found and did. */
struct dfs_repair_report {
	uint32_t files;	    /* files looked at */
	uint32_t verified;  /* chunk copies whose bytes their server re-read and checked */
	uint32_t corrupt;   /* copies found corrupt */
	uint32_t rewritten; /* copies written (missing, stale or corrupt ones) */
	uint32_t failed;    /* copies that could not be made good, each named by a
			     * warning event (a server down or failing, no good copy left) */
};

/* Brings every chunk of remote_name (NULL: every file) back to two good
 * current copies: every copy considered is verified by its
 * server (VERIFY) and missing, stale or corrupt ones are rewritten from a good
 * one; deletes propagate. With report non-NULL, *report says what was found
 * and done (free it with dfs_repair_report_free), also on failure; it is
 * NULL only when memory ran out. Returns 0 when every copy considered is good
 * now, -EIO when some could not be made good ((*report)->failed of them), or
 * another -errno. */
DFS_API int dfs_repair(struct dfs_client *c, const char *remote_name,
		       struct dfs_repair_report **report);

/* As dfs_repair, for remote_name or (NULL) every live file: every server
 * re-reads its copies and checks them against their checksums, and corrupt
 * ones are rewritten from a good one (spreading deletes is dfs_repair's). */
DFS_API int dfs_scrub(struct dfs_client *c, const char *remote_name,
		      struct dfs_repair_report **report);
DFS_API void dfs_repair_report_free(struct dfs_repair_report *report);

/* Resuming interrupted transfers (off by default). While a put runs, what it
 * stores is recorded in $XDG_CACHE_HOME/dfs/resume (default ~/.cache/dfs/
 * resume); with resume on, a put of the same unchanged local file to the
 * same name and servers continues that upload: chunks already stored are
 * not sent again, nor the bytes each server already staged of the others.
 * A get writes into ".NAME.dfs-part" beside the target, with a sidecar
 * ".NAME.dfs-part.state" counting the bytes of each chunk written; with
 * resume on, a failed get keeps both, and the next get of the same version
 * fetches only what is missing (every chunk is still verified whole). */
DFS_API void dfs_set_resume(struct dfs_client *c, bool on);

/* Replaces the logged-in user's password on every live server. Each server
 * needs proof of the current password bound to a session, so this logs in
 * afresh with current_password on every server first, then sends each the new
 * SCRAM verifier (computed here, same iteration count as the login's) with that
 * proof; neither password leaves the process. The fresh sessions replace the
 * client's old ones; every other session of the user ends. Returns 0 when
 * every server took the new password; -EIO when only some did; another -errno
 * when none did: -EACCES if current_password is wrong, -EPERM outside TLS,
 * -EROFS if the servers may not write their user database. *not_updated (if
 * not NULL) is the number of servers that did not take it, each named by a
 * warning event. */
DFS_API int dfs_change_password(struct dfs_client *c, const char *current_password,
				const char *new_password, unsigned *not_updated);

/* The state of one copy of a chunk. */
enum dfs_copy_state {
	DFS_COPY_GOOD,	  /* holds this version of the chunk */
	DFS_COPY_MISSING, /* answered without holding it */
	DFS_COPY_STALE,	  /* holds only an older (or other) version */
	DFS_COPY_DOWN,	  /* did not answer */
	DFS_COPY_CORRUPT, /* found bad by its server's last verification */
};
struct dfs_copy {
	unsigned server; /* 1-based */
	enum dfs_copy_state state;
	uint64_t version;    /* the server's current version, 0 if none */
	int64_t verified_ns; /* when its server last verified it good; 0: never */
};
struct dfs_chunk_state {
	unsigned index; /* 1-based */
	uint64_t offset, size;
	uint64_t checksum;	    /* XXH3-64 of the chunk, 0 if unknown */
	struct dfs_copy *copies[2]; /* its first and second holder */
};
struct dfs_file_stat {
	char *name;
	uint64_t size;
	uint64_t version;
	int64_t mtime_ns;
	uint64_t digest; /* XXH3-64 over the chunk checksums */
	unsigned nchunks;
	unsigned row;			 /* placement row */
	bool readable;			 /* every chunk has a good copy on a live server */
	struct dfs_chunk_state **chunks; /* nchunks entries, by index */
};
/* The newest version of remote_name and the state of every copy of every
 * chunk, from a LOOKUP on every server. -ENOENT if no server has it (or
 * the newest record is a delete). */
DFS_API int dfs_stat_file(struct dfs_client *c, const char *remote_name,
			  struct dfs_file_stat **out);
DFS_API void dfs_file_stat_free(struct dfs_file_stat *st);

/* Ranged reads. dfs_open pins the newest readable version of remote_name, so
 * a long read is not torn by puts running meanwhile (servers keep a replaced
 * version while readers may need it; once it is gone dfs_pread fails with
 * -ESTALE); a small file comes whole with its records. dfs_pread fetches only
 * the bytes asked for, from the first holder of each chunk or, when that one
 * fails, from the other (a piece of 2 MiB or more, not a whole chunk, half from
 * each holder at once); *got is what was read (less than len only at the end
 * of the file; on failure, the bytes before the failing chunk). A chunk's
 * checksum covers the whole chunk: a call reading a whole chunk checks it and
 * takes the other holder's copy when the first fails; a chunk read in order
 * from its start over several calls is checked when its end is read (-EIO if
 * it fails); bytes of a chunk read otherwise are not verified. A reader may be
 * used with any client of the same session (see dfs_client_share), by one
 * thread at a time. */
struct dfs_reader;
DFS_API int dfs_open(struct dfs_client *c, const char *remote_name, struct dfs_reader **out);
DFS_API int dfs_pread(struct dfs_client *c, struct dfs_reader *r, void *buf, size_t len,
		      uint64_t offset, size_t *got);
/* The pinned version's size, modification time and version (each may be NULL). */
DFS_API void dfs_reader_info(const struct dfs_reader *r, uint64_t *size, int64_t *mtime_ns,
			     uint64_t *version);
/* Frees the reader. NULL is fine. */
DFS_API void dfs_close(struct dfs_reader *r);

/* Checks a remote name against the rules; 0, or -EINVAL / -ENAMETOOLONG. */
DFS_API int dfs_name_check(const char *name);
/* Number of servers in the configuration. */
DFS_API unsigned dfs_server_count(const struct dfs_client *c);

DFS_API const char *dfs_strerror(int err);
/* The last failure's explanation, for messages ("server 3 (127.0.0.1:40003)
 * is down; ..."); per client, or per thread for c == NULL. Never NULL. */
DFS_API const char *dfs_last_error(const struct dfs_client *c);
DFS_API const char *dfs_version(void);

#ifdef __cplusplus
}
#endif
#endif
