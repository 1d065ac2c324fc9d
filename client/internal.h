/* internal.h: libdfs's private state, shared by its source files. */
#ifndef DFS_CLIENT_INTERNAL_H
#define DFS_CLIENT_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <openssl/ssl.h>
#include "dfs.h"
#include "dfs_prot.h"
#include "layout.h"
#include "rpcstream.h"
#include "scram.h"

#define DFS_INTERNAL __attribute__((visibility("hidden")))

struct dfs_peer_store;
struct spares;

/* Connections per server: one per chunk role (first or second of its pair),
 * so the two chunks a server holds move in parallel. Only the first is opened
 * with the session; the other when a chunk transfer first needs it. */
#define LINK_CONNS 2

struct server_conf {
	unsigned number;
	char host[256];
	uint32_t program;
	uint16_t port; /* 0: ask rpcbind on host */
	char tls_name[256];
};

struct client_conf {
	char path[PATH_MAX];
	bool tls;
	char ca[PATH_MAX];
	int connect_timeout_ms;
	int login_timeout_ms; /* TLS handshake and login calls */
	int call_timeout_ms;
	unsigned nservers;
	struct server_conf servers[DFS_SERVERS_MAX];
};

/* One server as the client sees it. */
struct link {
	const struct server_conf *conf;
	char address[300]; /* host:port once known, else host */
	uint16_t port;	   /* the port the first connection reached */
	bool up;	   /* connected and logged in */
	char why[256];	   /* why it is not up */
	CLIENT *clnt[LINK_CONNS];
	dfs_cred cred;
	double rtt_ms;
	long long cert_expiry_s;
	bool tls;
};

struct dfs_client {
	struct client_conf conf;
	SSL_CTX *tls;
	struct link links[DFS_SERVERS_MAX];
	char user[65];
	bool logged_in;
	uint32_t login_iterations; /* of the verifier the login used */
	bool resume;		   /* dfs_set_resume */
	bool no_store;		   /* some server predates STORE: put chunk by chunk */
	bool no_lookup_read;	   /* some server predates LOOKUP_READ: LOOKUP, then READ */
	bool no_store_many;	   /* some server predates STORE_MANY: a STORE per file */
	bool no_lookup_read_many;  /* some server predates LOOKUP_READ_MANY: one per file */
	dfs_event_fn on_event;
	void *event_arg;
	pthread_mutex_t event_lock;
	char last_error[512];
	/* Connections opened during the login for the clients that will share
	 * the session (dfs_prepare_shares); NULL if none were asked for. */
	struct spares *spares;
	/* For a client made by dfs_client_share: the client whose session
	 * (tokens, event handler) this one uses; NULL for an owner. */
	struct dfs_client *owner;
	/* A server recovering through this client (session/peer.c): repairs
	 * write only to server only_server and re-read no copies, and through
	 * self_store when set. */
	unsigned only_server;
	const struct dfs_peer_store *self_store;
};

/* client.c: configuration, errors and events (the bottom layer). */
DFS_INTERNAL int client_load_conf(struct client_conf *conf, const char *path, char *err,
				  size_t errlen);
