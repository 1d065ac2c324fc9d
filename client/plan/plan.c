/* plan.c: which version of a file to read, and which server serves each chunk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "internal.h"
#include "check_reply.h"
#include "download.h"
#include "version.h"

unsigned plan_first_chunk(const struct file_view *view, unsigned server)
{
	return view->layout.pair[server - 1][0];
}

unsigned plan_data_max(const struct file_view *view)
{
	return (SMALL_FILE_MAX + view->nservers - 1) / view->nservers;
}

/* What was asked of a server. */
enum asked { ASKED_NOTHING, ASKED_LOOKUP, ASKED_LOOKUP_READ };

static enum asked ask(struct dfs_client *c, struct link *l, const struct file_view *view,
		      bool with_data)
{
	char why[256];
	enum clnt_stat st;

	if (with_data && !c->no_lookup_read) {
		dfs_lookup_read_args a = {.cred = l->cred};

		/* The bytes this server would be asked for next, if they are no more
		 * than a small file's chunk. */
		a.name.dfs_name_val = (char *)view->name;
		a.name.dfs_name_len = (u_int)view->name_len;
		a.index = plan_first_chunk(view, l->conf->number);
		a.max = plan_data_max(view);
		st = rpcstream_send(l->clnt[0], DFSPROC_LOOKUP_READ,
				    (xdrproc_t)xdr_dfs_lookup_read_args, &a);
	} else {
		dfs_name_args a = {.cred = l->cred};

		a.name.dfs_name_val = (char *)view->name;
		a.name.dfs_name_len = (u_int)view->name_len;
		st = rpcstream_send(l->clnt[0], DFSPROC_LOOKUP, (xdrproc_t)xdr_dfs_name_args, &a);
	}
	if (st != RPC_SUCCESS) {
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return ASKED_NOTHING;
	}
	return with_data && !c->no_lookup_read ? ASKED_LOOKUP_READ : ASKED_LOOKUP;
}

/* Receives the answer to what was asked into h: a record, with or without a
 * chunk's bytes. A server older than LOOKUP_READ is asked again with LOOKUP.
 * Returns the status, or -1 if the server did not answer. */
static int answer(struct dfs_client *c, struct link *l, struct file_view *view, enum asked asked,
		  struct holder_view *h)
{
	char why[256];
	enum clnt_stat st;
	dfs_stat status;

	if (asked == ASKED_LOOKUP_READ) {
		dfs_lookup_read_res r;

		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_lookup_read_res, &r);
		if (st == RPC_PROCUNAVAIL) {
			c->no_lookup_read = true;
			asked = ask(c, l, view, false);
			return asked == ASKED_NOTHING ? -1 : answer(c, l, view, asked, h);
		}
		status = r.status;
		if (st == RPC_SUCCESS && status == DFS_OK)
			plan_keep_read(view, l->conf->number, &r.dfs_lookup_read_res_u.ok);
	} else {
		dfs_lookup_res r;

		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_lookup_res, &r);
		status = r.status;
		if (st == RPC_SUCCESS && status == DFS_OK)
			h->rec = r.dfs_lookup_res_u.ok;
	}
	if (st != RPC_SUCCESS) {
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return -1;
	}
	h->has_record = status == DFS_OK;
	return status;
}

void plan_keep_read(struct file_view *view, unsigned server, dfs_lookup_read_ok *ok)
{
	struct holder_view *h = &view->holders[server - 1];

	h->has_record = true;
	h->rec = ok->rec;
	h->data_ver = ok->data_ver;
	h->data_index = ok->data_ver ? plan_first_chunk(view, server) : 0;
	h->data = ok->data.data_val;
	h->data_len = ok->data.data_len;
}

void plan_note_status(struct dfs_client *c, struct link *l, struct holder_view *h, int status)
{
	char label[160];

	if (status == DFS_OK || status == DFS_ENOENT)
		h->answered = true;
	else if (status >= 0)
		client_warn(c, l->conf->number, "%s: lookup failed: %s",
			    link_label(l, label, sizeof(label)),
			    dfs_strerror(client_errno((dfs_stat)status)));
}

/* Drops from view every server's answer that fails check_lookup_read_ok, with a
 * warning naming the server, as if that server had not answered. Returns the
 * number of answers dropped. */
