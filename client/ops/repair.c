/* repair.c: bringing every copy of a file back to the newest complete version.
 *
 * Copies travel through the client: it reads a chunk from a good holder (or
 * uses a verified local copy) and uploads it to the server that lacks it.
 * A server recovering by itself runs the same code as a client of the
 * others (session/peer.c) with c->only_server set: it then writes only to
 * itself, since its sessions on the others are read-only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chunk.h"
#include "dfs_peer.h"
#include "internal.h"

static void announce(struct dfs_client *c, unsigned server, unsigned chunk, const char *name,
		     const char *what)
{
	struct dfs_event ev = {
	    .kind = DFS_EVENT_REPAIRED, .server = server, .chunk = chunk, .name = name};
	char text[512];

	snprintf(text, sizeof(text), "%s: chunk %u on server %u %s; rewritten", name, chunk, server,
		 what);
	ev.text = text;
	client_emit(c, &ev);
}

/* Copies chunk k from a good holder other than skip_server into fd (at offset 0),
 * checking it against its checksum; to_disk: fd is the chunk's final file, whose
 * bytes are sent to disk as they arrive. 0 or -EIO if no holder gave it intact. */
static int fetch_into(struct dfs_client *c, const struct file_view *view,
		      const struct read_plan *plan, unsigned k, unsigned skip_server, int fd,
		      bool to_disk)
{
	unsigned cands[2] = {plan->source[k - 1], plan->backup[k - 1]};

	for (int i = 0; i < 2; i++) {
		unsigned s = cands[i];

		if (!s || s == skip_server || !c->links[s - 1].up)
			continue;
		if (get_chunk_from(c, &c->links[s - 1], layout_role(&view->layout, s, k),
				   view->name, plan->info->ver, k, fd, 0, plan->chunk_size[k - 1],
				   plan->chunk_sum[k - 1], to_disk) == 0)
			return 0;
	}
	return -EIO;
}

/* Copies chunk k from a good holder into a scratch file so it can be
 * uploaded; returns that file's descriptor or -errno. */
