/* scrub.c: the server's own scrub thread: schedule, pacing, resumable position. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hex.h"
#include "log.h"
#include "scrub.h"
#include "store.h"

#define STATE_NAME    "scrub-state"
#define STATE_TMP     "scrub-state.tmp"
#define STATE_MAGIC   "dfs-scrub 1 "
#define STATE_MAX     256
#define SAVE_EVERY_NS (2 * NS)
#define BURST_NS      (100 * 1000000LL)
#define NAP_NS	      (100 * 1000000LL)
#define NS	      1000000000LL

struct scrub {
	struct store *st;
	struct scrub_settings cfg;
	char data[4096];
	int pipe[2];
	atomic_bool stop;
	pthread_t tid;
	pthread_mutex_t lock; /* guards pos, running, totals and corrupt */
	struct scrub_position pos;
	bool running;
	uint64_t items_total, bytes_total, corrupt;
	struct scrub_rate rate;
	int64_t last_save_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

int64_t scrub_rate_delay(struct scrub_rate *r, int64_t now, uint64_t bytes)
{
	if (r->bytes_per_s == 0)
		return 0;
	if (r->due_ns < now - BURST_NS)
		r->due_ns = now - BURST_NS;
	r->due_ns += (int64_t)(bytes * (uint64_t)NS / r->bytes_per_s);
	return r->due_ns > now ? r->due_ns - now : 0;
}

int scrub_position_format(const struct scrub_position *p, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 STATE_MAGIC "%" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64
				     " %" PRIu64 " %" PRIu64 " %s %s\n",
			 p->started_ns, p->ended_ns, p->last_end_ns, p->passes, p->items, p->bytes,
			 p->corrupt, p->user[0] ? p->user : "-", p->hash[0] ? p->hash : "-");

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : n;
}

/* A word of at most cap-1 bytes without blanks, ending at a blank or the newline. */
static int word(const char **p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (*p < end && **p != ' ' && **p != '\n') {
		if ((unsigned char)**p < 0x21 || n + 1 >= cap)
			return -EBADMSG;
		out[n++] = *(*p)++;
	}
	if (n == 0 || *p >= end)
		return -EBADMSG;
	out[n] = '\0';
	(*p)++;
	return 0;
}

static int number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	char text[24], *stop;

	if (word(p, end, text, sizeof(text)) < 0 || text[0] < '0' || text[0] > '9')
		return -EBADMSG;
	errno = 0;
	*out = strtoull(text, &stop, 10);
	return errno || *stop || *out > max ? -EBADMSG : 0;
}

int scrub_position_parse(const char *text, size_t len, struct scrub_position *out)
{
	const char *p = text, *end = text + len;
	uint64_t started, ended, last_end;
	struct scrub_position v;

	memset(&v, 0, sizeof(v));
	if (len < strlen(STATE_MAGIC) || memcmp(text, STATE_MAGIC, strlen(STATE_MAGIC)) != 0 ||
	    text[len - 1] != '\n')
		return -EBADMSG;
	p += strlen(STATE_MAGIC);
	if (number(&p, end, INT64_MAX, &started) < 0 || number(&p, end, INT64_MAX, &ended) < 0 ||
	    number(&p, end, INT64_MAX, &last_end) < 0 ||
	    number(&p, end, UINT64_MAX, &v.passes) < 0 ||
	    number(&p, end, UINT64_MAX, &v.items) < 0 ||
	    number(&p, end, UINT64_MAX, &v.bytes) < 0 ||
	    number(&p, end, UINT64_MAX, &v.corrupt) < 0 ||
	    word(&p, end, v.user, sizeof(v.user)) < 0 ||
	    word(&p, end, v.hash, sizeof(v.hash)) < 0 || p != end)
		return -EBADMSG;
	if (strcmp(v.user, "-") == 0)
		v.user[0] = '\0';
	if (strcmp(v.hash, "-") == 0)
		v.hash[0] = '\0';
	if ((v.user[0] == '\0') != (v.hash[0] == '\0'))
		return -EBADMSG;
	v.started_ns = (int64_t)started;
	v.ended_ns = (int64_t)ended;
	v.last_end_ns = (int64_t)last_end;
	*out = v;
	return 0;
}

bool scrub_position_before(const struct scrub_position *p, const char *user, const char *hash)
{
	int c;

	if (p->user[0] == '\0')
		return true;
	c = strcmp(user, p->user);
	return c > 0 || (c == 0 && strcmp(hash, p->hash) > 0);
}

int64_t scrub_next_start(const struct scrub_position *p, unsigned interval_s)
{
	if (p->ended_ns == 0)
		return 0;
	if (interval_s == 0)
		return -1;
	return p->started_ns + (int64_t)interval_s * NS;
}