static unsigned drop_bad_answers(struct dfs_client *c, struct file_view *view)
{
	unsigned max = plan_data_max(view);
	unsigned dropped = 0;
	char label[160], shown[96];

	for (unsigned i = 0; i < view->nservers; i++) {
		struct holder_view *h = &view->holders[i];
		dfs_lookup_read_ok sent = {.data_ver = h->data_ver};
		const char *why = NULL;

		if (!h->has_record) {
			if (h->data || h->data_len || h->data_ver)
				why = "it sent bytes without a record";
		} else {
			sent.rec = h->rec;
			sent.data.data_val = h->data;
			sent.data.data_len = h->data_len;
			check_lookup_read_ok(&sent, view->name, view->name_len, view->nservers,
					     i + 1, view->layout.pair[i][0], max, &why);
		}
		if (!why)
			continue;
		client_warn(c, i + 1, "%s: ignoring its answer about %s: %s",
			    link_label(&c->links[i], label, sizeof(label)),
			    check_escape(view->name, view->name_len, shown, sizeof(shown)), why);
		if (h->has_record)
			xdr_free((xdrproc_t)xdr_dfs_lookup_ok, (char *)&h->rec);
		free(h->data);
		memset(h, 0, sizeof(*h));
		dropped++;
	}
	return dropped;
}

void plan_view_start(const struct dfs_client *c, const char *name, struct file_view *view)
{
	memset(view, 0, sizeof(*view));
	view->now_ns = plan_clock_ns();
	view->name = name;
	view->name_len = strlen(name);
	view->nservers = c->conf.nservers;
	layout_init(&view->layout, name, view->name_len, view->nservers);
}

int plan_lookup_end(struct dfs_client *c, struct file_view *view)
{
	unsigned answered = 0;
	char label[160];

	for (unsigned i = 0; i < view->nservers; i++)
		answered += view->holders[i].answered;
	view->dropped = drop_bad_answers(c, view);
	answered -= view->dropped;
	if (answered == 0)
		return client_fail(c, -EHOSTDOWN, "no server answered (%s: %s)",
				   link_label(&c->links[0], label, sizeof(label)), c->links[0].why);
	return 0;
}

int plan_lookup(struct dfs_client *c, const char *name, bool with_data, struct file_view *view)
{
	enum asked asked[DFS_SERVERS_MAX] = {ASKED_NOTHING};

	plan_view_start(c, name, view);
	/* Ask every server before reading any answer: one round trip, not N. */
	for (unsigned i = 0; i < view->nservers; i++)
		if (c->links[i].up)
			asked[i] = ask(c, &c->links[i], view, with_data);
	for (unsigned i = 0; i < view->nservers; i++) {
		struct link *l = &c->links[i];
		struct holder_view *h = &view->holders[i];

		if (asked[i] != ASKED_NOTHING)
			plan_note_status(c, l, h, answer(c, l, view, asked[i], h));
	}
	return plan_lookup_end(c, view);
}

void plan_view_free(struct file_view *view)
{
	for (unsigned i = 0; i < view->nservers; i++) {
		struct holder_view *h = &view->holders[i];

		if (h->has_record)
			xdr_free((xdrproc_t)xdr_dfs_lookup_ok, (char *)&h->rec);
		free(h->data);
		memset(h, 0, sizeof(*h));
	}
}

const dfs_file_info *plan_held(const struct holder_view *h, uint64_t ver)
{
	if (!h->has_record)
		return NULL;
	if (h->rec.current.ver == ver)
		return &h->rec.current;
	if (h->rec.previous.previous_len && h->rec.previous.previous_val[0].ver == ver)
		return &h->rec.previous.previous_val[0];
	return NULL;
}

bool plan_has_chunk(const dfs_file_info *info, unsigned index, uint64_t *sum)
{
	if (!info || info->deleted)
		return false;
	for (unsigned i = 0; i < info->chunks.chunks_len; i++) {
		if (info->chunks.chunks_val[i].index == index) {
			if (sum)
				*sum = info->chunks.chunks_val[i].checksum;
			return true;
		}
	}
	return false;
}

uint64_t plan_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool plan_plausible(const struct file_view *view, const dfs_file_info *info)
{
	return !version_too_far_ahead(info->ver, view->now_ns, PLAN_MAX_AHEAD_NS);
}

