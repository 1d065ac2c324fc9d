/* put.c: storing a file: each chunk read once and streamed to both of its servers. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "checksum.h"
#include "internal.h"
#include "names.h"
#include "upload.h"

struct put_state {
	struct layout layout;
	uint64_t sizes[DFS_SERVERS_MAX]; /* of each chunk */
	struct upload uploads[DFS_SERVERS_MAX];
	bool stored[DFS_SERVERS_MAX][DFS_SERVERS_MAX]; /* [server-1][chunk-1] */
};

/* Runs the chunk uploads in parallel; afterwards marks broken servers down. */
static void run_uploads(struct dfs_client *c, struct put_state *ps, unsigned n)
{
	pthread_t tids[DFS_SERVERS_MAX];
	bool started[DFS_SERVERS_MAX];

	for (unsigned k = 0; k < n; k++) {
		started[k] = pthread_create(&tids[k], NULL, upload_run, &ps->uploads[k]) == 0;
		if (!started[k])
			upload_run(&ps->uploads[k]);
	}
	for (unsigned k = 0; k < n; k++)
		if (started[k])
			pthread_join(tids[k], NULL);
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < ps->uploads[k].ntargets; i++) {
			struct target *t = &ps->uploads[k].targets[i];

			if (t->broken && t->link->up)
				conn_mark_down(c, t->link, t->why);
			else if (!t->err)
				ps->stored[t->link->conf->number - 1][k] = true;
		}
	}
}

/* Why an upload to server s failed (the first failure seen), or NULL. */
static const char *upload_failure(const struct put_state *ps, unsigned n, unsigned s)
{
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < ps->uploads[k].ntargets; i++) {
			const struct target *t = &ps->uploads[k].targets[i];

			if (t->err && t->link->conf->number == s)
				return t->why;
		}
	}
	return NULL;
}

static int describe_chunk_failure(struct dfs_client *c, const char *path, const struct upload *u)
{
	char label[160];
	int err = -EHOSTDOWN;

	for (unsigned i = 0; i < u->ntargets; i++)
		if (u->targets[i].err == -ERANGE)
			return plan_clock_refused(c, path, u->targets[i].link->conf->number);
	for (unsigned i = 0; i < u->ntargets; i++) {
		if (u->targets[i].err == -ENOSPC ||
		    (u->targets[i].err && err == -EHOSTDOWN && u->targets[i].err != -EHOSTDOWN))
			err = u->targets[i].err;
	}
	if (u->ntargets == 0)
		return client_fail(
		    c, -EHOSTDOWN,
		    "%s: both servers holding chunk %u are down; nothing was changed", path,
		    u->index);
	return client_fail(c, err, "%s: chunk %u could not be stored: %s: %s", path, u->index,
			   link_label(u->targets[0].link, label, sizeof(label)), u->targets[0].why);
}

/* Fails a put that some server refused for the user's quota, undoing it everywhere. */
static int quota_refused(struct dfs_client *c, const char *path, const char *remote_name,
			 uint64_t ver)
{
	put_abort_everywhere(c, remote_name, ver);
	return client_fail(c, -EDQUOT,
			   "%s: over quota: storing %s would exceed the user's quota; "
			   "nothing was changed",
			   path, remote_name);
}

/* Whether some server refused an upload of the put for the user's quota. */
static bool uploads_over_quota(const struct put_state *ps, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		for (unsigned i = 0; i < ps->uploads[k].ntargets; i++)
			if (ps->uploads[k].targets[i].err == -EDQUOT)
				return true;
	return false;
}

