/* upload.c: one chunk read once and streamed to each of its servers, checked as it goes. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checksum.h"
#include "internal.h"
#include "upload.h"

/* Calls in flight per connection: enough to keep the server busy while the
 * next block is read, few enough that replies never fill a socket buffer. */
#define PUT_WINDOW 4

static void target_fail_rpc(struct target *t, enum clnt_stat st)
{
	char why[200];

	t->err = -EHOSTDOWN;
	t->broken = true;
	snprintf(t->why, sizeof(t->why), "%s", clnt_problem(t->clnt, st, why, sizeof(why)));
}

static void target_fail_status(struct target *t, dfs_stat st)
{
	t->err = client_errno(st);
	snprintf(t->why, sizeof(t->why), "%s", dfs_strerror(t->err));
}

/* Collects one pipelined reply; records a failure on the target. */
static void collect(struct target *t)
{
	dfs_stat res = DFS_OK;
	enum clnt_stat st = rpcstream_recv(t->clnt, (xdrproc_t)xdr_dfs_stat, &res);

	t->outstanding--;
	if (st != RPC_SUCCESS)
		target_fail_rpc(t, st);
	else if (res != DFS_OK && !t->err)
		target_fail_status(t, res);
}

static void drain(struct target *t)
{
	while (t->outstanding && !t->broken)
		collect(t);
}

static bool target_live(const struct target *t)
{
	return !t->err;
}

/* Opens each target's connection for its role if it is not open yet. */
static void connect_targets(struct upload *u)
{
	for (unsigned i = 0; i < u->ntargets; i++) {
		struct target *t = &u->targets[i];

		if (t->skip)
			continue;
		t->clnt = conn_role(u->c, t->link, t->role, t->why, sizeof(t->why));
		if (!t->clnt) {
			t->err = -EHOSTDOWN;
			t->broken = true;
		}
	}
}

/* Asks every target to begin at once, then reads the answers, so the
 * servers open and reserve space in parallel. */
static void begin_targets(struct upload *u)
{
	dfs_put_begin_args a = {.ver = u->ver, .index = u->index, .size = u->src.size};
	bool sent[2] = {false, false};

	a.name.dfs_name_val = (char *)u->name;
	a.name.dfs_name_len = (u_int)strlen(u->name);
	for (unsigned i = 0; i < u->ntargets; i++) {
		struct target *t = &u->targets[i];
		enum clnt_stat st;

		if (t->skip || !target_live(t))
			continue;
		a.cred = t->link->cred;
		st = rpcstream_send(t->clnt, DFSPROC_PUT_BEGIN, (xdrproc_t)xdr_dfs_put_begin_args,
				    &a);
		if (st != RPC_SUCCESS)
			target_fail_rpc(t, st);
		else
			sent[i] = true;
	}
	for (unsigned i = 0; i < u->ntargets; i++) {
		struct target *t = &u->targets[i];
		dfs_put_begin_res r;
		enum clnt_stat st;

		if (!sent[i])
			continue;
		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(t->clnt, (xdrproc_t)xdr_dfs_put_begin_res, &r);
		if (st != RPC_SUCCESS) {
			target_fail_rpc(t, st);
			continue;
		}
		if (r.status != DFS_OK) {
			target_fail_status(t, r.status);
			continue;
		}
		t->handle = r.dfs_put_begin_res_u.ok.handle;
		t->start = r.dfs_put_begin_res_u.ok.offset;
		if (t->start > u->src.size)
			t->start = 0;
	}
}

static void send_block(struct target *t, uint64_t pos, const char *buf, size_t len)
{
	dfs_put_block_args a = {.cred = t->link->cred, .handle = t->handle};
	uint64_t skip;
	enum clnt_stat st;

	/* Bytes a server already has were still read and checksummed here:
	 * the chunk's checksum covers all of it. */
	if (t->skip || pos + len <= t->start)
		return;
	skip = t->start > pos ? t->start - pos : 0;
	a.offset = pos + skip;
	a.data.data_val = (char *)buf + skip;
	a.data.data_len = (u_int)(len - skip);
	if (t->outstanding >= PUT_WINDOW)
		collect(t);
	if (!target_live(t))
		return;
	st = rpcstream_send(t->clnt, DFSPROC_PUT_BLOCK, (xdrproc_t)xdr_dfs_put_block_args, &a);
	if (st != RPC_SUCCESS) {
		target_fail_rpc(t, st);
		return;
	}
	t->outstanding++;
}

