/* heal.h: a dfsd's recovery from its neighbours: a background thread that
 * brings every file this server should hold level with the other servers,
 * for every user, with no user's help.
 *
 * A pass asks every server (PEER_USERS) which users have records, then for
 * each user, in byte order, opens read-only sessions on the others
 * (PEER_LOGIN, proving this server's identity with its certificate) and
 * repairs, through libdfs, each file the servers disagree on, writing only
 * to this server. Passes run at start, every heal_interval, soon after the
 * scrub finds a corrupt copy, and again (5 s, doubling up to heal_interval)
 * while one could not finish because a server was unreachable. The last user
 * done is kept in DATA/heal-state, so a restarted server continues its pass.
 *
 * Pacing: heal_rate MB/s if set; otherwise unthrottled, but while users'
 * calls arrive the pass waits 50 ms after each file. */
#ifndef DFS_HEAL_H
#define DFS_HEAL_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct heal;
struct dfs_peer_store;

/* Fills out with the functions recovery writes this server's copies with
 * (heal_store.c): the store itself, bypassing RPC. */
void heal_store_init(struct dfs_peer_store *out, struct server *srv);

/* Reads the peers file and fills srv->cfg.peer_ca (before TLS is set up).
 * *out is NULL when no peers file is configured. 0 or -errno (logged). */
int heal_prepare(struct heal **out, struct server *srv);
/* Starts the thread (the server must be serving). 0 or -errno. */
int heal_start(struct heal *h);
/* Asks for a pass soon (another server recorded this one as lacking a
 * version). NULL is fine. */
void heal_nudge(struct heal *h);
/* Stops the thread, keeping the position of a pass under way; frees h. NULL is fine. */
void heal_stop(struct heal *h);

struct heal_progress {
	bool running;			  /* a pass is under way */
	uint64_t passes;		  /* passes finished since this dfsd started */
	int64_t pass_started_ns;	  /* the current (or last) pass's start */
	int64_t last_end_ns;		  /* end of the last finished pass; 0: none yet */
	uint64_t users_done, users_total; /* in the current (or last) pass */
	uint64_t files_done;		  /* files brought level in the current pass */
	uint64_t bytes_done;		  /* chunk bytes copied here in the current pass */
	uint64_t copies_total;		  /* chunk copies written since this dfsd started */
	uint64_t bytes_total;		  /* chunk bytes copied since this dfsd started */
	uint64_t errors;		  /* copies that could not be made good, since start */
	bool incomplete;		  /* the last pass left something to retry */
};
/* A snapshot for the metrics and TASKS. NULL h: all zero. */
void heal_progress(struct heal *h, struct heal_progress *out);

#endif
