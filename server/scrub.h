/* scrub.h: a dfsd's own scrub: a background thread that re-reads every chunk
 * copy the server holds against its checksum, on a schedule (scrub_interval)
 * and on demand (SIGUSR1), at most scrub_rate MB/s so clients keep priority.
 *
 * Its position (DATA/scrub-state, replaced by write-fsync-rename every few
 * seconds) lets a restarted server continue its pass, and the end of the last
 * pass keeps the schedule across restarts. Copies that fail are quarantined
 * (store_scrub_file).
 */
#ifndef DFS_SCRUB_H
#define DFS_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct scrub;

struct scrub_settings {
	const char *data;    /* the data folder */
	unsigned self;	     /* this server's number */
	unsigned interval_s; /* between the starts of two passes; 0: only on demand */
	unsigned rate_mb_s;  /* MB/s the scrub may read; 0: no limit */
};

/* Starts the scrub thread; the store must outlive it. 0 or -errno. */
int scrub_start(struct scrub **out, struct store *st, const struct scrub_settings *s);
/* Stops the thread, saving the position of a pass under way, and frees sc.
 * NULL is fine. */
void scrub_stop(struct scrub *sc);
/* A descriptor a signal handler may write one byte to: a pass starts now if
 * none runs. */
int scrub_wake_fd(const struct scrub *sc);

struct scrub_progress {
	bool running;			   /* a pass is under way */
	uint64_t passes;		   /* passes finished, in this data folder's life */
	int64_t pass_started_ns;	   /* the current pass's (or the last one's) start */
	int64_t last_end_ns;		   /* end of the last finished pass; 0: none yet */
	uint64_t items_done, bytes_done;   /* in the current pass */
	uint64_t items_total, bytes_total; /* what the pass had to read when it began */
	uint64_t corrupt;		   /* copies found corrupt since this dfsd started */
	uint64_t quarantined;		   /* copies kept in DATA/quarantine */
};
/* A snapshot for the metrics. NULL sc: all zero. */
void scrub_progress(struct scrub *sc, struct scrub_progress *out);

/* The pure parts, exposed for tests. */

/* Pacing at bytes_per_s (0: none). due_ns is when the bytes read so far may
 * have been read; a reader that was idle gets at most a short burst. */
struct scrub_rate {
	uint64_t bytes_per_s;
	int64_t due_ns;
};
/* Accounts bytes read at now_ns; returns how long to wait before reading on (ns). */
int64_t scrub_rate_delay(struct scrub_rate *r, int64_t now_ns, uint64_t bytes);

/* The saved state of the scrub: the pass that runs (ended_ns 0) or ran last
 * (before the first pass: started and ended when the schedule began),
 * the last file done in it (user and hash empty: none yet), its counts. */
struct scrub_position {
	int64_t started_ns, ended_ns;
	int64_t last_end_ns; /* end of the last finished pass; 0: none yet */
	uint64_t passes, items, bytes, corrupt;
	char user[65];
	char hash[65];
};
/* The one-line text of a position into buf: its length, or -ENAMETOOLONG. */
int scrub_position_format(const struct scrub_position *p, char *buf, size_t len);
/* Parses it: 0, or -EBADMSG. */
int scrub_position_parse(const char *text, size_t len, struct scrub_position *out);
/* Whether the file (user, hash) comes after the position's last file, in the
 * order passes walk (users, then hashes, by bytes). */
bool scrub_position_before(const struct scrub_position *p, const char *user, const char *hash);
/* When the next scheduled pass starts (ns), or -1 for never; a pass under way
 * (ended_ns 0) goes on at once (returns 0). */
int64_t scrub_next_start(const struct scrub_position *p, unsigned interval_s);

#endif