static int fetch_to_scratch(struct dfs_client *c, const struct file_view *view,
			    const struct read_plan *plan, unsigned k, unsigned skip_server)
{
	const char *tmpdir = getenv("TMPDIR");
	int fd = open(tmpdir && *tmpdir ? tmpdir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = fetch_into(c, view, plan, k, skip_server, fd, false);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Copies chunk k from a good holder straight into the recovering server's own
 * store (no scratch file, no RPC to itself). 0 or -errno. */
static int fetch_to_own_store(struct dfs_client *c, const struct file_view *view,
			      const struct read_plan *plan, unsigned k)
{
	const struct dfs_peer_store *own = c->self_store;
	void *handle = NULL;
	int fd, err;

	fd = own->open_chunk(own->arg, c->user, view->name, plan->info->ver, k,
			     plan->chunk_size[k - 1], &handle);
	if (fd < 0)
		return fd;
	err = fetch_into(c, view, plan, k, c->only_server, fd, true);
	return own->close_chunk(own->arg, handle, err == 0) ?: err;
}

/* Whether this pass may change what server s holds. */
static bool may_write(const struct dfs_client *c, unsigned s)
{
	return !c->only_server || s == c->only_server;
}

/* Commits server s's record of a version: into the recovering server's own
 * store when s is that server, else by RPC. */
static int commit_to(struct dfs_client *c, unsigned s, const dfs_file_info *info)
{
	const struct dfs_peer_store *own = c->self_store;

	if (own && s == c->only_server)
		return own->commit(own->arg, c->user, info);
	return put_commit(c, &c->links[s - 1], info);
}

static void fill_info(const struct read_plan *plan, const struct file_view *view, unsigned s,
		      dfs_chunk_sum held[2], unsigned *lacking, unsigned nlacking,
		      dfs_file_info *info)
{
	commit_record(&view->layout, s, view->name, plan->info, plan->chunk_size, plan->chunk_sum,
		      lacking, nlacking, held, info);
}

/* Spreads a tombstone to live servers that still hold an older version, then shortens
 * the list of servers known to miss it on every server that records one: a server that
 * now holds the tombstone, or answers with no record at all, can no longer revive the
 * file, and a tombstone whose list is empty may expire (docs/operations.md). */
static int repair_delete(struct dfs_client *c, const struct file_view *view,
			 const struct read_plan *plan)
{
	bool holds[DFS_SERVERS_MAX] = {false};
	int written = 0;

	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];
		struct link *l = &c->links[i];
		dfs_delete_args a = {.cred = l->cred, .ver = plan->info->ver};
		dfs_stat res;

		if (!l->up || !h->answered)
			continue;
		if (!h->has_record ||
		    (h->rec.current.deleted && h->rec.current.ver >= plan->info->ver)) {
			holds[i] = true;
			continue;
		}
		if (!may_write(c, i + 1))
			continue;
		a.name.dfs_name_val = (char *)view->name;
		a.name.dfs_name_len = (u_int)view->name_len;
		if (dfsproc_delete_1(&a, &res, l->clnt[0]) == RPC_SUCCESS &&
		    (res == DFS_OK || res == DFS_ENOENT)) {
			announce(c, i + 1, 0, view->name, "held a deleted file");
			holds[i] = true;
			written++;
		}
	}
	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];
		struct link *l = &c->links[i];
		dfs_delete_args a = {.cred = l->cred, .ver = plan->info->ver};
		unsigned keep[DFS_SERVERS_MAX], nkeep = 0, nold;
		dfs_stat res;

		if (!l->up || !h->has_record || !h->rec.current.deleted ||
		    h->rec.current.ver != plan->info->ver || !may_write(c, i + 1))
			continue;
		nold = h->rec.current.lacking.lacking_len;
		for (unsigned k = 0; k < nold && nkeep < DFS_SERVERS_MAX; k++) {
			unsigned x = h->rec.current.lacking.lacking_val[k];

			if (x < 1 || x > view->nservers || !holds[x - 1])
				keep[nkeep++] = x;
		}
		if (nkeep == nold)
			continue;
		a.name.dfs_name_val = (char *)view->name;
		a.name.dfs_name_len = (u_int)view->name_len;
		a.lacking.lacking_val = keep;
		a.lacking.lacking_len = nkeep;
		/* The server answers ENOENT (no live file) and records the shorter list. */
		dfsproc_delete_1(&a, &res, l->clnt[0]);
	}
	return written;
}

static bool listed(const unsigned *v, unsigned n, unsigned x)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Writes chunk k of the planned version to server s: from local_fd if >= 0,
 * else from a good holder. 0 or -errno. */
static int copy_chunk(struct dfs_client *c, const struct file_view *view,
		      const struct read_plan *plan, unsigned s, unsigned k, int local_fd)
{
	struct chunk_source src;
	uint64_t sum = 0;
	int fd = -1, err;

	if (c->self_store && s == c->only_server)
		return fetch_to_own_store(c, view, plan, k);
	if (local_fd >= 0) {
		src.fd = local_fd;
		layout_range(&view->layout, plan->info->size, k, &src.offset, &src.size);
	} else {
		fd = fetch_to_scratch(c, view, plan, k, s);
		if (fd < 0)
			return fd;
		src = (struct chunk_source){fd, 0, plan->chunk_size[k - 1]};
	}
	err = put_chunk_to(c, &c->links[s - 1], layout_role(&view->layout, s, k), view->name,
			   plan->info->ver, k, &src, &sum);
	if (fd >= 0)
		close(fd);
	if (err)
		return err;
	return sum == plan->chunk_sum[k - 1] ? 0 : -EBADMSG;
}

struct chunk_job {
	struct dfs_client *c;
	const struct file_view *view;
	const struct read_plan *plan;
	unsigned s, k;
	int err;
};

static void *chunk_job_run(void *arg)
{
	struct chunk_job *j = arg;

	j->err = copy_chunk(j->c, j->view, j->plan, j->s, j->k, -1);
	return NULL;
}

/* Writes chunks ks[0..n) to server s. A recovering server fetches its two chunks
 * at once: they come from its two neighbours, one each. 0 or -errno. */