int dfs_put(struct dfs_client *c, const char *path, const char *remote_name)
{
	struct put_state *ps = NULL;
	struct put_resume resume = {.fd = -1};
	bool done[DFS_SERVERS_MAX][DFS_SERVERS_MAX], keep = false;
	uint64_t sums[DFS_SERVERS_MAX], ver = 0, newest = 0;
	atomic_uint_fast64_t progress = 0;
	unsigned n = c->conf.nservers, committed[DFS_SERVERS_MAX] = {0};
	unsigned lacking[DFS_SERVERS_MAX], nlacking = 0, clock_refused = 0;
	bool superseded = false, collided = false, over_quota = false;
	bool commit_sent[DFS_SERVERS_MAX] = {false};
	struct stat sb;
	int fd = -1, err;

	err = client_check_call(c, remote_name);
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		err = client_fail(c, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = client_fail(c, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_size <= SMALL_FILE_MAX && !c->no_store) {
		err = put_small(c, path, remote_name, fd, &sb);
		if (err != -EOPNOTSUPP)
			goto out;
		err = 0;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		err = client_fail(c, -ENOMEM, "out of memory");
		goto out;
	}
	layout_init(&ps->layout, remote_name, strlen(remote_name), n);
	/* Numbered above every version the servers hold, this put lands after
	 * every write of the name that finished before it began. */
	err = plan_write_version(c, remote_name, &newest);
	if (err == 0)
		err = resume_put_open(c, remote_name, &sb, newest, plan_new_version(newest), &ver,
				      done, &resume);
	if (err)
		goto out;
	if (resume.resumed)
		client_warn(c, 0, "%s: continuing the interrupted upload of %s", path, remote_name);
	for (unsigned k = 1; k <= n; k++) {
		struct upload *u = &ps->uploads[k - 1];

		*u = (struct upload){.c = c,
				     .name = remote_name,
				     .ver = ver,
				     .index = k,
				     .progress = &progress,
				     .total = (uint64_t)sb.st_size,
				     .resume = &resume};
		u->src.fd = fd;
		layout_range(&ps->layout, (uint64_t)sb.st_size, k, &u->src.offset, &u->src.size);
		ps->sizes[k - 1] = u->src.size;
		for (int which = 0; which < 2; which++) {
			unsigned s = ps->layout.holder[k - 1][which];
			struct link *l = &c->links[s - 1];

			if (!l->up)
				continue;
			u->targets[u->ntargets].link = l;
			u->targets[u->ntargets].role = layout_role(&ps->layout, s, k);
			u->targets[u->ntargets].skip = done[s - 1][k - 1];
			u->ntargets++;
		}
	}
	run_uploads(c, ps, n);
	/* A quota refusal from any server fails the whole put: the servers
	 * count the same files, so the others would refuse its commit too. */
	if (uploads_over_quota(ps, n)) {
		err = quota_refused(c, path, remote_name, ver);
		goto out;
	}
	for (unsigned k = 0; k < n; k++) {
		bool any = false;

		for (unsigned s = 0; s < n; s++)
			any = any || ps->stored[s][k];
		if (!any) {
			err = describe_chunk_failure(c, path, &ps->uploads[k]);
			/* Connections lost mid-transfer: every server keeps what
			 * it staged (housekeeping drops it if nobody comes back
			 * for it), and a later put --resume sends only the rest.
			 * A chunk whose holders were both down from the start was
			 * never begun: that put fails cleanly, leaving nothing. */
			keep = err == -EHOSTDOWN && resume.fd >= 0 && ps->uploads[k].ntargets > 0;
			if (keep) {
				char reason[sizeof(c->last_error)];

				snprintf(reason, sizeof(reason), "%s", dfs_last_error(c));
				client_fail(c, err, "%s; 'dfs put --resume' continues this upload",
					    reason);
			} else {
				put_abort_everywhere(c, remote_name, ver);
			}
			goto out;
		}
		sums[k] = ps->uploads[k].sum;
	}

	/* A server commits only when both of its chunks arrived. */
	for (unsigned s = 1; s <= n; s++) {
		const unsigned *pair = ps->layout.pair[s - 1];

		if (!c->links[s - 1].up || !ps->stored[s - 1][pair[0] - 1] ||
		    !ps->stored[s - 1][pair[1] - 1])
			lacking[nlacking++] = s;
	}
	/* Every commit is sent before any answer is read, so the servers
	 * make their copies durable in parallel. */
	for (unsigned s = 1; s <= n; s++) {
		struct link *l = &c->links[s - 1];
		const dfs_file_info base = {.ver = ver,
					    .size = (uint64_t)sb.st_size,
					    .mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
							sb.st_mtim.tv_nsec};
		dfs_chunk_sum held[2];
		dfs_file_info info;
		bool skip = false;

		for (unsigned i = 0; i < nlacking; i++)
			skip = skip || lacking[i] == s;
		if (skip)
			continue;
		commit_record(&ps->layout, s, remote_name, &base, ps->sizes, sums, lacking,
			      nlacking, held, &info);
		commit_sent[s - 1] = commit_send(c, l, &info) == 0;
	}
	for (unsigned s = 1; s <= n; s++) {
		if (!commit_sent[s - 1])
			continue;
		err = commit_recv(c, &c->links[s - 1]);
		if (err == -ESTALE || err == -EEXIST)
			superseded = true;
		if (err == -EEXIST)
			collided = true;
		else if (err == -EDQUOT)
			over_quota = true;
		else if (err == -ERANGE)
			clock_refused = s;
		else if (err == 0)
			commit_tally(&ps->layout, s, committed);
	}
	if (over_quota) {
		/* Servers that committed before another refused undo their commit. */
		err = quota_refused(c, path, remote_name, ver);
		goto out;
	}
	if (superseded) {
		/* Another put or delete of the name, running at the same time, came
		 * out newer: it is what readers get, so this one did not happen. */
		err = client_fail(c, -ESTALE,
				  "%s: %s was written by another client while this put ran; "
				  "that write is newer and this put did not take effect",
				  path, remote_name);
		/* ABORT undoes a commit of this version: not where another
		 * client's file has the same version number. */
		if (!collided)
			put_abort_everywhere(c, remote_name, ver);
		goto out;
	}
	if (clock_refused) {
		err = plan_clock_refused(c, path, clock_refused);
		put_abort_everywhere(c, remote_name, ver);
		goto out;
	}
	err = 0;
	for (unsigned k = 0; k < n; k++) {
		if (!committed[k]) {
			err = client_fail(c, -EHOSTDOWN,
					  "%s: chunk %u could not be committed on any server; "
					  "the previous version stays current",
					  path, k + 1);
			put_abort_everywhere(c, remote_name, ver);
			goto out;
		}
	}
	for (unsigned i = 0; i < nlacking; i++)
		put_warn_lacking(c, lacking[i], remote_name, upload_failure(ps, n, lacking[i]));
out:
	resume_put_close(&resume, keep);
	free(ps);
	if (fd >= 0)
		close(fd);
	return err;
}
