/* get.c: fetching a file: one holder per chunk, verified, joined in a temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "checksum.h"
#include "chunk.h"
#include "internal.h"
#include "names.h"
#include "placement.h"

#define GET_WINDOW 4

/* Bytes of a whole file fetched so far, reported block by block so that a
 * long transfer shows its progress while the chunks are still coming in. */
struct read_progress {
	atomic_uint_fast64_t *done;
	uint64_t total;
};

static void report_read(struct dfs_client *c, const struct read_progress *p, const char *name,
			uint64_t len, uint64_t *reported)
{
	struct dfs_event ev = {.kind = DFS_EVENT_PROGRESS, .name = name};

	if (!p || len == 0)
		return;
	*reported += len;
	ev.total = p->total;
	ev.done = atomic_fetch_add(p->done, len) + len;
	client_emit(c, &ev);
}

static int read_chunk_blocks(struct dfs_client *c, struct link *l, int role, const char *name,
			     uint64_t ver, unsigned index, int fd, uint64_t offset, uint64_t size,
			     uint64_t sum, const struct read_progress *prog, uint64_t *reported)
{
	CLIENT *clnt = l->clnt[role];
	dfs_read_args a = {.cred = l->cred, .ver = ver, .index = index};
	struct checksum ck;
	uint64_t asked = 0, got = 0;
	unsigned outstanding = 0;
	int err = 0;

	a.name.dfs_name_val = (char *)name;
	a.name.dfs_name_len = (u_int)strlen(name);
	checksum_init(&ck);
	while (got < size) {
		dfs_read_res r;
		enum clnt_stat st;

		while (outstanding < GET_WINDOW && asked < size) {
			a.offset = asked;
			a.count = size - asked < DFS_BLOCK_MAX ? (u_int)(size - asked) : DFS_BLOCK_MAX;
			st = rpcstream_send(clnt, DFSPROC_READ, (xdrproc_t)xdr_dfs_read_args, &a);
			if (st != RPC_SUCCESS)
				return -EHOSTDOWN;
			asked += a.count;
			outstanding++;
		}
		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_read_res, &r);
		outstanding--;
		if (st != RPC_SUCCESS)
			return -EHOSTDOWN;
		if (r.status != DFS_OK || r.dfs_read_res_u.data.data_len == 0) {
			err = r.status != DFS_OK ? client_errno(r.status) : -EIO;
		} else if (!err) {
			const char *p = r.dfs_read_res_u.data.data_val;
			size_t len = r.dfs_read_res_u.data.data_len;

			checksum_update(&ck, p, len);
			while (len > 0) {
				ssize_t w = pwrite(fd, p, len, (off_t)(offset + got));

				if (w < 0) {
					err = -errno;
					break;
				}
				p += w;
				len -= (size_t)w;
				got += (uint64_t)w;
			}
			report_read(c, prog, name, r.dfs_read_res_u.data.data_len - len, reported);
		}
		xdr_free((xdrproc_t)xdr_dfs_read_res, (char *)&r);
		if (err)
			break;
	}
	/* Leave the connection clean for the next call. */
	while (outstanding--) {
		dfs_read_res r;

		memset(&r, 0, sizeof(r));
		if (rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_read_res, &r) != RPC_SUCCESS)
			return -EHOSTDOWN;
		xdr_free((xdrproc_t)xdr_dfs_read_res, (char *)&r);
	}
	if (err)
		return err;
	return checksum_final(&ck) == sum ? 0 : -EBADMSG;
}

static int read_chunk(struct dfs_client *c, struct link *l, int role, const char *name, uint64_t ver,
		      unsigned index, int fd, uint64_t offset, uint64_t size, uint64_t sum,
		      const struct read_progress *prog)
{
	uint64_t reported = 0;
	int err = read_chunk_blocks(c, l, role, name, ver, index, fd, offset, size, sum, prog,
				    &reported);

	/* What a failed holder delivered will come again from the other one. */
	if (err && reported)
		atomic_fetch_sub(prog->done, reported);
	return err;
}

int get_chunk_from(struct dfs_client *c, struct link *l, int role, const char *name, uint64_t ver,
		   unsigned index, int fd, uint64_t offset, uint64_t size, uint64_t sum)
{
	return read_chunk(c, l, role, name, ver, index, fd, offset, size, sum, NULL);
}