static int copy_chunks(struct dfs_client *c, const struct file_view *view,
		       const struct read_plan *plan, unsigned s, const unsigned *ks, unsigned n,
		       int local_fd)
{
	struct chunk_job job = {c, view, plan, s, ks[0], 0};
	pthread_t tid;
	int err;

	if (n == 2 && c->self_store && s == c->only_server &&
	    pthread_create(&tid, NULL, chunk_job_run, &job) == 0) {
		err = copy_chunk(c, view, plan, s, ks[1], -1);
		pthread_join(tid, NULL);
		return job.err ? job.err : err;
	}
	for (unsigned i = 0; i < n; i++) {
		err = copy_chunk(c, view, plan, s, ks[i], local_fd);
		if (err)
			return err;
	}
	return 0;
}

/* Brings server s up to the planned version. Returns the copies written, or
 * -errno if the server could not be brought level. */
static int repair_server(struct dfs_client *c, struct file_view *view, const struct read_plan *plan,
			 unsigned s, int local_fd, const uint64_t *bad, uint64_t *bytes)
{
	const struct holder_view *h = &view->holders[s - 1];
	const dfs_file_info *cur = h->has_record ? &h->rec.current : NULL;
	const unsigned *pair = view->layout.pair[s - 1];
	unsigned ks[2], n = 0;
	bool corrupt[2];
	dfs_chunk_sum held[2];
	dfs_file_info info;
	int err;

	for (int i = 0; i < 2; i++) {
		unsigned k = pair[i];
		bool is_bad = bad && (bad[s - 1] >> (k - 1)) & 1;
		bool has = cur && cur->ver == plan->info->ver && plan_has_chunk(cur, k, NULL);

		if (has && !is_bad)
			continue;
		corrupt[n] = is_bad;
		ks[n++] = k;
	}
	if (n == 0)
		return 0;
	err = copy_chunks(c, view, plan, s, ks, n, local_fd);
	if (err)
		return err;
	for (unsigned i = 0; i < n; i++) {
		*bytes += plan->chunk_size[ks[i] - 1];
		announce(c, s, ks[i], view->name,
			 corrupt[i]			      ? "was corrupt"
			 : cur && cur->ver != plan->info->ver ? "was stale"
							      : "was missing");
	}
	fill_info(plan, view, s, held, NULL, 0, &info);
	if (commit_to(c, s, &info) != 0)
		return -EIO;
	return (int)n;
}

/* Names a copy that could not be made good, and counts it. */
static void not_made_good(struct dfs_client *c, struct repair_tally *t, const char *name,
			  unsigned s, unsigned copies, const char *why)
{
	char label[160];

	if (t)
		t->failed += copies;
	client_warn(c, s, "%s: %s's %s of it could not be made good: %s", name,
		    link_label(&c->links[s - 1], label, sizeof(label)),
		    copies == 1 ? "copy" : "copies", why);
}

