/* get.c: fetching a file: one holder per chunk, verified, joined in a temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check_reply.h"
#include "checksum.h"
#include "chunk.h"
#include "internal.h"
#include "names.h"

#include "download.h"

struct fetch {
	struct dfs_client *c;
	const struct file_view *view;
	const struct read_plan *plan;
	unsigned index;
	int fd;
	uint64_t offset, size;
	const struct part *part;     /* partial get being continued, or NULL */
	struct block_writer *writer; /* writes the READ blocks into fd, or NULL */
	atomic_uint_fast64_t *progress;
	/* results */
	unsigned served_by;
	unsigned failed[2]; /* servers that failed, 0 if none */
	int failed_err[2];
	unsigned nfailed;
	int write_err; /* writing into fd failed: no server is to blame */
};

/* The chunk as server s sent it with its record (see plan_lookup), checked and
 * written like a READ. -ENODATA if s sent no bytes of this chunk and version. */
static int take_sent_chunk(struct fetch *f, unsigned s, const struct read_progress *prog,
			   uint64_t *reported)
{
	const struct holder_view *h = &f->view->holders[s - 1];
	int err;

	if (h->data_ver != f->plan->info->ver || h->data_index != f->index)
		return -ENODATA;
	/* Bytes of this very chunk that are not its size are a bad copy, like
	 * bytes that fail the checksum; nothing outside the chunk is written. */
	if (h->data_len != f->size)
		return -EBADMSG;
	if (checksum_of(h->data, h->data_len) != f->plan->chunk_sum[f->index - 1])
		return -EBADMSG;
	err = write_at(f->fd, h->data, h->data_len, f->offset);
	if (err) {
		f->write_err = err;
		return err;
	}
	part_record(f->part, f->index, f->size);
	report_read(f->c, prog, f->view->name, f->size, reported);
	return 0;
}

/* Reads the chunk from server s with READ, continuing a partial get's bytes. */
static int read_chunk(struct fetch *f, unsigned s, const struct read_progress *prog,
		      uint64_t *reported)
{
	struct link *l = &f->c->links[s - 1];
	int role = layout_role(&f->view->layout, s, f->index);
	uint64_t have = f->part ? f->part->have[f->index - 1] : 0;
	uint64_t sum = f->plan->chunk_sum[f->index - 1];
	int err;

	if (have > f->size)
		have = 0;
	report_read(f->c, prog, f->view->name, have, reported);
	err = get_chunk_part(f->c, l, role, f->view->name, f->plan->info->ver, f->index, f->fd,
			     f->offset, f->size, sum, have, f->part, prog, reported, f->writer,
			     &f->write_err);
	/* Bytes kept from an earlier attempt that do not add up to the checksum:
	 * fetch the whole chunk again. */
	if (err == -EBADMSG && have > 0 && !f->write_err) {
		atomic_fetch_sub(f->progress, *reported);
		*reported = 0;
		err = get_chunk_part(f->c, l, role, f->view->name, f->plan->info->ver, f->index,
				     f->fd, f->offset, f->size, sum, 0, f->part, prog, reported,
				     f->writer, &f->write_err);
	}
	return err;
}

static void *fetch_run(void *arg)
{
	struct fetch *f = arg;
	unsigned candidates[2] = {f->plan->source[f->index - 1], f->plan->backup[f->index - 1]};
	const struct read_progress prog = {.done = f->progress, .total = f->plan->info->size};

	for (int i = 0; i < 2 && !f->served_by; i++) {
		unsigned s = candidates[i];
		uint64_t reported = 0;
		int err;

		if (!s || !f->c->links[s - 1].up)
			continue;
		err = take_sent_chunk(f, s, &prog, &reported);
		if (err == -ENODATA)
			err = read_chunk(f, s, &prog, &reported);
		if (f->write_err) {
			/* The local disk, not the server: the other holder would fare no better. */
			atomic_fetch_sub(f->progress, reported);
			break;
		}
		if (err == 0) {
			struct dfs_event ev = {.kind = DFS_EVENT_CHUNK_SERVED,
					       .server = s,
					       .chunk = f->index,
					       .name = f->view->name};

			f->served_by = s;
			client_emit(f->c, &ev);
		} else {
			/* What a failed holder delivered will come again from the other. */
			atomic_fetch_sub(f->progress, reported);
			f->failed[f->nfailed] = s;
			f->failed_err[f->nfailed] = err;
			f->nfailed++;
		}
	}
	return NULL;
}

