/* mount_read.c: dfs mount's files open for reading only: reads served from windows of
 * MOUNT_WINDOW bytes, the next window fetched ahead on a thread of its own while a
 * program reads in order. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mount_fs.h"

/* A window buffer within the mount's budget, or NULL. Mapped, not malloc'ed:
 * unmapping gives the memory back at once, whatever the allocator keeps. */
static char *buffer_get(struct mount_state *m)
{
	void *p;

	if (atomic_fetch_add(&m->read_buffers, 1) >= MOUNT_READ_BUFFERS) {
		atomic_fetch_sub(&m->read_buffers, 1);
		return NULL;
	}
	p = mmap(NULL, MOUNT_WINDOW, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		atomic_fetch_sub(&m->read_buffers, 1);
		return NULL;
	}
	return p;
}

static void buffer_put(struct mount_state *m, char *p)
{
	if (!p)
		return;
	munmap(p, MOUNT_WINDOW);
	atomic_fetch_sub(&m->read_buffers, 1);
}

int mount_open_read(struct mount_state *m, const char *name, struct fuse_file_info *fi)
{
	struct mount_file *f = calloc(1, sizeof(*f));
	struct dfs_client *c;
	int rc;

	if (!f || !(f->name = strdup(name))) {
		free(f);
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->fetched, NULL);
	f->fd = -1;
	f->m = m;
	c = pool_get(m);
	rc = dfs_open(c, name, &f->reader);
	if (rc < 0 && rc != -ENOENT)
		mount_log(m, "opening %s: %s", name, dfs_last_error(c));
	pool_put(m, c);
	if (rc < 0) {
		mount_file_free(f);
		return fs_errno(rc);
	}
	fi->fh = (uintptr_t)f;
	return 0;
}

/* Fetches w->want bytes at w->off into w->buf. The reader is used by one
 * thread at a time: the caller holds f->lock with no fetch ahead in flight,
 * or is the fetcher. */
static void fetch(struct mount_file *f, struct read_window *w)
{
	struct dfs_client *c = pool_get(f->m);
	size_t got = 0;

	w->err = dfs_pread(c, f->reader, w->buf, w->want, w->off, &got);
	if (w->err < 0)
		mount_log(f->m, "reading %s: %s", f->name, dfs_last_error(c));
	pool_put(f->m, c);
	w->len = got;
}

/* Remembers a failed fetch: the range it failed on keeps failing, even when
 * read again later from its middle, where a chunk's checksum is not checked. */
static void note_failure(struct mount_file *f, const struct read_window *w)
{
	if (w->err >= 0)
		return;
	f->bad_off = w->off + w->len;
	f->bad_end = w->off + w->want;
	f->bad_err = w->err;
}

