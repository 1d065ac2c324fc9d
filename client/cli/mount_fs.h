/* mount_fs.h: what the parts of dfs mount share: its clients, its view of the
 * user's files as a tree, and the files open through it. */
#ifndef DFS_MOUNT_FS_H
#define DFS_MOUNT_FS_H

#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dfs.h"

/* Clients sharing the session: requests served at the same time. */
#define MOUNT_CLIENTS 4
/* How long a folder's listing answers lookups under it, in seconds. */
#define MOUNT_LIST_TTL 1.0
/* Seconds between logins anew while some server is down. */
#define MOUNT_RELOGIN_S 10.0
/* Files kept staged after they were stored, for a rename that follows. */
#define MOUNT_RECENT 4
/* The largest FUSE read and write request, and the block size files show. */
#define MOUNT_IO_SIZE (1u << 20)
/* Bytes fetched at once for a read of a file open for reading only. */
#define MOUNT_WINDOW (4u << 20)

/* Files up to this size are read without a window: they come whole with
 * their records when opened. */
#define MOUNT_SMALL (256u << 10)
/* Window buffers of all files open for reading, at most (memory: this many
 * times MOUNT_WINDOW); past it a file reads without windows. */
#define MOUNT_READ_BUFFERS 6
/* The kernel's read-ahead for the mount, in KiB, where it may be raised:
 * sequential reads arrive as requests this large, up to MOUNT_IO_SIZE. */
#define MOUNT_READAHEAD_KB 1024u

/* Bytes [off, off + len) of a file open for reading, fetched at once; the
 * fetch asked for want bytes and failed with err after len when err < 0. */
struct read_window {
	char *buf; /* MOUNT_WINDOW bytes, or NULL */
	uint64_t off;
	size_t len, want;
	int err;
	bool fetching; /* by the fetcher thread, which owns it meanwhile */
	bool valid;    /* holds what off, len and err say */
};

/* A file open through the mount. */
struct mount_file {
	char *name; /* its remote name */
	pthread_mutex_t lock;
	/* Open for writing: staged whole in a local file, stored when flushed. */
	int fd; /* the staged copy; -1 for a file open for reading only */
	char path[PATH_MAX];
	bool dirty;  /* written since it was last stored */
	bool append; /* O_APPEND: every write goes to the end */
	/* Open for reading only: the pinned version, the window being read and
	 * the one after it, fetched ahead while reads go on in order. */
	struct dfs_reader *reader;
	struct mount_state *m;
	struct read_window win[2];
	pthread_t fetcher;
	bool joinable; /* fetcher started and not joined */
	pthread_cond_t fetched;
	/* A failed fetch: reads of [bad_off, bad_end) fail with bad_err. */
	uint64_t bad_off, bad_end;
	int bad_err;
	struct mount_file *next; /* in mount_state.open_files, when fd >= 0 */
};

/* A stored file as the listing (and the mount's own writes since) show it. */
struct tree_file {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
};

struct mount_state {
	/* How to log in again: the configuration, user and password. */
	const char *config;
	const char *user;
	char *password;
	char login_error[512];

	/* The clients: [0] logged in, the others sharing its session. */
	struct dfs_client *clients[MOUNT_CLIENTS];
	bool busy[MOUNT_CLIENTS];
	unsigned nclients;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	atomic_bool servers_down; /* some client found a server down */
	double last_login;	  /* monotonic seconds */
	bool relogging, swapping;

	atomic_uint read_buffers; /* window buffers in use */

	char cache_dir[PATH_MAX - 32]; /* staged files, mode 0700 */
	char mountpoint[PATH_MAX];     /* absolute, or "" */
	atomic_bool readahead_done;
	bool foreground;
	int64_t started_ns; /* the time folders show */
	uid_t uid;
	gid_t gid;

	/* The tree: the listing of the folder read last (lookups under it are
	 * answered from it while it is fresh; others ask the servers for the one
	 * name), the folders made with mkdir (they last as long as the mount) and
	 * the files open for writing. */
	pthread_mutex_t tree_lock;
	char *list_dir;		 /* the folder listed ("" the root), or NULL */
	struct tree_file *files; /* the files under it, sorted by name (byte order) */
	size_t nfiles, cap;
	double list_time; /* when it was fetched; 0: fetch again */
	char **dirs;
	size_t ndirs;
	struct mount_file *open_files;
	/* The last files stored on close, kept staged: a rename right after
	 * (rsync's, an editor's) stores them again without fetching them. */
	struct mount_file *recent[MOUNT_RECENT];
};