static const char *fetch_reason(int err)
{
	switch (err) {
	case -EBADMSG:
		return "its copy failed the checksum";
	case -EHOSTDOWN:
		return "it stopped answering";
	case -ENOTCONN:
		return CONN_ROLE_FAILED;
	case -EPROTO:
		return "it sent more bytes than asked for";
	case -ESTALE:
		return "the version was replaced meanwhile";
	default:
		return dfs_strerror(err);
	}
}

/* Reads of a file that newer puts keep replacing start over this many times. */
#define GET_ATTEMPTS 3
/* READ blocks (DFS_BLOCK_MAX each) a get holds at most: two per chunk thread,
 * one filling and one being written, up to this many in all. */
#define GET_WRITE_BLOCKS 16

/* Fetches every chunk of the planned version into fd; repairs what failed. */

static int fetch_all(struct dfs_client *c, struct file_view *view, struct read_plan *plan, int fd,
		     const struct part *part)
{
	struct fetch f[DFS_SERVERS_MAX];
	pthread_t tids[DFS_SERVERS_MAX];
	bool started[DFS_SERVERS_MAX];
	uint64_t bad[DFS_SERVERS_MAX] = {0};
	atomic_uint_fast64_t progress = 0;
	unsigned n = plan->info->nchunks;
	bool threads = plan->info->size > SMALL_FILE_MAX;
	struct block_writer *writer = NULL;
	char label[160];
	int err = 0;

	/* Threads write their chunks at their offsets into a file of full size;
	 * a small file's chunks are written in order, and it is sized below. */
	if (threads && ftruncate(fd, (off_t)plan->info->size) < 0)
		return client_fail(c, -errno, "cannot size the local file: %s", strerror(errno));
	/* The chunk threads' writes go one at a time (see writer.h): threads
	 * writing one file spin on its inode lock. Without a writer, each writes. */
	if (threads && block_writer_start(&writer, fd,
					  2 * n < GET_WRITE_BLOCKS ? 2 * n : GET_WRITE_BLOCKS) < 0)
		writer = NULL;
	for (unsigned k = 1; k <= n; k++) {
		struct fetch *x = &f[k - 1];

		*x = (struct fetch){.c = c,
				    .view = view,
				    .plan = plan,
				    .index = k,
				    .fd = fd,
				    .part = part,
				    .writer = writer,
				    .progress = &progress};
		layout_range(&view->layout, plan->info->size, k, &x->offset, &x->size);
		started[k - 1] = threads && pthread_create(&tids[k - 1], NULL, fetch_run, x) == 0;
		if (!started[k - 1])
			fetch_run(x);
	}
	for (unsigned k = 0; k < n; k++)
		if (started[k])
			pthread_join(tids[k], NULL);
	block_writer_stop(writer);
	for (unsigned k = 0; k < n && !err; k++)
		if (f[k].write_err)
			err = client_fail(c, f[k].write_err, "cannot write the local copy: %s",
					  strerror(-f[k].write_err));
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < f[k].nfailed; i++) {
			struct link *l = &c->links[f[k].failed[i] - 1];

			conn_mark_broken(c, l, f[k].failed_err[i], "a transfer");
			if (f[k].failed_err[i] == -EBADMSG)
				bad[f[k].failed[i] - 1] |= 1ull << k;
			if (f[k].served_by)
				client_warn(c, f[k].failed[i],
					    "chunk %u of %s: %s failed (%s); read from server %u",
					    k + 1, view->name, link_label(l, label, sizeof(label)),
					    fetch_reason(f[k].failed_err[i]), f[k].served_by);
		}
		if (!f[k].served_by && !err) {
			bool replaced = f[k].nfailed > 0;

			for (unsigned i = 0; i < f[k].nfailed; i++)
				replaced = replaced && f[k].failed_err[i] == -ESTALE;
			if (f[k].nfailed)
				err = client_fail(
				    c, replaced ? -ESTALE : -EIO, "chunk %u: %s failed: %s", k + 1,
				    link_label(&c->links[f[k].failed[0] - 1], label, sizeof(label)),
				    fetch_reason(f[k].failed_err[0]));
			else
				err = client_fail(
				    c, -EIO, "chunk %u: no server holding it is reachable", k + 1);
		}
	}
	if (err)
		return err;
	/* Every chunk was written within its own range; the file ends where the
	 * record says, whatever a failed holder left behind. */
	if (ftruncate(fd, (off_t)plan->info->size) < 0)
		return client_fail(c, -errno, "cannot size the local file: %s", strerror(errno));
	{
		uint64_t sums[DFS_SERVERS_MAX];

		for (unsigned k = 0; k < n; k++)
			sums[k] = plan->chunk_sum[k];
		if (checksum_file_digest(sums, n) != plan->info->digest)
			return client_fail(c, -EIO, "the file's digest does not match its chunks");
	}
	/* Read repair: the verified local copy feeds any server that lacks a
	 * chunk, holds a stale version or served a corrupt one. */
	repair_file(c, view, plan, fd, bad, NULL);
	return 0;
}