/* Ends the upload on every live target at once, then reads the answers,
 * so the servers check and fsync their copies in parallel. */
static void end_targets(struct upload *u)
{
	dfs_put_end_args a = {.checksum = u->sum};

	for (unsigned i = 0; i < u->ntargets; i++) {
		struct target *t = &u->targets[i];
		enum clnt_stat st;

		if (t->skip)
			continue;
		drain(t);
		if (!target_live(t))
			continue;
		a.cred = t->link->cred;
		a.handle = t->handle;
		st = rpcstream_send(t->clnt, DFSPROC_PUT_END, (xdrproc_t)xdr_dfs_put_end_args, &a);
		if (st != RPC_SUCCESS)
			target_fail_rpc(t, st);
		else
			t->outstanding++;
	}
	for (unsigned i = 0; i < u->ntargets; i++) {
		struct target *t = &u->targets[i];

		if (t->skip || !target_live(t) || t->outstanding == 0)
			continue;
		collect(t); /* PUT_END answers a dfs_stat, like PUT_BLOCK */
		if (target_live(t) && u->resume)
			resume_put_stored(u->resume, t->link->conf->number, u->index);
	}
}

static void report_progress(struct upload *u, size_t len)
{
	struct dfs_event ev = {.kind = DFS_EVENT_PROGRESS, .name = u->name, .total = u->total};

	if (!u->progress)
		return;
	ev.done = atomic_fetch_add(u->progress, len) + len;
	client_emit(u->c, &ev);
}

void *upload_run(void *arg)
{
	struct upload *u = arg;
	struct checksum ck;
	uint64_t pos = 0;
	char *buf = NULL;
	bool any;

	checksum_init(&ck);
	connect_targets(u);
	begin_targets(u);
	buf = malloc(DFS_BLOCK_MAX);
	if (!buf) {
		for (unsigned i = 0; i < u->ntargets; i++)
			if (!u->targets[i].err)
				u->targets[i].err = -ENOMEM;
		goto out;
	}
	while (pos < u->src.size) {
		size_t want =
		    u->src.size - pos < DFS_BLOCK_MAX ? (size_t)(u->src.size - pos) : DFS_BLOCK_MAX;
		ssize_t got = pread(u->src.fd, buf, want, (off_t)(u->src.offset + pos));

		if (got <= 0) {
			int err = got < 0 ? -errno : -EIO;

			for (unsigned i = 0; i < u->ntargets; i++) {
				u->targets[i].err = err;
				snprintf(u->targets[i].why, sizeof(u->targets[i].why),
					 "reading the local file: %s", strerror(-err));
			}
			goto out;
		}
		checksum_update(&ck, buf, (size_t)got);
		any = false;
		for (unsigned i = 0; i < u->ntargets; i++) {
			if (target_live(&u->targets[i])) {
				send_block(&u->targets[i], pos, buf, (size_t)got);
				any = any || target_live(&u->targets[i]);
			}
		}
		if (!any)
			goto out;
		pos += (uint64_t)got;
		report_progress(u, (size_t)got);
	}
	u->sum = checksum_final(&ck);
	end_targets(u);
out:
	for (unsigned i = 0; i < u->ntargets; i++)
		drain(&u->targets[i]);
	free(buf);
	return NULL;
}

int put_chunk_to(struct dfs_client *c, struct link *l, int role, const char *name, uint64_t ver,
		 unsigned index, const struct chunk_source *src, uint64_t *sum)
{
	struct upload u = {
	    .c = c, .name = name, .ver = ver, .index = index, .src = *src, .ntargets = 1};
	char label[160];

	u.targets[0].link = l;
	u.targets[0].role = role;
	upload_run(&u);
	if (u.targets[0].err) {
		if (u.targets[0].broken)
			conn_mark_down(c, l, u.targets[0].why);
		return client_fail(c, u.targets[0].err, "storing chunk %u on %s: %s", index,
				   link_label(l, label, sizeof(label)), u.targets[0].why);
	}
	*sum = u.sum;
	return 0;
}