int repair_file(struct dfs_client *c, struct file_view *view, const struct read_plan *plan,
		int local_fd, const uint64_t *bad, struct repair_tally *t)
{
	unsigned n = view->nservers;
	bool confirmed[DFS_SERVERS_MAX] = {false}, rewritten[DFS_SERVERS_MAX] = {false};
	uint64_t bytes = 0;
	int written = 0;

	if (plan->deleted)
		return repair_delete(c, view, plan);
	if (!plan->found) {
		if (t) {
			t->failed++;
			client_warn(c, 0, "%s: no complete version is readable to repair it from",
				    view->name);
		}
		return 0;
	}
	for (unsigned s = 1; s <= n; s++) {
		const struct holder_view *h = &view->holders[s - 1];
		const dfs_file_info *cur = h->has_record ? &h->rec.current : NULL;
		int got;

		if (!may_write(c, s)) {
			/* Another server's own recovery brings it level. */
			confirmed[s - 1] = c->links[s - 1].up && h->answered && cur &&
					   cur->ver == plan->info->ver && !cur->deleted &&
					   plan_has_chunk(cur, view->layout.pair[s - 1][0], NULL) &&
					   plan_has_chunk(cur, view->layout.pair[s - 1][1], NULL);
			continue;
		}
		if (!c->links[s - 1].up || !h->answered) {
			if (t)
				not_made_good(c, t, view->name, s, 2,
					      c->links[s - 1].up ? "it did not answer"
								 : c->links[s - 1].why);
			continue;
		}
		/* A newer current version (a put in progress) is left alone. */
		if (cur && cur->ver > plan->info->ver && !cur->deleted)
			continue;
		got = repair_server(c, view, plan, s, local_fd, bad, &bytes);
		if (got >= 0) {
			confirmed[s - 1] = true;
			rewritten[s - 1] = got > 0;
			written += got;
		} else if (t) {
			not_made_good(c, t, view->name, s, 1, dfs_strerror(got));
		}
	}
	if (t) {
		t->rewritten += (unsigned)written;
		t->bytes += bytes;
	}
	/* Repair hints: each holder of the version keeps, of the servers it
	 * recorded as lacking, those still not known to hold it, plus those
	 * that answered and could not be brought level. */
	for (unsigned s = 1; s <= n; s++) {
		const struct holder_view *h = &view->holders[s - 1];
		const dfs_file_info *cur = h->has_record ? &h->rec.current : NULL;
		unsigned lacking[DFS_SERVERS_MAX], nlacking = 0;
		const unsigned *old = NULL;
		unsigned nold = 0;
		dfs_chunk_sum held[2];
		dfs_file_info info;
		bool same;

		if (!confirmed[s - 1] || !may_write(c, s))
			continue;
		if (!rewritten[s - 1] && cur) {
			old = cur->lacking.lacking_val;
			nold = cur->lacking.lacking_len;
		}
		for (unsigned x = 1; x <= n; x++) {
			bool answered = c->links[x - 1].up && view->holders[x - 1].answered;

			if (!confirmed[x - 1] && (listed(old, nold, x) || answered))
				lacking[nlacking++] = x;
		}
		same = nlacking == nold;
		for (unsigned i = 0; same && i < nlacking; i++)
			same = listed(old, nold, lacking[i]);
		if (same)
			continue;
		fill_info(plan, view, s, held, lacking, nlacking, &info);
		commit_to(c, s, &info);
	}
	return written;
}

/* Asks every live holder of the chosen version of name to re-read its copies;
 * bad[s-1] gets bit k-1 for each corrupt chunk k of server s. Servers that
 * could not check count as failed. */
static void verify_view(struct dfs_client *c, const struct file_view *view,
			const struct read_plan *plan, uint64_t bad[], struct repair_tally *t)
{
	char label[160];

	for (unsigned i = 0; plan->found && i < view->nservers; i++) {
		struct link *l = &c->links[i];
		dfs_version_args a = {.cred = l->cred, .ver = plan->info->ver};
		dfs_verify_res r;
		enum clnt_stat st;

		if (!l->up || !plan_held(&view->holders[i], plan->info->ver))
			continue;
		a.name.dfs_name_val = (char *)view->name;
		a.name.dfs_name_len = (u_int)view->name_len;
		memset(&r, 0, sizeof(r));
		st = dfsproc_verify_1(&a, &r, l->clnt[0]);
		if (st != RPC_SUCCESS || r.status != DFS_OK) {
			t->failed++;
			client_warn(c, i + 1, "%s: %s could not verify its copies: %s", view->name,
				    link_label(l, label, sizeof(label)),
				    st != RPC_SUCCESS ? clnt_sperrno(st)
						      : dfs_strerror(client_errno(r.status)));
			xdr_free((xdrproc_t)xdr_dfs_verify_res, (char *)&r);
			continue;
		}
		for (u_int k = 0; k < r.dfs_verify_res_u.checks.checks_len; k++) {
			const dfs_chunk_check *ck = &r.dfs_verify_res_u.checks.checks_val[k];

			t->verified++;
			if (ck->status != DFS_OK && ck->index >= 1 && ck->index <= view->nservers) {
				bad[i] |= 1ull << (ck->index - 1);
				t->corrupt++;
			}
		}
		xdr_free((xdrproc_t)xdr_dfs_verify_res, (char *)&r);
	}
}