/* Chooses the version of remote_name to read, from the answers of a lookup:
 * looked_up's when given (taken over), else those of a lookup made here.
 * Fails, saying why, when no version can be read. */
static int prepare(struct dfs_client *c, const char *remote_name, struct file_view *looked_up,
		   struct file_view *view, struct read_plan *plan)
{
	unsigned dropped;
	int err;

	memset(view, 0, sizeof(*view));
	memset(plan, 0, sizeof(*plan));
	err = client_check_call(c, remote_name);
	if (err) {
		if (looked_up)
			plan_view_free(looked_up);
		return err;
	}
	if (looked_up)
		*view = *looked_up;
	err = plan_read_choice_from(c, remote_name, true, view, plan, looked_up != NULL);
	if (err)
		return err;
	dropped = view->dropped;
	if (plan->found)
		return 0;
	if (dropped && !plan->deleted)
		return client_fail(c, -EIO,
				   "%s: cannot be read: %u server%s sent invalid answers about it",
				   remote_name, dropped, dropped == 1 ? "" : "s");
	if (plan->deleted || !plan->info) {
		bool any = false;

		for (unsigned i = 0; i < view->nservers; i++)
			any = any || view->holders[i].has_record;
		if (plan->deleted || !any)
			return client_fail(c, -ENOENT, "%s: no such file", remote_name);
	}
	return client_fail(c, -EIO,
			   "%s: some chunks are on no reachable server (servers down: see 'dfs "
			   "status')",
			   remote_name);
}

/* Opens the sidecar of a partial get of info (creating or resetting it);
 * with resume, keeps the byte counts of an earlier get of the same version. */
static int part_open(struct dfs_client *c, const char *path, const dfs_file_info *info,
		     struct part *p, uint64_t *kept)
{
	char head[128], text[128 + DFS_SERVERS_MAX * PART_SLOT_LEN + 1], zero[PART_SLOT_LEN + 1];
	ssize_t got;
	int n;