/* stale_below[s-1] = the newest version some live server's record lists
 * server s as lacking: s missed that put or delete, so its copies of any
 * older version are stale and must never be served in its place. A mark
 * from any one server is honoured: it can only make a read fail, never
 * make it return older bytes. */
static void stale_marks(const struct file_view *view, uint64_t stale_below[])
{
	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];
		const dfs_file_info *recs[2] = {NULL, NULL};

		if (!h->has_record)
			continue;
		recs[0] = &h->rec.current;
		if (h->rec.previous.previous_len)
			recs[1] = &h->rec.previous.previous_val[0];
		for (int r = 0; r < 2; r++) {
			if (recs[r] && !plan_plausible(view, recs[r]))
				continue;
			for (unsigned j = 0; recs[r] && j < recs[r]->lacking.lacking_len; j++) {
				unsigned s = recs[r]->lacking.lacking_val[j];

				if (s >= 1 && s <= view->nservers &&
				    recs[r]->ver > stale_below[s - 1])
					stale_below[s - 1] = recs[r]->ver;
			}
		}
	}
}

/* Fills plan's sources for version ver; true if every chunk has one. */
static bool try_version(const struct file_view *view, const dfs_file_info *info,
			const uint64_t *stale_below, struct read_plan *plan)
{
	unsigned n = info->nchunks;

	if (n != view->nservers || n > DFS_SERVERS_MAX)
		return false;
	memset(plan->source, 0, sizeof(plan->source));
	memset(plan->backup, 0, sizeof(plan->backup));
	for (unsigned k = 1; k <= n; k++) {
		for (int which = 0; which < 2; which++) {
			unsigned s = view->layout.holder[k - 1][which];
			uint64_t sum;

			if (info->ver < stale_below[s - 1])
				continue;
			if (!plan_has_chunk(plan_held(&view->holders[s - 1], info->ver), k, &sum))
				continue;
			if (!plan->source[k - 1]) {
				plan->source[k - 1] = s;
				plan->chunk_sum[k - 1] = sum;
			} else {
				plan->backup[k - 1] = s;
			}
		}
		if (!plan->source[k - 1])
			return false;
	}
	return true;
}

/* Whether the tombstone at ver is confirmed: reported by two servers, or by
 * servers that hold every chunk between them (what a delete must reach to
 * succeed). One server alone, faulty or hostile, cannot delete a file for
 * readers, and repair never spreads its tombstone. */
static bool tombstone_confirmed(const struct file_view *view, uint64_t ver)
{
	bool in[DFS_SERVERS_MAX] = {false};
	unsigned count = 0;

	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];

		if (h->has_record && h->rec.current.deleted && h->rec.current.ver == ver) {
			in[i] = true;
			count++;
		}
	}
	return count >= 2 || version_covers(in, view->nservers);
}

void plan_choose(const struct file_view *view, struct read_plan *plan)
{
	uint64_t tried_below = UINT64_MAX, stale_below[DFS_SERVERS_MAX] = {0};

	memset(plan, 0, sizeof(*plan));
	stale_marks(view, stale_below);
	/* Candidates, newest first: every version some server holds. */
	for (;;) {
		const dfs_file_info *best = NULL;

		for (unsigned i = 0; i < view->nservers; i++) {
			const struct holder_view *h = &view->holders[i];
			const dfs_file_info *cand[2] = {NULL, NULL};

			if (!h->has_record)
				continue;
			cand[0] = &h->rec.current;
			if (h->rec.previous.previous_len)
				cand[1] = &h->rec.previous.previous_val[0];
			for (int k = 0; k < 2; k++)
				if (cand[k] && cand[k]->ver < tried_below &&
				    plan_plausible(view, cand[k]) &&
				    (!best || cand[k]->ver > best->ver))
					best = cand[k];
		}
		if (!best)
			return;
		if (best->deleted && tombstone_confirmed(view, best->ver)) {
			/* Deleted at a version newer than anything readable. */
			plan->deleted = true;
			plan->info = best;
			return;
		}
		if (best->deleted) {
			tried_below = best->ver;
			continue;
		}
		if (try_version(view, best, stale_below, plan)) {
			plan->found = true;
			plan->info = best;
			break;
		}
		tried_below = best->ver;
	}
	for (unsigned k = 1; k <= plan->info->nchunks; k++) {
		uint64_t offset;

		layout_range(&view->layout, plan->info->size, k, &offset, &plan->chunk_size[k - 1]);
	}
}