struct fetch {
	struct dfs_client *c;
	const struct file_view *view;
	const struct read_plan *plan;
	unsigned index;
	int fd;
	uint64_t offset, size;
	atomic_uint_fast64_t *progress;
	/* results */
	unsigned served_by;
	unsigned failed[2];    /* servers that failed, 0 if none */
	int failed_err[2];
	unsigned nfailed;
	bool broken[2];
};

static int role_of(unsigned row, unsigned server, unsigned index, unsigned n)
{
	unsigned first, second;

	placement_pair(row, server, n, &first, &second);
	return first == index ? 0 : 1;
}

static void *fetch_run(void *arg)
{
	struct fetch *f = arg;
	unsigned candidates[2] = {f->plan->source[f->index - 1], f->plan->backup[f->index - 1]};
	const dfs_file_info *info = f->plan->info;
	const struct read_progress prog = {.done = f->progress, .total = info->size};

	for (int i = 0; i < 2 && !f->served_by; i++) {
		unsigned s = candidates[i];
		struct link *l;
		int err;

		if (!s)
			continue;
		l = &f->c->links[s - 1];
		if (!l->up)
			continue;
		err = read_chunk(f->c, l, role_of(f->view->row, s, f->index, f->view->nservers),
				 f->view->name, info->ver, f->index, f->fd, f->offset, f->size,
				 f->plan->chunk_sum[f->index - 1], &prog);
		if (err == 0) {
			struct dfs_event ev = {.kind = DFS_EVENT_CHUNK_SERVED, .server = s,
					       .chunk = f->index, .name = f->view->name};

			f->served_by = s;
			client_emit(f->c, &ev);
		} else {
			f->failed[f->nfailed] = s;
			f->failed_err[f->nfailed] = err;
			f->broken[f->nfailed] = err == -EHOSTDOWN;
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
	case -ESTALE:
		return "the version was replaced meanwhile";
	default:
		return dfs_strerror(err);
	}
}

/* Fetches every chunk of the planned version into fd; repairs what failed. */
static int fetch_all(struct dfs_client *c, struct file_view *view, struct read_plan *plan, int fd)
{
	struct fetch f[DFS_SERVERS_MAX];
	pthread_t tids[DFS_SERVERS_MAX];
	bool started[DFS_SERVERS_MAX];
	uint64_t bad[DFS_SERVERS_MAX] = {0};
	atomic_uint_fast64_t progress = 0;
	unsigned n = plan->info->nchunks;
	char label[160];
	int err = 0;

	if (ftruncate(fd, (off_t)plan->info->size) < 0)
		return client_fail(c, -errno, "cannot size the local file: %s", strerror(errno));
	for (unsigned k = 1; k <= n; k++) {
		struct fetch *x = &f[k - 1];

		*x = (struct fetch){.c = c, .view = view, .plan = plan, .index = k, .fd = fd,
				    .progress = &progress};
		chunk_range(plan->info->size, n, k, &x->offset, &x->size);
		started[k - 1] = pthread_create(&tids[k - 1], NULL, fetch_run, x) == 0;
		if (!started[k - 1])
			fetch_run(x);
	}
	for (unsigned k = 0; k < n; k++)
		if (started[k])
			pthread_join(tids[k], NULL);
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < f[k].nfailed; i++) {
			struct link *l = &c->links[f[k].failed[i] - 1];

			if (f[k].broken[i] && l->up)
				conn_mark_down(c, l, "it stopped answering during a transfer");
			if (f[k].failed_err[i] == -EBADMSG)
				bad[f[k].failed[i] - 1] |= 1ull << k;
			if (f[k].served_by)
				client_warn(c, f[k].failed[i],
					    "chunk %u of %s: %s failed (%s); read from server %u",
					    k + 1, view->name, link_label(l, label, sizeof(label)),
					    fetch_reason(f[k].failed_err[i]), f[k].served_by);
		}
		if (!f[k].served_by && !err) {
			if (f[k].nfailed)
				err = client_fail(c, -EIO, "chunk %u: %s failed: %s", k + 1,
						  link_label(&c->links[f[k].failed[0] - 1], label,
							     sizeof(label)),
						  fetch_reason(f[k].failed_err[0]));
			else
				err = client_fail(c, -EIO,
						  "chunk %u: no server holding it is reachable", k + 1);
		}
	}
	if (err)
		return err;
	{
		uint64_t sums[DFS_SERVERS_MAX];

		for (unsigned k = 0; k < n; k++)
			sums[k] = plan->chunk_sum[k];
		if (checksum_file_digest(sums, n) != plan->info->digest)
			return client_fail(c, -EIO, "the file's digest does not match its chunks");
	}
	/* Read repair: the verified local copy feeds any server that lacks a
	 * chunk, holds a stale version or served a corrupt one. */
	repair_file(c, view, plan, fd, bad);
	return 0;
}