/* Writes the position durably; a failure is logged and the pass goes on. */
static void save(struct scrub *sc)
{
	char path[4200], tmp[4200], text[STATE_MAX];
	struct scrub_position p;
	int fd, n, rc = 0;

	pthread_mutex_lock(&sc->lock);
	p = sc->pos;
	pthread_mutex_unlock(&sc->lock);
	n = scrub_position_format(&p, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/" STATE_NAME, sc->data);
	snprintf(tmp, sizeof(tmp), "%s/" STATE_TMP, sc->data);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (n < 0 || fd < 0) {
		rc = -EIO;
	} else {
		if (write(fd, text, (size_t)n) != n || fsync(fd) < 0)
			rc = -EIO;
		if (close(fd) < 0)
			rc = -EIO;
		if (rc == 0 && rename(tmp, path) < 0)
			rc = -errno;
	}
	if (rc < 0)
		log_warn("scrub: cannot save its position in %s: %s", path, strerror(-rc));
	sc->last_save_ns = now_ns();
}

/* The saved position, or a fresh one whose schedule counts from now. */
static void load(struct scrub *sc)
{
	char path[4200], text[STATE_MAX];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/" STATE_NAME, sc->data);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text));
		close(fd);
	}
	if (n > 0 && (size_t)n < sizeof(text) &&
	    scrub_position_parse(text, (size_t)n, &sc->pos) == 0)
		return;
	if (fd >= 0)
		log_warn("scrub: %s is unreadable; the schedule starts over", path);
	memset(&sc->pos, 0, sizeof(sc->pos));
	sc->pos.started_ns = sc->pos.ended_ns = now_ns();
	save(sc);
}

/* Waits up to ns, in short naps so a stop is seen at once. -1 if stopping. */
static int nap(struct scrub *sc, int64_t ns)
{
	while (ns > 0 && !atomic_load(&sc->stop)) {
		int64_t step = ns < NAP_NS ? ns : NAP_NS;
		struct timespec ts = {(time_t)(step / NS), (long)(step % NS)};

		nanosleep(&ts, NULL);
		ns -= step;
	}
	return atomic_load(&sc->stop) ? -1 : 0;
}

static int pace(void *arg, size_t bytes)
{
	struct scrub *sc = arg;

	return nap(sc, scrub_rate_delay(&sc->rate, now_ns(), bytes));
}

/* Scrubs one file and moves the position past it. 0, or -EINTR (stopping). */
static int scrub_one(struct scrub *sc, const char *user, const char *hash)
{
	struct store_pace p = {pace, sc};
	struct store_scrub_tally t = {0};
	int rc = atomic_load(&sc->stop)
		     ? -EINTR
		     : store_scrub_file(sc->st, user, hash, sc->cfg.self, &p, &t);

	if (rc == -EINTR)
		return rc;
	if (rc < 0)
		log_warn("scrub: user %s, file %s: %s", user, hash, strerror(-rc));
	pthread_mutex_lock(&sc->lock);
	sc->pos.items += t.copies;
	sc->pos.bytes += t.bytes;
	sc->pos.corrupt += t.corrupt;
	sc->corrupt += t.corrupt;
	snprintf(sc->pos.user, sizeof(sc->pos.user), "%s", user);
	snprintf(sc->pos.hash, sizeof(sc->pos.hash), "%.64s", hash);
	pthread_mutex_unlock(&sc->lock);
	if (now_ns() - sc->last_save_ns >= SAVE_EVERY_NS)
		save(sc);
	return 0;
}

static int scrub_record(const char *user, const char *hash, void *arg)
{
	struct scrub *sc = arg;

	if (!scrub_position_before(&sc->pos, user, hash))
		return 0;
	return scrub_one(sc, user, hash);
}

/* Scrubs every file in byte order of (user, hash) from the saved position. */
static int walk(struct scrub *sc)
{
	char from[sizeof(sc->pos.user)];

	pthread_mutex_lock(&sc->lock);
	snprintf(from, sizeof(from), "%s", sc->pos.user);
	pthread_mutex_unlock(&sc->lock);
	return store_each_file(sc->st, from, scrub_record, sc);
}