/* Repairs one name: lookup on every server, choose, verify every copy, rewrite
 * what is missing, stale or corrupt. 0 or -errno (the lookup failed). */
static int repair_name(struct dfs_client *c, const char *name, struct repair_tally *t)
{
	uint64_t bad[DFS_SERVERS_MAX] = {0};
	struct file_view view;
	struct read_plan plan;
	int err;

	t->files++;
	err = plan_lookup(c, name, false, &view);
	if (err) {
		t->failed++;
		return err;
	}
	plan_choose(&view, &plan);
	/* A recovering server leaves the re-reading of copies to each one's scrub. */
	if (!c->only_server)
		verify_view(c, &view, &plan, bad, t);
	repair_file(c, &view, &plan, -1, bad, t);
	plan_view_free(&view);
	return 0;
}

/* Which of the user's names a pass over all of them takes. */
enum pass { DIVERGED, ALL_WITH_DELETES, ALL_LIVE };

/* Repairs the user's names: those whose servers disagree (deletes included),
 * every name (deletes included), or every live file. */
static int repair_every(struct dfs_client *c, enum pass pass, struct repair_tally *t)
{
	struct dfs_file_list *list = NULL;
	int err = pass == ALL_LIVE ? dfs_list(c, &list) : list_names(c, &list);

	if (err)
		return err;
	for (size_t i = 0; i < list->count; i++)
		if (pass != DIVERGED || list->files[i]->diverged)
			repair_name(c, list->files[i]->name, t);
	dfs_file_list_free(list);
	return 0;
}

int repair_one(struct dfs_client *c, const char *name, struct repair_tally *t)
{
	return repair_name(c, name, t);
}

static int finish(struct dfs_client *c, int err, const struct repair_tally *t,
		  struct dfs_repair_report **report)
{
	if (report) {
		*report = malloc(sizeof(**report));
		if (!*report)
			return client_fail(c, -ENOMEM, "out of memory");
		**report = (struct dfs_repair_report){t->files, t->verified, t->corrupt,
						      t->rewritten, t->failed};
	}
	if (err)
		return err;
	if (t->failed)
		return client_fail(c, -EIO, "%u chunk %s could not be made good (see the warnings)",
				   t->failed, t->failed == 1 ? "copy" : "copies");
	return 0;
}

/* repair_name on remote_name, or pass over every name; the report, and 0 or -errno. */
static int run_pass(struct dfs_client *c, const char *remote_name, enum pass pass,
		    struct dfs_repair_report **report)
{
	struct repair_tally t = {0};
	int err;

	if (report)
		*report = NULL;
	err = c->logged_in ? 0 : client_fail(c, -ENOTCONN, "not logged in");
	if (!err)
		err = remote_name ? repair_name(c, remote_name, &t) : repair_every(c, pass, &t);
	return finish(c, err, &t, report);
}

int dfs_repair(struct dfs_client *c, const char *remote_name, struct dfs_repair_report **report)
{
	return run_pass(c, remote_name, ALL_WITH_DELETES, report);
}

int dfs_scrub(struct dfs_client *c, const char *remote_name, struct dfs_repair_report **report)
{
	return run_pass(c, remote_name, ALL_LIVE, report);
}

void dfs_repair_report_free(struct dfs_repair_report *report)
{
	free(report);
}

int repair_catch_up(struct dfs_client *c)
{
	struct repair_tally t = {0};
	uint64_t hints = 0;
	int err;

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_cred_args a = {.cred = l->cred};
		dfs_hints_res r;

		if (!l->up)
			return 0; /* only a whole cluster can be brought level */
		memset(&r, 0, sizeof(r));
		if (dfsproc_repair_hints_1(&a, &r, l->clnt[0]) == RPC_SUCCESS && r.status == DFS_OK)
			hints += r.dfs_hints_res_u.files;
		xdr_free((xdrproc_t)xdr_dfs_hints_res, (char *)&r);
	}
	if (!hints)
		return 0;
	err = repair_every(c, DIVERGED, &t);
	return err ? err : (int)t.rewritten;
}