static int prepare(struct dfs_client *c, const char *remote_name, struct file_view *view,
		   struct read_plan *plan)
{
	const char *why = NULL;
	int err;

	memset(view, 0, sizeof(*view));
	memset(plan, 0, sizeof(*plan));
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	err = name_check(remote_name, strlen(remote_name), &why);
	if (err)
		return client_fail(c, err, "invalid remote name '%s': %s", remote_name, why);
	err = plan_lookup(c, remote_name, view);
	if (err)
		return err;
	plan_choose(view, plan);
	if (plan->found)
		return 0;
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

int dfs_get(struct dfs_client *c, const char *remote_name, const char *local_path)
{
	struct file_view view;
	struct read_plan plan;
	char tmp[PATH_MAX] = "", dir[PATH_MAX], base[PATH_MAX];
	struct timespec times[2];
	mode_t mask;
	int fd = -1, err;

	err = prepare(c, remote_name, &view, &plan);
	if (err)
		goto out;
	snprintf(dir, sizeof(dir), "%s", local_path);
	snprintf(base, sizeof(base), "%s", local_path);
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.dfs-XXXXXX", dirname(dir), basename(base)) >=
	    (int)sizeof(tmp)) {
		err = client_fail(c, -ENAMETOOLONG, "%s: path too long", local_path);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = client_fail(c, -errno, "cannot create a file beside %s: %s", local_path,
				  strerror(errno));
		goto out;
	}
	err = fetch_all(c, &view, &plan, fd);
	if (err)
		goto out;
	mask = umask(0);
	umask(mask);
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1].tv_sec = plan.info->mtime_ns / 1000000000;
	times[1].tv_nsec = plan.info->mtime_ns % 1000000000;
	if (fchmod(fd, 0666 & ~mask) < 0 || futimens(fd, times) < 0 ||
	    rename(tmp, local_path) < 0) {
		err = client_fail(c, -errno, "cannot put %s in place: %s", local_path,
				  strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
out:
	if (fd >= 0) {
		if (tmp[0] && err)
			unlink(tmp);
		close(fd);
	}
	plan_view_free(&view);
	return err;
}

int dfs_get_fd(struct dfs_client *c, const char *remote_name, int out_fd)
{
	struct file_view view;
	struct read_plan plan;
	const char *tmpdir = getenv("TMPDIR");
	char buf[65536];
	int fd = -1, err;

	err = prepare(c, remote_name, &view, &plan);
	if (err)
		goto out;
	/* Chunks arrive out of order; they are joined and verified in an
	 * unnamed file first, so only verified bytes reach out_fd. */
	fd = open(tmpdir && *tmpdir ? tmpdir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = client_fail(c, -errno, "cannot create a temporary file: %s", strerror(errno));
		goto out;
	}
	err = fetch_all(c, &view, &plan, fd);
	if (err)
		goto out;
	for (off_t pos = 0;;) {
		ssize_t r = pread(fd, buf, sizeof(buf), pos);

		if (r < 0) {
			err = client_fail(c, -errno, "reading back: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		pos += r;
		for (ssize_t done = 0; done < r;) {
			ssize_t w = write(out_fd, buf + done, (size_t)(r - done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				err = client_fail(c, -errno, "writing the output: %s",
						  strerror(errno));
				goto out;
			}
			done += w;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	plan_view_free(&view);
	return err;
}
