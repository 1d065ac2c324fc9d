/* put_small.c: storing a small file with one STORE call per server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checksum.h"
#include "internal.h"
#include "put_small.h"
#include "version.h"

static int read_whole(int fd, char *buf, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		ssize_t got = pread(fd, buf + done, (size_t)(size - done), (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EAGAIN; /* the file shrank while being read */
		done += (uint64_t)got;
	}
	return 0;
}

size_t small_put_item(const struct small_put *p, unsigned s, dfs_file_info *info,
		      dfs_chunk_sum held[2], char *data)
{
	const dfs_file_info base = {.ver = p->ver, .size = p->size, .mtime_ns = p->mtime_ns};
	size_t len = 0;

	commit_record(&p->layout, s, p->name, &base, p->chunk_size, p->sums, (unsigned *)p->lacking,
		      p->nlacking, held, info);
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		unsigned k = held[i].index;

		memcpy(data + len, p->bytes + p->offset[k - 1], (size_t)p->chunk_size[k - 1]);
		len += (size_t)p->chunk_size[k - 1];
	}
	return len;
}

/* Sends STORE to server s without waiting for the answer. */
static bool store_send(struct small_put *p, unsigned s, char *scratch)
{
	struct link *l = &p->c->links[s - 1];
	dfs_store_args a = {.cred = l->cred};
	dfs_chunk_sum held[2];
	enum clnt_stat st;

	a.data.data_len = (u_int)small_put_item(p, s, &a.info, held, scratch);
	a.data.data_val = scratch;
	st = rpcstream_send(l->clnt[0], DFSPROC_STORE, (xdrproc_t)xdr_dfs_store_args, &a);
	if (st != RPC_SUCCESS) {
		clnt_problem(l->clnt[0], st, p->why[s - 1], sizeof(p->why[s - 1]));
		conn_mark_down(p->c, l, p->why[s - 1]);
		return false;
	}
	return true;
}

/* Reads server s's answer to STORE: 0 or -errno (why[s-1] says why);
 * -EOPNOTSUPP from a server older than STORE. */
static int store_recv(struct small_put *p, unsigned s)
{
	struct link *l = &p->c->links[s - 1];
	dfs_stat res = DFS_OK;
	enum clnt_stat st;

	st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_stat, &res);
	if (st == RPC_PROCUNAVAIL)
		return -EOPNOTSUPP;
	if (st != RPC_SUCCESS) {
		clnt_problem(l->clnt[0], st, p->why[s - 1], sizeof(p->why[s - 1]));
		conn_mark_down(p->c, l, p->why[s - 1]);
		return -EHOSTDOWN;
	}
	if (res != DFS_OK)
		snprintf(p->why[s - 1], sizeof(p->why[s - 1]), "%s",
			 dfs_strerror(client_errno(res)));
	return client_errno(res);
}

/* Every server with a copy learns which servers lack the version. */
static void record_lacking(struct small_put *p, const bool *stored)
{
	for (unsigned s = 1; s <= p->n; s++) {
		dfs_file_info info;
		dfs_chunk_sum held[2];
		const dfs_file_info base = {
		    .ver = p->ver, .size = p->size, .mtime_ns = p->mtime_ns};

		if (!stored[s - 1])
			continue;
		commit_record(&p->layout, s, p->name, &base, p->chunk_size, p->sums, p->lacking,
			      p->nlacking, held, &info);
		put_commit(p->c, &p->c->links[s - 1], &info);
	}
}

/* With the servers that answered unable to vouch for having seen every
 * earlier write, asks them all for the newest version: -ESTALE if it is
 * newer than this put's. */
static int check_order(struct small_put *p, const bool *answered)
{
	uint64_t newest = 0;
	int err;

	if (version_vouches(answered, p->n))
		return 0;
	err = plan_write_version(p->c, p->name, &newest);
	if (err)
		return err;
	return newest > p->ver ? -ESTALE : 0;
}