static void drain(struct scrub *sc)
{
	char buf[64];

	while (read(sc->pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Runs (or continues) the pass the position describes. */
static void run_pass(struct scrub *sc)
{
	struct store_stats stats;
	struct scrub_position p;

	if (store_stats(sc->st, &stats) < 0)
		memset(&stats, 0, sizeof(stats));
	pthread_mutex_lock(&sc->lock);
	sc->running = true;
	sc->items_total = stats.chunks;
	sc->bytes_total = stats.bytes;
	p = sc->pos;
	pthread_mutex_unlock(&sc->lock);
	if (p.user[0])
		log_info("scrub: continuing the pass begun at %" PRId64 " after %s/%s",
			 (int64_t)(p.started_ns / NS), p.user, p.hash);
	else
		log_info("scrub: pass begins (%" PRIu64 " copies, %" PRIu64 " bytes)", stats.chunks,
			 stats.bytes);
	sc->rate = (struct scrub_rate){(uint64_t)sc->cfg.rate_mb_s * 1000000u, now_ns()};
	if (walk(sc) == -EINTR) {
		save(sc);
		return;
	}
	pthread_mutex_lock(&sc->lock);
	sc->pos.ended_ns = sc->pos.last_end_ns = now_ns();
	sc->pos.passes++;
	sc->running = false;
	p = sc->pos;
	pthread_mutex_unlock(&sc->lock);
	save(sc);
	drain(sc); /* requests made during the pass are answered by it */
	log_info("scrub: pass done: %" PRIu64 " copies, %" PRIu64 " bytes, %" PRIu64 " corrupt",
		 p.items, p.bytes, p.corrupt);
}

static void begin_pass(struct scrub *sc)
{
	pthread_mutex_lock(&sc->lock);
	sc->pos.started_ns = now_ns();
	sc->pos.ended_ns = 0;
	sc->pos.items = sc->pos.bytes = sc->pos.corrupt = 0;
	sc->pos.user[0] = sc->pos.hash[0] = '\0';
	pthread_mutex_unlock(&sc->lock);
	save(sc);
}

static void *scrub_main(void *arg)
{
	struct scrub *sc = arg;
	struct pollfd pfd = {.fd = sc->pipe[0], .events = POLLIN};

	load(sc);
	while (!atomic_load(&sc->stop)) {
		int64_t next = scrub_next_start(&sc->pos, sc->cfg.interval_s), now = now_ns();
		long long wait_ms = next < 0 ? 60000 : next <= now ? 0 : (next - now) / 1000000 + 1;
		bool asked;

		if (next == 0) {
			run_pass(sc);
			continue;
		}
		asked = poll(&pfd, 1, (int)(wait_ms > 60000 ? 60000 : wait_ms)) > 0;
		if (atomic_load(&sc->stop))
			break;
		if (asked)
			drain(sc);
		if (asked || (next > 0 && now_ns() >= next)) {
			if (asked)
				log_info("scrub: pass asked for (SIGUSR1)");
			begin_pass(sc);
		}
	}
	return NULL;
}

int scrub_start(struct scrub **out, struct store *st, const struct scrub_settings *s)
{
	struct scrub *sc;
	sigset_t all, old;
	int rc;

	*out = NULL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->st = st;
	sc->cfg = *s;
	snprintf(sc->data, sizeof(sc->data), "%s", s->data);
	sc->cfg.data = sc->data;
	atomic_init(&sc->stop, false);
	pthread_mutex_init(&sc->lock, NULL);
	if (pipe2(sc->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		free(sc);
		return rc;
	}
	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&sc->tid, NULL, scrub_main, sc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(sc->pipe[0]);
		close(sc->pipe[1]);
		free(sc);
		return -rc;
	}
	*out = sc;
	return 0;
}

void scrub_stop(struct scrub *sc)
{
	if (!sc)
		return;
	atomic_store(&sc->stop, true);
	if (write(sc->pipe[1], "", 1) < 0) {
		/* Full: the thread wakes anyway. */
	}
	pthread_join(sc->tid, NULL);
	close(sc->pipe[0]);
	close(sc->pipe[1]);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}

int scrub_wake_fd(const struct scrub *sc)
{
	return sc ? sc->pipe[1] : -1;
}

static uint64_t count_quarantined(const char *data)
{
	char path[4200];
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/quarantine", data);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

void scrub_progress(struct scrub *sc, struct scrub_progress *out)
{
	memset(out, 0, sizeof(*out));
	if (!sc)
		return;
	pthread_mutex_lock(&sc->lock);
	out->running = sc->running;
	out->passes = sc->pos.passes;
	out->pass_started_ns = sc->pos.started_ns;
	out->last_end_ns = sc->pos.last_end_ns;
	out->items_done = sc->pos.items;
	out->bytes_done = sc->pos.bytes;
	out->items_total = sc->items_total;
	out->bytes_total = sc->bytes_total;
	out->corrupt = sc->corrupt;
	pthread_mutex_unlock(&sc->lock);
	out->quarantined = count_quarantined(sc->data);
}