static void *fetcher_run(void *arg)
{
	struct mount_file *f = arg;

	fetch(f, &f->win[1]);
	pthread_mutex_lock(&f->lock);
	f->win[1].fetching = false;
	f->win[1].valid = true;
	pthread_cond_broadcast(&f->fetched);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Waits until no fetch ahead is in flight (f->lock held). */
static void wait_fetcher(struct mount_file *f)
{
	while (f->win[1].fetching)
		pthread_cond_wait(&f->fetched, &f->lock);
	if (f->joinable) {
		pthread_join(f->fetcher, NULL);
		f->joinable = false;
	}
}

/* Starts fetching the window that follows win[0], if there is one to fetch
 * and a buffer for it (f->lock held). */
static void fetch_ahead(struct mount_file *f, uint64_t fsize)
{
	struct read_window *cur = &f->win[0], *next = &f->win[1];
	uint64_t at = cur->off + cur->len;

	if (!cur->valid || cur->err < 0 || next->fetching || at >= fsize ||
	    (next->valid && next->off == at))
		return;
	wait_fetcher(f);
	if (!next->buf && !(next->buf = buffer_get(f->m)))
		return;
	next->off = at;
	next->want = fsize - at < MOUNT_WINDOW ? (size_t)(fsize - at) : MOUNT_WINDOW;
	next->len = 0;
	next->valid = false;
	next->fetching = true;
	if (pthread_create(&f->fetcher, NULL, fetcher_run, f) != 0) {
		next->fetching = false;
		return;
	}
	f->joinable = true;
}

/* Copies what window w holds of [pos, pos + size) into buf; the count. */
static size_t from_window(const struct read_window *w, char *buf, size_t size, uint64_t pos)
{
	size_t n;

	if (!w->valid || pos < w->off || pos >= w->off + w->len)
		return 0;
	n = (size_t)(w->off + w->len - pos);
	if (n > size)
		n = size;
	memcpy(buf, w->buf + (pos - w->off), n);
	return n;
}

/* Makes win[0] hold the bytes at pos: the window fetched ahead when it starts
 * there or before, else a window fetched now. 0, or -errno with nothing
 * fetched (f->lock held). */
static int fill_window(struct mount_file *f, uint64_t pos, uint64_t fsize, bool *ahead)
{
	struct read_window *cur = &f->win[0], *next = &f->win[1];

	if ((next->fetching || next->valid) && pos >= next->off && pos < next->off + next->want) {
		struct read_window t;

		wait_fetcher(f);
		t = *cur;
		*cur = *next;
		*next = t;
		next->valid = false;
		note_failure(f, cur);
		/* Reads went on in order into this window: fetch the one after it. */
		*ahead = true;
		if (cur->len == 0)
			return cur->err < 0 ? cur->err : -EIO;
		return 0;
	}
	wait_fetcher(f);
	next->valid = false;
	cur->off = pos;
	cur->want = fsize - pos < MOUNT_WINDOW ? (size_t)(fsize - pos) : MOUNT_WINDOW;
	cur->valid = false;
	fetch(f, cur);
	cur->valid = true;
	note_failure(f, cur);
	if (cur->len == 0)
		return cur->err < 0 ? cur->err : -EIO;
	return 0;
}

/* Reads [at, at + len) into buf without a window (f->lock held). */
static int read_direct(struct mount_file *f, char *buf, size_t len, uint64_t at, size_t *got)
{
	struct dfs_client *c;
	int rc;

	wait_fetcher(f);
	c = pool_get(f->m);
	*got = 0;
	rc = dfs_pread(c, f->reader, buf, len, at, got);
	if (rc < 0)
		mount_log(f->m, "reading %s: %s", f->name, dfs_last_error(c));
	pool_put(f->m, c);
	if (rc == 0 && *got == 0)
		rc = -EIO;
	return rc;
}

int mount_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct mount_file *f = file_of(fi);
	struct read_window *cur = &f->win[0];
	uint64_t fsize, pos = (uint64_t)off;
	size_t done = 0;
	bool ahead = false;
	int rc = 0;

	(void)path;
	if (f->fd >= 0) {
		ssize_t r = pread(f->fd, buf, size, off);

		return r < 0 ? -errno : (int)r;
	}
	pthread_mutex_lock(&f->lock);
	dfs_reader_info(f->reader, &fsize, NULL, NULL);
	if (!cur->buf && fsize > MOUNT_SMALL)
		cur->buf = buffer_get(f->m);
	while (!rc && done < size && pos + done < fsize) {
		uint64_t at = pos + done;
		size_t n, lim = size - done;

		if (f->bad_err < 0 && at >= f->bad_off && at < f->bad_end) {
			rc = f->bad_err;
			break;
		}
		if (f->bad_err < 0 && at < f->bad_off && f->bad_off - at < lim)
			lim = (size_t)(f->bad_off - at);
		n = from_window(cur, buf + done, lim, at);
		if (n > 0) {
			done += n;
			continue;
		}
		if (cur->buf) {
			rc = fill_window(f, at, fsize, &ahead);
			continue;
		}
		/* A small file, or no buffer left in the budget: straight into buf. */
		rc = read_direct(f, buf + done, lim, at, &n);
		done += n;
	}
	/* A read into the second half of the window is taken as reading in
	 * order; a small read somewhere moves one window, no more. */
	if (!rc && cur->valid && pos + done > cur->off + cur->want / 2)
		ahead = true;
	if (ahead)
		fetch_ahead(f, fsize);
	pthread_mutex_unlock(&f->lock);
	/* Never a short count: the kernel would take it for the end of the file. */
	if (rc < 0)
		return fs_errno(rc);
	return (int)done;
}

void mount_read_end(struct mount_file *f)
{
	if (!f->reader && !f->win[0].buf)
		return;
	pthread_mutex_lock(&f->lock);
	wait_fetcher(f);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < 2; i++) {
		buffer_put(f->m, f->win[i].buf);
		f->win[i].buf = NULL;
	}
	pthread_cond_destroy(&f->fetched);
}