void small_put_begin(struct small_put *p)
{
	p->nlacking = 0;
	memset(p->why, 0, p->n * sizeof(p->why[0]));
	memset(p->sent, 0, sizeof(p->sent));
	for (unsigned s = 1; s <= p->n; s++) {
		p->err[s - 1] = -EHOSTDOWN;
		if (!p->c->links[s - 1].up)
			p->lacking[p->nlacking++] = s;
	}
}

int small_put_settle(struct small_put *p)
{
	bool stored[DFS_SERVERS_MAX] = {false}, answered[DFS_SERVERS_MAX] = {false};
	unsigned committed[DFS_SERVERS_MAX] = {0}, nfailed = 0, clock_refused = 0;
	bool superseded = false, collided = false, unsupported = false, over_quota = false;
	int err, worst = -EHOSTDOWN;

	for (unsigned s = 1; s <= p->n; s++) {
		if (!p->sent[s - 1])
			continue;
		err = p->err[s - 1];
		if (err == -EOPNOTSUPP) {
			unsupported = true;
			continue;
		}
		if (err == -ESTALE || err == -EEXIST) {
			answered[s - 1] = true;
			superseded = true;
			collided = collided || err == -EEXIST;
			continue;
		}
		if (err == -ERANGE)
			clock_refused = s;
		if (err == -EDQUOT)
			over_quota = true;
		if (err) {
			if (err == -ENOSPC || worst == -EHOSTDOWN)
				worst = err;
			continue;
		}
		stored[s - 1] = answered[s - 1] = true;
		commit_tally(&p->layout, s, committed);
	}
	/* A server older than STORE: the caller stores the file chunk by chunk, as a
	 * newer version than whatever the other servers took. */
	if (unsupported) {
		p->c->no_store = true;
		return -EOPNOTSUPP;
	}
	if (over_quota) {
		/* Servers that stored it before another refused undo their commit. */
		put_abort_everywhere(p->c, p->name, p->ver);
		return client_fail(p->c, -EDQUOT,
				   "%s: over quota: storing %s would exceed the user's quota; "
				   "nothing was changed",
				   p->path, p->name);
	}
	if (superseded) {
		/* ABORT undoes a commit of this version: not where another client's
		 * file has the same version number. */
		if (!collided)
			put_abort_everywhere(p->c, p->name, p->ver);
		return -ESTALE;
	}
	if (clock_refused) {
		put_abort_everywhere(p->c, p->name, p->ver);
		return plan_clock_refused(p->c, p->path, clock_refused);
	}
	for (unsigned k = 1; k <= p->n; k++) {
		if (!committed[k - 1]) {
			unsigned s = p->layout.holder[k - 1][0];
			char label[160];

			put_abort_everywhere(p->c, p->name, p->ver);
			return client_fail(
			    p->c, worst,
			    "%s: chunk %u could not be stored: %s: %s; the previous "
			    "version stays current",
			    p->path, k, link_label(&p->c->links[s - 1], label, sizeof(label)),
			    p->why[s - 1][0] ? p->why[s - 1] : p->c->links[s - 1].why);
		}
	}
	err = check_order(p, answered);
	if (err)
		return err;
	for (unsigned s = 1; s <= p->n; s++) {
		if (p->sent[s - 1] && !stored[s - 1]) {
			p->lacking[p->nlacking++] = s;
			nfailed++;
		}
	}
	if (nfailed)
		record_lacking(p, stored);
	for (unsigned i = 0; i < p->nlacking; i++)
		put_warn_lacking(p->c, p->lacking[i], p->name,
				 p->why[p->lacking[i] - 1][0] ? p->why[p->lacking[i] - 1] : NULL);
	return 0;
}

/* Stores the file as version p->ver on every live server. 0, -errno,
 * -EOPNOTSUPP (a server predates STORE) or -ESTALE: some server holds a
 * newer version, so this one is not the current file. */