	memset(p, 0, sizeof(*p));
	*kept = 0;
	p->state_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->state_fd < 0)
		return client_fail(c, -errno, "cannot create %s: %s", path, strerror(errno));
	n = snprintf(head, sizeof(head), PART_MAGIC " %016llx %020llu %016llx %02u\n",
		     (unsigned long long)info->ver, (unsigned long long)info->size,
		     (unsigned long long)info->digest, info->nchunks);
	p->slots = n;
	got = pread(p->state_fd, text, sizeof(text) - 1, 0);
	text[got > 0 ? got : 0] = '\0';
	if (c->resume && got == n + (ssize_t)info->nchunks * PART_SLOT_LEN &&
	    memcmp(text, head, (size_t)n) == 0) {
		for (unsigned k = 0; k < info->nchunks; k++) {
			p->have[k] = strtoull(text + n + k * PART_SLOT_LEN, NULL, 10);
			*kept += p->have[k];
		}
		return 0;
	}
	snprintf(zero, sizeof(zero), "%020llu\n", 0ull);
	if (ftruncate(p->state_fd, 0) < 0 || pwrite(p->state_fd, head, (size_t)n, 0) != n)
		return client_fail(c, -errno, "cannot write %s: %s", path, strerror(errno));
	for (unsigned k = 0; k < info->nchunks; k++)
		if (pwrite(p->state_fd, zero, PART_SLOT_LEN, n + (off_t)k * PART_SLOT_LEN) !=
		    PART_SLOT_LEN)
			return client_fail(c, -errno, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* fetch_all into fd (no resume), starting over on the newest version when newer
 * puts replace the one being read. */
static int fetch_newest(struct dfs_client *c, const char *remote_name, struct file_view *view,
			struct read_plan *plan, int fd)
{
	int err;

	for (int attempt = 1;; attempt++) {
		err = fetch_all(c, view, plan, fd, NULL);
		if (err != -ESTALE || attempt == GET_ATTEMPTS)
			return err;
		plan_view_free(view);
		err = prepare(c, remote_name, NULL, view, plan);
		if (err)
			return err;
	}
}

/* Fetches a small file into an unnamed file in the target's folder, then gives
 * it the target's name in one step: a link, or a rename over an existing file.
 * -EOPNOTSUPP if the folder cannot hold unnamed files. */
static int get_small(struct dfs_client *c, const char *remote_name, const char *local_path,
		     struct file_view *view, struct read_plan *plan)
{
	char dir[PATH_MAX], proc[64], tmp[PATH_MAX], base[PATH_MAX];
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", local_path);
	/* Unnamed until it is whole, so it can have its final mode (the umask
	 * applies) from the start. */
	fd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL
			   ? -EOPNOTSUPP
			   : client_fail(c, -errno, "cannot create a file beside %s: %s",
					 local_path, strerror(errno));
	err = fetch_newest(c, remote_name, view, plan, fd);
	if (!err && get_finish_attributes(fd, plan->info, false) < 0)
		err = client_fail(c, -errno, "cannot set the attributes of %s: %s", local_path,
				  strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (!err && linkat(AT_FDCWD, proc, AT_FDCWD, local_path, AT_SYMLINK_FOLLOW) < 0) {
		err = -errno;
		if (err == -EEXIST) {
			/* Replacing a file: link under a temporary name, rename over it. */
			snprintf(dir, sizeof(dir), "%s", local_path);
			snprintf(base, sizeof(base), "%s", local_path);
			uint32_t r = 0;

			if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
				r = (uint32_t)getpid() ^ (uint32_t)fd;
			err = snprintf(tmp, sizeof(tmp), "%s/.%s.dfs-new.%08x", dirname(dir),
				       basename(base), r) >= (int)sizeof(tmp)
				  ? -ENAMETOOLONG
				  : 0;
			if (!err && (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0 ||
				     rename(tmp, local_path) < 0)) {
				err = -errno;
				unlink(tmp);
			}
		}
		if (err)
			client_fail(c, err, "cannot put %s in place: %s", local_path,
				    strerror(-err));
	}
	close(fd);
	return err;
}

/* Fetches a file into .NAME.dfs-part beside the target, then renames it over
 * the target: a large file, or a small one where no unnamed file can be made.
 * With resume, a failed get keeps the part and its sidecar for the next one. */
static int get_large(struct dfs_client *c, const char *remote_name, const char *local_path,
		     struct file_view *view, struct read_plan *plan)
{
	struct part part = {.state_fd = -1};
	char tmp[PATH_MAX] = "", state[PATH_MAX + 8] = "", dir[PATH_MAX], base[PATH_MAX];
	uint64_t kept = 0;
	bool keep = false;
	int fd = -1, err = 0;

	snprintf(dir, sizeof(dir), "%s", local_path);
	snprintf(base, sizeof(base), "%s", local_path);
	/* A fixed name beside the target, so an interrupted get can be
	 * continued by the next one (see dfs_set_resume). */
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.dfs-part", dirname(dir), basename(base)) >=
		(int)sizeof(tmp) ||
	    snprintf(state, sizeof(state), "%s.state", tmp) >= (int)sizeof(state))
		return client_fail(c, -ENAMETOOLONG, "%s: path too long", local_path);
	fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return client_fail(c, -errno, "cannot create a file beside %s: %s", local_path,
				   strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return client_fail(c, -EBUSY, "another dfs get is writing %s", local_path);
	}
	for (int attempt = 1;; attempt++) {
		/* A small file is fetched again whole rather than resumed. */
		if (plan->info->size > SMALL_FILE_MAX)
			err = part_open(c, state, plan->info, &part, &kept);
		if (err)
			goto out;
		if (kept)
			client_warn(
			    c, 0, "%s: continuing an interrupted get: %llu of %llu bytes are here",
			    remote_name, (unsigned long long)kept,
			    (unsigned long long)plan->info->size);
		else if (ftruncate(fd, 0) < 0) {
			err = client_fail(c, -errno, "cannot reset %s: %s", tmp, strerror(errno));
			goto out;
		}
		err = fetch_all(c, view, plan, fd, &part);
		if (err != -ESTALE || attempt == GET_ATTEMPTS)
			break;
		/* Newer puts replaced the version being read: read the newest. */
		if (part.state_fd >= 0)
			close(part.state_fd);
		part.state_fd = -1;
		plan_view_free(view);
		err = prepare(c, remote_name, NULL, view, plan);
		if (err)
			goto out;
	}
	if (err) {
		keep = c->resume;
		goto out;
	}
	if (get_finish_attributes(fd, plan->info, true) < 0 || rename(tmp, local_path) < 0) {
		err = client_fail(c, -errno, "cannot put %s in place: %s", local_path,
				  strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
out:
	if (err && keep)
		client_fail(c, err, "%s; 'dfs get --resume' continues where this one stopped",
			    strdupa(dfs_last_error(c)));
	if (!keep) {
		if (tmp[0])
			unlink(tmp);
		unlink(state);
	}
	if (part.state_fd >= 0)
		close(part.state_fd);
	close(fd);
	return err;
}

/* Fetches and verifies remote_name into an unnamed temporary file, *fd. */
static int fetch_to_temp(struct dfs_client *c, const char *remote_name, struct file_view *looked_up,
			 struct file_view *view, struct read_plan *plan, int *fd)
{
	const char *tmpdir = getenv("TMPDIR");
	int err;

	*fd = -1;
	err = prepare(c, remote_name, looked_up, view, plan);
	if (err)
		return err;
	/* Chunks arrive out of order; they are joined and verified in an
	 * unnamed file first, so only verified bytes reach the output. */
	*fd = open(tmpdir && *tmpdir ? tmpdir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0)
		return client_fail(c, -errno, "cannot create a temporary file: %s",
				   strerror(errno));
	return fetch_newest(c, remote_name, view, plan, *fd);
}

/* dfs_get into a character device, FIFO or socket: written into once every
 * byte is verified, so a failed get leaves it untouched and never waits for a
 * FIFO's reader. */
static int get_into_special(struct dfs_client *c, const char *remote_name, const char *path,
			    struct file_view *looked_up)
{
	struct file_view view;
	struct read_plan plan;
	int fd, out_fd = -1, err;

	err = fetch_to_temp(c, remote_name, looked_up, &view, &plan, &fd);
	if (!err) {
		out_fd = get_open_special(c, path);
		err = out_fd < 0 ? out_fd : get_copy_out(c, fd, out_fd);
	}
	if (out_fd >= 0 && close(out_fd) < 0 && !err)
		err = client_fail(c, -errno, "writing %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	plan_view_free(&view);
	return err;
}

int get_from_lookup(struct dfs_client *c, const char *remote_name, const char *target,
		    struct file_view *looked_up)
{
	struct file_view view;
	struct read_plan plan;
	char local_path[PATH_MAX];
	bool special, small;
	int err;

	err = get_resolve_target(c, target, local_path, sizeof(local_path), &special);
	if (err) {
		if (looked_up)
			plan_view_free(looked_up);
		return err;
	}
	if (special)
		return get_into_special(c, remote_name, local_path, looked_up);
	err = prepare(c, remote_name, looked_up, &view, &plan);
	if (!err) {
		small = plan.info->size <= SMALL_FILE_MAX;
		if (small)
			err = get_small(c, remote_name, local_path, &view, &plan);
		if (!small || err == -EOPNOTSUPP)
			err = get_large(c, remote_name, local_path, &view, &plan);
	}
	plan_view_free(&view);
	return err;
}

int dfs_get(struct dfs_client *c, const char *remote_name, const char *target)
{
	return get_from_lookup(c, remote_name, target, NULL);
}

int dfs_get_fd(struct dfs_client *c, const char *remote_name, int out_fd)
{
	struct file_view view;
	struct read_plan plan;
	int fd, err;

	err = fetch_to_temp(c, remote_name, NULL, &view, &plan, &fd);
	if (!err)
		err = get_copy_out(c, fd, out_fd);
	if (fd >= 0)
		close(fd);
	plan_view_free(&view);
	return err;
}