/* Whether the servers that answered disagree on the current version: puts are
 * being committed while they were asked. */
static bool writes_in_flight(const struct file_view *view)
{
	uint64_t first = 0;
	bool any = false;

	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];
		uint64_t ver = h->has_record ? h->rec.current.ver : 0;

		if (!h->answered)
			continue;
		if (any && ver != first)
			return true;
		first = ver;
		any = true;
	}
	return false;
}

int plan_read_choice(struct dfs_client *c, const char *name, bool with_data, struct file_view *view,
		     struct read_plan *plan)
{
	return plan_read_choice_from(c, name, with_data, view, plan, false);
}

int plan_read_choice_from(struct dfs_client *c, const char *name, bool with_data,
			  struct file_view *view, struct read_plan *plan, bool looked_up)
{
	for (unsigned attempt = 1;; attempt++) {
		int err = attempt == 1 && looked_up ? plan_lookup_end(c, view)
						    : plan_lookup(c, name, with_data, view);

		if (err)
			return err;
		plan_choose(view, plan);
		if (plan->found || plan->deleted || attempt == PLAN_SETTLE_ATTEMPTS ||
		    !writes_in_flight(view))
			return 0;
		/* Puts running now leave no version whole for a moment: ask again. */
		plan_view_free(view);
		usleep(20000u * attempt);
	}
}

uint64_t plan_new_version(uint64_t newest_seen)
{
	uint64_t now = plan_clock_ns(), noise = 0;

	if (RAND_bytes((unsigned char *)&noise, sizeof(noise)) != 1)
		noise = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ now;
	return version_next(now, newest_seen, noise);
}

uint64_t plan_newest(const struct file_view *view)
{
	uint64_t newest = 0;

	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];

		if (h->has_record && h->rec.current.ver > newest &&
		    plan_plausible(view, &h->rec.current))
			newest = h->rec.current.ver;
		if (h->has_record && h->rec.previous.previous_len &&
		    h->rec.previous.previous_val[0].ver > newest &&
		    plan_plausible(view, &h->rec.previous.previous_val[0]))
			newest = h->rec.previous.previous_val[0].ver;
	}
	return newest;
}

int plan_check_vouches(struct dfs_client *c, const char *name, const bool *answered)
{
	char which[DFS_SERVERS_MAX * 4 + 1] = "";
	size_t len = 0;

	if (version_vouches(answered, c->conf.nservers))
		return 0;
	for (unsigned s = 1; s <= c->conf.nservers && len + 5 < sizeof(which); s++)
		if (answered[s - 1])
			len += (size_t)snprintf(which + len, sizeof(which) - len, "%s%u",
						len ? ", " : "", s);
	return client_fail(c, -EHOSTDOWN,
			   "%s: too few servers answer to order a write after the earlier ones "
			   "(%s%s): a write needs two neighbouring servers up, which hold a chunk "
			   "in common; nothing was changed",
			   name, len ? "only " : "none", which);
}

int plan_write_version(struct dfs_client *c, const char *name, uint64_t *newest)
{
	struct file_view view;
	bool answered[DFS_SERVERS_MAX] = {false};
	int err;

	*newest = 0;
	err = plan_lookup(c, name, false, &view);
	if (err == 0) {
		for (unsigned i = 0; i < view.nservers; i++)
			answered[i] = view.holders[i].answered;
		err = plan_check_vouches(c, name, answered);
		*newest = plan_newest(&view);
	}
	plan_view_free(&view);
	return err;
}

int plan_clock_refused(struct dfs_client *c, const char *name, unsigned server)
{
	char when[64], label[160];
	time_t now = time(NULL);
	struct tm tm;

	if (!gmtime_r(&now, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof(when), "%lld s since 1970", (long long)now);
	return client_fail(c, -ERANGE,
			   "%s: %s refused the write's version as too far ahead of its clock: "
			   "this host's clock reads %s; check it (or the server's clock)",
			   name, link_label(&c->links[server - 1], label, sizeof(label)), when);
}