static int store_everywhere(struct small_put *p)
{
	char *scratch = malloc(p->size ? (size_t)p->size : 1);

	if (!scratch)
		return client_fail(p->c, -ENOMEM, "out of memory");
	small_put_begin(p);
	/* Every STORE is sent before any answer is read: the servers write in parallel. */
	for (unsigned s = 1; s <= p->n; s++)
		if (p->c->links[s - 1].up)
			p->sent[s - 1] = store_send(p, s, scratch);
	free(scratch);
	for (unsigned s = 1; s <= p->n; s++)
		if (p->sent[s - 1])
			p->err[s - 1] = store_recv(p, s);
	return small_put_settle(p);
}

int small_put_new(struct dfs_client *c, const char *path, const char *remote_name, int fd,
		  const struct stat *sb, struct small_put **out)
{
	struct small_put *p = calloc(1, sizeof(*p));
	int err;

	*out = NULL;
	if (!p)
		return client_fail(c, -ENOMEM, "out of memory");
	*p = (struct small_put){.c = c,
				.path = path,
				.name = remote_name,
				.size = (uint64_t)sb->st_size,
				.mtime_ns =
				    (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec,
				.n = c->conf.nservers};
	layout_init(&p->layout, remote_name, strlen(remote_name), p->n);
	p->bytes = malloc(p->size ? (size_t)p->size : 1);
	if (!p->bytes) {
		free(p);
		return client_fail(c, -ENOMEM, "out of memory");
	}
	err = read_whole(fd, p->bytes, p->size);
	if (err) {
		small_put_free(p);
		return client_fail(c, err, "%s: %s", path,
				   err == -EAGAIN ? "the file changed while being read"
						  : strerror(-err));
	}
	for (unsigned k = 1; k <= p->n; k++) {
		layout_range(&p->layout, p->size, k, &p->offset[k - 1], &p->chunk_size[k - 1]);
		p->sums[k - 1] = checksum_of(p->bytes + p->offset[k - 1], p->chunk_size[k - 1]);
	}
	*out = p;
	return 0;
}

void small_put_free(struct small_put *p)
{
	if (p) {
		free(p->bytes);
		free(p);
	}
}

int small_put_again(struct small_put *p, int err, unsigned attempt)
{
	uint64_t newest = 0;

	for (; err == -ESTALE && attempt < WRITE_ATTEMPTS; attempt++) {
		err = plan_write_version(p->c, p->name, &newest);
		if (err)
			return err;
		p->ver = plan_new_version(newest);
		err = p->ver ? store_everywhere(p) : -ERANGE;
	}
	if (err == -ESTALE)
		err = client_fail(p->c, -ESTALE,
				  "%s: %s was written by other clients during each of %u tries; "
				  "this put did not take effect",
				  p->path, p->name, WRITE_ATTEMPTS);
	else if (err == -ERANGE && p->ver == 0)
		err = client_fail(p->c, -ERANGE, "%s: no version is left above the newest one",
				  p->path);
	return err;
}

int put_small(struct dfs_client *c, const char *path, const char *remote_name, int fd,
	      const struct stat *sb)
{
	bool up[DFS_SERVERS_MAX] = {false};
	struct small_put *p;
	int err = small_put_new(c, path, remote_name, fd, sb, &p);

	if (err)
		return err;
	/* Numbered by this host's clock first: a server holding a newer version
	 * refuses it, and the put is numbered again above what the servers hold.
	 * That needs servers that saw every earlier write to be up. */
	for (unsigned k = 0; k < p->n; k++)
		up[k] = c->links[k].up;
	err = plan_check_vouches(c, path, up);
	if (err == 0) {
		p->ver = plan_new_version(0);
		err = p->ver ? store_everywhere(p) : -ERANGE;
		err = small_put_again(p, err, 1);
	}
	small_put_free(p);
	return err;
}