enum tree_kind { TREE_NONE, TREE_FILE, TREE_DIR };
struct tree_entry {
	enum tree_kind kind;
	uint64_t size;
	int64_t mtime_ns;
};

/* mount_pool.c */
/* Creates a client and logs in with m's user and password, its events going
 * to the mount's log. 0, or -errno with the reason in m->login_error. */
int pool_login(struct mount_state *m, struct dfs_client **out);
/* Fills the pool: owner and clients sharing its session. */
void pool_start(struct mount_state *m, struct dfs_client *owner);
void pool_stop(struct mount_state *m);
/* A client of the pool for one request; give it back with pool_put. After
 * servers went down, every MOUNT_RELOGIN_S seconds it logs in anew first. */
struct dfs_client *pool_get(struct mount_state *m);
void pool_put(struct mount_state *m, struct dfs_client *c);

/* mount_tree.c */
/* What name is ("" is the root). 0, or -errno when the servers cannot be asked. */
int tree_lookup(struct mount_state *m, const char *name, struct tree_entry *e);
/* Calls fn for each entry of folder dir ("" is the root), each once. 0 or -errno. */
int tree_readdir(struct mount_state *m, const char *dir,
		 void (*fn)(void *arg, const char *child, const struct tree_entry *e), void *arg);
/* Whether some file, open file or made folder lies under folder dir. 0/1 or -errno. */
int tree_has_children(struct mount_state *m, const char *dir);
/* The next lookup lists the files again (after a write that may have failed halfway). */
void tree_invalidate(struct mount_state *m);
/* Records a store or a delete made through the mount in the listing kept, so
 * that the next lookups see it without listing the folder again. */
void tree_stored(struct mount_state *m, const char *name, uint64_t size, int64_t mtime_ns);
void tree_deleted(struct mount_state *m, const char *name);
/* Adds or forgets a folder made with mkdir. 0 or -errno. */
int tree_add_dir(struct mount_state *m, const char *name);
bool tree_remove_dir(struct mount_state *m, const char *name);
/* Registers or forgets a file open for writing (its staged size is its size). */
void tree_add_open(struct mount_state *m, struct mount_file *f);
void tree_remove_open(struct mount_state *m, struct mount_file *f);
/* Frees the listing and the folders. */
void tree_free(struct mount_state *m);

/* mount_fs.c: the FUSE operations; private_data is the struct mount_state. */
extern const struct fuse_operations mount_operations;
/* Logs a failure: on stderr in the foreground, else to syslog. */
void mount_log(struct mount_state *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* mount_readahead.c: raises the mount's read-ahead to MOUNT_READAHEAD_KB,
 * once, where the process may (root). Call it once FUSE's start-up is done. */
void mount_raise_readahead(struct mount_state *m);

/* mount_read.c: files open for reading only, read through windows. */
int mount_open_read(struct mount_state *m, const char *name, struct fuse_file_info *fi);
int mount_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi);
/* Waits for a fetch in flight and frees the windows (before freeing f). */
void mount_read_end(struct mount_file *f);

/* mount_write.c: files open for writing (staged, stored on flush) and the
 * operations that change files. */
int mount_open_write(struct mount_state *m, const char *name, int flags, struct fuse_file_info *fi);
void mount_file_free(struct mount_file *f);
/* Frees the files kept for renames. */
void mount_forget_recent(struct mount_state *m);
int mount_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int mount_write(const char *path, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
int mount_flush(const char *path, struct fuse_file_info *fi);
int mount_fsync(const char *path, int datasync, struct fuse_file_info *fi);
int mount_release(const char *path, struct fuse_file_info *fi);
int mount_truncate(const char *path, off_t size, struct fuse_file_info *fi);
int mount_unlink(const char *path);
int mount_rename(const char *from, const char *to, unsigned int flags);

/* The mount of the request being served. */
static inline struct mount_state *state(void)
{
	return fuse_get_context()->private_data;
}

/* The remote name of a path in the mount ("/a/b" is "a/b"; "/" is ""). */
static inline const char *name_of(const char *path)
{
	return path[0] == '/' ? path + 1 : path;
}

/* What a library error becomes for the program using the mount: a quota
 * error and a missing file keep their meaning, a refused name is EINVAL,
 * anything else (servers down, bad copies) is EIO. */
static inline int fs_errno(int rc)
{
	switch (rc) {
	case -EDQUOT:
	case -ENOENT:
	case -EINVAL:
	case -ENAMETOOLONG:
	case -ENOMEM:
		return rc;
	default:
		return rc < 0 ? -EIO : 0;
	}
}

static inline struct mount_file *file_of(struct fuse_file_info *fi)
{
	return (struct mount_file *)(uintptr_t)fi->fh;
}

#endif