/* Records err's explanation (printf-style) as the last error; returns err. */
DFS_INTERNAL int client_fail(struct dfs_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
DFS_INTERNAL void client_emit(struct dfs_client *c, const struct dfs_event *ev);
DFS_INTERNAL void client_warn(struct dfs_client *c, unsigned server, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* -errno for a status received from a server. */
DFS_INTERNAL int client_errno(dfs_stat st);
/* Names a server for messages: "server 3 (127.0.0.1:40003)". */
DFS_INTERNAL const char *link_label(const struct link *l, char *buf, size_t len);
/* 0 when c is logged in and remote_name follows the rules; else fails with
 * -ENOTCONN, -EINVAL or -ENAMETOOLONG, saying why. */
DFS_INTERNAL int client_check_call(struct dfs_client *c, const char *remote_name);
/* Sets (printf-style; NULL clears) what dfs_last_error(NULL) says in this thread. */
DFS_INTERNAL void client_thread_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* link.c: one server's connections. */
/* Opens connection number idx of link l (TLS per the configuration); asks
 * rpcbind for the port unless the configuration or a first connection gave it. */
DFS_INTERNAL int link_open(struct dfs_client *c, struct link *l, int idx, char *why, size_t whylen);
/* Closes l's connections and marks it not up. */
DFS_INTERNAL void link_close(struct link *l);
/* The call timeouts of a logged-in client on l's connections. */
DFS_INTERNAL void link_set_call_timeouts(const struct dfs_client *c, struct link *l);
/* Marks a link down after a failed call (closes its connections). */
DFS_INTERNAL void conn_mark_down(struct dfs_client *c, struct link *l, const char *why);
/* After a transfer on l (during, e.g. "a read") failed with err: marks l down if
 * its connection was to blame: -EHOSTDOWN (it stopped answering) or -ENOTCONN
 * (CONN_ROLE_FAILED). Other errors, or a link already down, leave it. */
DFS_INTERNAL void conn_mark_broken(struct dfs_client *c, struct link *l, int err,
				   const char *during);
/* The connection of l for a chunk of the given role, opened now if it is not
 * yet; NULL (and why) if it cannot be. Transfers then fail with -ENOTCONN,
 * and the link is marked down saying this: */
#define CONN_ROLE_FAILED "no further connection to it could be opened"
DFS_INTERNAL CLIENT *conn_role(struct dfs_client *c, struct link *l, int role, char *why,
			       size_t whylen);
/* Opens the connections of one link without logging in (for status). */
DFS_INTERNAL int conn_ping(struct dfs_client *c, struct link *l);
DFS_INTERNAL void conn_close_all(struct dfs_client *c);
DFS_INTERNAL const char *clnt_problem(CLIENT *clnt, enum clnt_stat st, char *buf, size_t len);
/* Connections prepared for the clients that will share c's session: n per
 * server (at most DFS_SHARES_PREPARED_MAX; 0, -EINVAL or -ENOMEM). They are
 * opened from spares_start (once the links' first connections are) to
 * spares_finish (once the login is done; those of links not up are closed),
 * and handed over by spares_take, each once, while fresh. */
DFS_INTERNAL int spares_want(struct dfs_client *c, unsigned n);
DFS_INTERNAL void spares_start(struct dfs_client *c);
DFS_INTERNAL void spares_finish(struct dfs_client *c);
/* A prepared connection to server index server of owner, or NULL. */
DFS_INTERNAL CLIENT *spares_take(struct dfs_client *owner, unsigned server);
DFS_INTERNAL void spares_free(struct dfs_client *c);

/* conn.c: login and shared sessions. */
/* Connects to and logs in on every server in parallel. */
DFS_INTERNAL int conn_login_all(struct dfs_client *c, const char *password);
/* Opens connections to every server up in c->owner, with its tokens. */
DFS_INTERNAL int conn_share_all(struct dfs_client *c);
/* As a server (c->tls presents its certificate): ends the sessions held and
 * opens one for user on every reachable server (PEER_LOGIN). Links that fail
 * are marked down. 0 if some server is up, else -errno. */
DFS_INTERNAL int conn_peer_login_all(struct dfs_client *c, const char *user);

/* plan.c: which version of a file to read, and from where. */
struct holder_view {
	bool answered; /* the server answered LOOKUP */
	bool has_record;
	dfs_lookup_ok rec; /* current and previous, when has_record */
	/* Chunk data_index of version data_ver, sent with the record (data_ver 0: none). */
	uint64_t data_ver;
	unsigned data_index;
	char *data;
	u_int data_len;
};
struct file_view {
	uint64_t now_ns; /* this host's clock when the servers were asked */
	const char *name;
	size_t name_len;
	unsigned nservers;
	struct layout layout; /* where the name's chunks live */
	unsigned dropped;     /* answers that failed the checks (check_reply.h) */
	struct holder_view holders[DFS_SERVERS_MAX];
};
struct read_plan {
	const dfs_file_info *info; /* the version chosen (points into a view) */
	bool deleted;		   /* the newest record is a tombstone */
	bool found;		   /* some version is readable */
	/* source[k] = server (1-based) to read chunk k+1 from, 0 if none */
	unsigned source[DFS_SERVERS_MAX];
	unsigned backup[DFS_SERVERS_MAX];
	uint64_t chunk_sum[DFS_SERVERS_MAX];
	uint64_t chunk_size[DFS_SERVERS_MAX];
};
/* Asks every live server for its record of name; with_data, also for the bytes
 * of the chunk a reader would ask it for first, if that chunk is small (so a
 * small file is read in one call per server). 0, or -errno. */
DFS_INTERNAL int plan_lookup(struct dfs_client *c, const char *name, bool with_data,
			     struct file_view *view);
DFS_INTERNAL void plan_view_free(struct file_view *view);
/* Records further than this beyond this host's clock are ignored: servers refuse
 * versions more than max_clock_skew (7 days by default) beyond their own clocks,
 * so only a broken or hostile server reports one. */
#define PLAN_MAX_AHEAD_NS (400ull * 86400 * 1000000000)
/* This host's clock, in ns since 1970. */
DFS_INTERNAL uint64_t plan_clock_ns(void);
/* Whether a record's version is within PLAN_MAX_AHEAD_NS of view->now_ns. */
DFS_INTERNAL bool plan_plausible(const struct file_view *view, const dfs_file_info *info);
/* Picks the newest version whose every chunk is held by some live server, or
 * the newest tombstone if it is newer and confirmed (by two servers, or by
 * servers holding every chunk between them). Records of implausible
 * versions are ignored. */
DFS_INTERNAL void plan_choose(const struct file_view *view, struct read_plan *plan);
/* How often plan_read_choice asks again. */
#define PLAN_SETTLE_ATTEMPTS 5
/* plan_lookup then plan_choose; while no version is readable and the servers
 * that answered disagree on the current version (puts being committed leave
 * no version whole for a moment), asks again after a short pause. 0, or
 * -errno from plan_lookup (view then needs no freeing). */
DFS_INTERNAL int plan_read_choice(struct dfs_client *c, const char *name, bool with_data,
				  struct file_view *view, struct read_plan *plan);
/* The version of a file info a server holds as current or previous, or NULL. */
DFS_INTERNAL const dfs_file_info *plan_held(const struct holder_view *h, uint64_t ver);
/* Whether info lists chunk index (1-based) as held. */
DFS_INTERNAL bool plan_has_chunk(const dfs_file_info *info, unsigned index, uint64_t *sum);
/* How often a put or delete that lost to a write running at the same time is
 * numbered again above it before it gives up. */
#define WRITE_ATTEMPTS 5
/* A fresh version number for a write: above newest_seen (the newest version
 * of the name some server reported, 0 if none) and this host's clock (see
 * common/version.h); 0 if there is none. */
DFS_INTERNAL uint64_t plan_new_version(uint64_t newest_seen);
/* The newest version (current or previous, tombstones too) any server in view holds. */
DFS_INTERNAL uint64_t plan_newest(const struct file_view *view);
/* 0 if the servers in answered[] (by server number - 1) include two neighbours,
 * so that they saw every write of name that succeeded; else -EHOSTDOWN, and
 * the last error names them. */
DFS_INTERNAL int plan_check_vouches(struct dfs_client *c, const char *name, const bool *answered);
/* Asks every live server for its record of name, before a write of it:
 * *newest = the newest version they hold (0: none). 0, or -errno
 * (-EHOSTDOWN when too few servers answered to see every earlier write). */
DFS_INTERNAL int plan_write_version(struct dfs_client *c, const char *name, uint64_t *newest);
/* Fails with -ERANGE: server refused a write of name as too far ahead of its
 * clock; the message shows this host's clock. */
DFS_INTERNAL int plan_clock_refused(struct dfs_client *c, const char *name, unsigned server);

/* upload.c: a chunk streamed to its servers, for put and repair. */
struct chunk_source {
	int fd;		       /* the local file holding the whole file */
	uint64_t offset, size; /* of the chunk in that file */
};
/* Uploads chunk `index` of (name, ver) from src to server l on connection
 * role; checks the checksum as it goes (*sum = its XXH3). 0 or -errno. */
DFS_INTERNAL int put_chunk_to(struct dfs_client *c, struct link *l, int role, const char *name,
			      uint64_t ver, unsigned index, const struct chunk_source *src,
			      uint64_t *sum);

/* download.c: reads chunk index of ver from server l into fd at offset,
 * verifying sum. 0 or -errno (-EBADMSG for a bad checksum, -EHOSTDOWN when the
 * connection broke, -ENOTCONN when the role's connection could not be opened). */
DFS_INTERNAL int get_chunk_from(struct dfs_client *c, struct link *l, int role, const char *name,
				uint64_t ver, unsigned index, int fd, uint64_t offset,
				uint64_t size, uint64_t sum, bool to_disk);

/* commit.c: what each server commits of a version, and sending it. */
/* The record server s commits for name: base's version, size and mtime; s's
 * chunk pair with sizes[k - 1] and sums[k - 1]; the digest over sums; the
 * servers known to lack the version. held is where the pair is kept. */
DFS_INTERNAL void commit_record(const struct layout *l, unsigned s, const char *name,
				const dfs_file_info *base, const uint64_t *sizes,
				const uint64_t *sums, unsigned *lacking, unsigned nlacking,
				dfs_chunk_sum held[2], dfs_file_info *out);
/* Counts, by chunk - 1 in committed, the chunks server s committed. */
DFS_INTERNAL void commit_tally(const struct layout *l, unsigned s, unsigned *committed);
/* Sends a COMMIT without waiting for its answer. 0, or -EHOSTDOWN (the
 * server is then marked down). */
DFS_INTERNAL int commit_send(struct dfs_client *c, struct link *l, const dfs_file_info *info);
/* Reads the answer to a COMMIT sent by commit_send. 0 or -errno. */
DFS_INTERNAL int commit_recv(struct dfs_client *c, struct link *l);
/* Commits info on server l. 0 or -errno. */
DFS_INTERNAL int put_commit(struct dfs_client *c, struct link *l, const dfs_file_info *info);
/* Warns that server s holds no copy of name, saying why: failure (its upload's
 * error) if given, else why it is down. */
DFS_INTERNAL void put_warn_lacking(struct dfs_client *c, unsigned s, const char *name,
				   const char *failure);
/* Drops the staged chunks of (name, ver) on every live server. */
DFS_INTERNAL void put_abort_everywhere(struct dfs_client *c, const char *name, uint64_t ver);

/* A file of at most SMALL_FILE_MAX bytes is stored with one STORE call per
 * server, and fetched chunk after chunk without helper threads or a resume
 * sidecar: for it those cost more than they save. */
#define SMALL_FILE_MAX (256 * 1024)
/* put_small.c: stores a small file, already open as fd. 0 or -errno;
 * -EOPNOTSUPP if some server predates STORE (then put it chunk by chunk). */
DFS_INTERNAL int put_small(struct dfs_client *c, const char *path, const char *remote_name, int fd,
			   const struct stat *sb);

/* resume.c: the record of a put in progress, for --resume. */
struct put_resume {
	char path[PATH_MAX];
	int fd;	      /* appends "stored S K" lines; -1 if none */
	bool resumed; /* continuing an earlier put */
};
/* Picks the version for a put of the local file sb as remote_name: with
 * resume on and a record of an interrupted put of the same unchanged file
 * whose version is not older than newest_seen, that put's version (and
 * done[s-1][k-1] for copies already stored), else fresh (a new version above
 * newest_seen), recorded for a later resume. 0, or -ERANGE if fresh is 0 (no
 * version left); without a cache folder nothing is recorded. */
DFS_INTERNAL int resume_put_open(struct dfs_client *c, const char *remote_name,
				 const struct stat *sb, uint64_t newest_seen, uint64_t fresh,
				 uint64_t *ver, bool done[DFS_SERVERS_MAX][DFS_SERVERS_MAX],
				 struct put_resume *out);
/* Records that chunk is stored (staged and verified) on server. */
DFS_INTERNAL void resume_put_stored(struct put_resume *r, unsigned server, unsigned chunk);
/* Closes the record; removes it unless keep. */
DFS_INTERNAL void resume_put_close(struct put_resume *r, bool keep);

/* repair.c: what a repair pass found and did (see struct dfs_repair_report). */
struct repair_tally {
	unsigned files, verified, corrupt, rewritten, failed;
	uint64_t bytes; /* chunk bytes written */
};
/* Brings the servers of one file up to date with the chosen version, using
 * a local copy of the whole file when local_fd >= 0 (else copying through
 * the client from a good holder). bad[s-1] has bit k-1 set when server s
 * served chunk k corrupt (NULL: none known). With t, every copy that could
 * not be made good is counted in t->failed and named by a warning, and the
 * copies written in t->rewritten. Returns the number of chunk copies written
 * or -errno. */
DFS_INTERNAL int repair_file(struct dfs_client *c, struct file_view *view,
			     const struct read_plan *plan, int local_fd, const uint64_t *bad,
			     struct repair_tally *t);

/* With every server up, and some server recording chunks that another
 * missed, repairs every file whose servers disagree. Returns copies written. */
DFS_INTERNAL int repair_catch_up(struct dfs_client *c);
/* Repairs one name as dfs_repair does (without re-reading the copies when
 * c->only_server is set), adding what it found and did to t. 0 or -errno
 * (the lookup failed). */
DFS_INTERNAL int repair_one(struct dfs_client *c, const char *name, struct repair_tally *t);

/* list.c: every name any live server has a record of, tombstones included
 * (so repair can spread deletes). */
DFS_INTERNAL int list_names(struct dfs_client *c, struct dfs_file_list **out);

#endif
