/* list.c: the user's files, read from every live server and merged (list_merge.c).
 *
 * Servers list by name order (LIST_NAMES), so a prefix reads only its names
 * and a limit only about that many records per server; a server older than
 * LIST_NAMES is read whole with LIST and its names filtered here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_reply.h"
#include "internal.h"
#include "list_merge.h"

/* Records of one server that failed the checks: how many, and the first. */
struct rejects {
	unsigned count;
	const char *why;
	char shown[96];
};

static void reject(struct rejects *rj, const dfs_file_info *info, const char *why)
{
	if (rj->count++ == 0) {
		rj->why = why;
		check_escape(info->name.dfs_name_val, info->name.dfs_name_len, rj->shown,
			     sizeof(rj->shown));
	}
}

/* One server's listing as it is read. */
struct source {
	struct link *l;
	bool reading; /* it has answered every call so far: its records count */
	bool eof;     /* it has listed every name with the prefix */
	struct list_guard guard;
	struct rejects rj;
	char *after; /* the last name it listed (DFS_NAME_MAX bytes) */
	u_int after_len;
};

/* A listing in progress: the records of every server, read by name order. */
struct listing {
	struct dfs_client *c;
	const char *prefix;
	u_int prefix_len;
	size_t limit; /* live files wanted; 0: all */
	struct records rs;
	struct source *src; /* one per configured server */
	int refused;	    /* -errno of a server that refused the session */
};

static bool has_prefix(const dfs_file_info *info, const char *prefix, u_int len)
{
	return info->name.dfs_name_len >= len && memcmp(info->name.dfs_name_val, prefix, len) == 0;
}

/* Adds the checked records of one page of server i + 1's listing; with
 * filter, only those whose name begins with the prefix. */
static int add_page(struct listing *ls, unsigned i, dfs_file_info *v, u_int n, bool filter)
{
	for (u_int k = 0; k < n; k++) {
		dfs_file_info *info = &v[k];
		const char *why = NULL;

		if (filter && !has_prefix(info, ls->prefix, ls->prefix_len))
			continue;
		if (check_file_info(info, NULL, 0, ls->c->conf.nservers, i + 1, &why) != 0) {
			reject(&ls->src[i].rj, info, why);
			continue;
		}
		if (records_add(&ls->rs, i + 1, info))
			return client_fail(ls->c, -ENOMEM, "out of memory");
		memset(info, 0, sizeof(*info));
	}
	return 0;
}

/* Server i + 1 stops counting: part of a listing would make the files it
 * lacks look missing from that server, so all its records are dropped. */
static void source_fail(struct listing *ls, unsigned i)
{
	struct records *rs = &ls->rs;
	size_t kept = 0;

	ls->src[i].reading = false;
	for (size_t k = 0; k < rs->count; k++) {
		if (rs->v[k].server == i + 1)
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&rs->v[k].info);
		else
			rs->v[kept++] = rs->v[k];
	}
	rs->count = kept;
}

/* A server's answer other than DFS_OK: warned about; a refused session is
 * remembered for the error when no server answers. */
static void source_refused(struct listing *ls, unsigned i, dfs_stat status)
{
	char label[160];
	struct link *l = ls->src[i].l;

	client_warn(ls->c, l->conf->number, "%s: list failed: %s",
		    link_label(l, label, sizeof(label)), dfs_strerror(client_errno(status)));
	if (status == DFS_EACCES || status == DFS_EKEYEXPIRED)
		ls->refused = client_errno(status);
	source_fail(ls, i);
}

/* Reads the whole listing of server i + 1 with LIST, which a server older than
 * LIST_NAMES answers in the order of its name hashes, keeping the names with
 * the prefix. 0, or -errno when the listing cannot go on. */
static int read_whole(struct listing *ls, unsigned i)
{
	struct source *s = &ls->src[i];
	struct link *l = s->l;
	char cookie[DFS_COOKIE_MAX], why[200];
	u_int cookie_len = 0;

	while (l->up && !s->eof) {
		dfs_list_args a = {.cred = l->cred};
		dfs_list_res r;
		enum clnt_stat st;
		const char *bad = NULL;
		int err;

		a.cookie.cookie_val = cookie;
		a.cookie.cookie_len = cookie_len;
		memset(&r, 0, sizeof(r));
		st = dfsproc_list_1(&a, &r, l->clnt[0]);
		if (st != RPC_SUCCESS) {
			conn_mark_down(ls->c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
			break;
		}
		if (r.status != DFS_OK) {
			source_refused(ls, i, r.status);
			xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
			return 0;
		}
		if (check_list_page(&s->guard, &r.dfs_list_res_u.ok, cookie, cookie_len, &bad) !=
			0 ||
		    r.dfs_list_res_u.ok.cookie.cookie_len > sizeof(cookie)) {
			xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
			conn_mark_down(ls->c, l, bad ? bad : "its list position is too long");
			break;
		}
		err = add_page(ls, i, r.dfs_list_res_u.ok.entries.entries_val,
			       r.dfs_list_res_u.ok.entries.entries_len, true);
		if (err) {
			xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
			return err;
		}
		s->eof = r.dfs_list_res_u.ok.eof;
		cookie_len = r.dfs_list_res_u.ok.cookie.cookie_len;
		if (cookie_len)
			memcpy(cookie, r.dfs_list_res_u.ok.cookie.cookie_val, cookie_len);
		xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
	}
	if (!s->eof)
		source_fail(ls, i);
	return 0;
}

/* Sends server i + 1 the call for its next page of at most max names. */
static void ask(struct listing *ls, unsigned i, unsigned max)
{
	struct source *s = &ls->src[i];
	dfs_list_names_args a = {.cred = s->l->cred, .max = max};
	enum clnt_stat st;
	char why[200];

	a.prefix.prefix_val = (char *)ls->prefix;
	a.prefix.prefix_len = ls->prefix_len;
	a.after.after_val = s->after;
	a.after.after_len = s->after_len;
	st = rpcstream_send(s->l->clnt[0], DFSPROC_LIST_NAMES, (xdrproc_t)xdr_dfs_list_names_args,
			    &a);
	if (st != RPC_SUCCESS) {
		conn_mark_down(ls->c, s->l, clnt_problem(s->l->clnt[0], st, why, sizeof(why)));
		source_fail(ls, i);
	}
}

/* Receives the page asked for by ask(). With gone set (the listing has
 * failed), only reads the answer off the connection. 0, or -errno. */
static int receive(struct listing *ls, unsigned i, unsigned max, bool gone)
{
	struct source *s = &ls->src[i];
	struct link *l = s->l;
	dfs_list_names_res r;
	dfs_list_names_ok *ok = &r.dfs_list_names_res_u.ok;
	enum clnt_stat st;
	const char *bad = NULL;
	char why[200];
	int err = 0;

	memset(&r, 0, sizeof(r));
	st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_list_names_res, &r);
	if (gone) {
		if (st == RPC_SUCCESS)
			xdr_free((xdrproc_t)xdr_dfs_list_names_res, (char *)&r);
		return 0;
	}
	if (st == RPC_PROCUNAVAIL)
		return read_whole(ls, i);
	if (st != RPC_SUCCESS) {
		conn_mark_down(ls->c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		source_fail(ls, i);
		return 0;
	}
	if (r.status != DFS_OK) {
		source_refused(ls, i, r.status);
	} else if (check_names_page(&s->guard, ok, ls->prefix, ls->prefix_len, s->after,
				    s->after_len, max, &bad) != 0) {
		conn_mark_down(ls->c, l, bad);
		source_fail(ls, i);
	} else {
		s->eof = ok->eof;
		if (ok->entries.entries_len) {
			const dfs_name *last =
			    &ok->entries.entries_val[ok->entries.entries_len - 1].name;

			memcpy(s->after, last->dfs_name_val, last->dfs_name_len);
			s->after_len = last->dfs_name_len;
		}
		err = add_page(ls, i, ok->entries.entries_val, ok->entries.entries_len, false);
	}
	xdr_free((xdrproc_t)xdr_dfs_list_names_res, (char *)&r);
	return err;
}

/* The server still listing whose listing has reached the least far: every
 * name up to its last is final (each answering server has listed it, or
 * shown it does not have it). NULL when every answering server is at eof. */
static const struct source *frontier(const struct listing *ls)
{
	const struct source *least = NULL;

	for (unsigned i = 0; i < ls->c->conf.nservers; i++) {
		const struct source *s = &ls->src[i];

		if (s->reading && !s->eof &&
		    (!least ||
		     list_name_cmp(s->after, s->after_len, least->after, least->after_len) < 0))
			least = s;
	}
	return least;
}

/* Sorts the records; returns how many have final names (up to fr's last). */
static size_t sort_final(struct records *rs, const struct source *fr)
{
	size_t end = 0;

	records_sort(rs);
	if (!fr)
		return rs->count;
	while (end < rs->count &&
	       list_name_cmp(rs->v[end].info.name.dfs_name_val, rs->v[end].info.name.dfs_name_len,
			     fr->after, fr->after_len) <= 0)
		end++;
	return end;
}

/* Reads every answering server's listing by name order, a page of every server
 * at a time. With a limit, only the servers at the frontier read on, until
 * limit live files are final; the records past the frontier are then dropped.
 * *answered = the servers whose listings count. */
static int collect(struct listing *ls, unsigned *answered)
{
	struct dfs_client *c = ls->c;
	unsigned n = c->conf.nservers, page = DFS_LIST_MAX;
	uint64_t now = plan_clock_ns();
	int err = 0;

	for (unsigned i = 0; i < n; i++) {
		ls->src[i].l = &c->links[i];
		ls->src[i].reading = c->links[i].up;
	}
	if (ls->limit)
		page = ls->limit < DFS_LIST_MAX ? (unsigned)ls->limit : DFS_LIST_MAX;
	for (bool first = true; !err; first = false) {
		const struct source *fr = frontier(ls);
		bool asked[DFS_SERVERS_MAX] = {false};

		if (!fr)
			break;
		if (ls->limit) {
			size_t live = records_count_live(&ls->rs, sort_final(&ls->rs, fr), n, now);
			size_t need = ls->limit - (live < ls->limit ? live : ls->limit);

			if (need == 0)
				break;
			/* Pages grow while tombstones or names not yet confirmed
			 * keep the count short, so few calls are made. */
			if (!first) {
				size_t grown = (size_t)page * 2 > need ? (size_t)page * 2 : need;

				page = grown < DFS_LIST_MAX ? (unsigned)grown : DFS_LIST_MAX;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			struct source *s = &ls->src[i];

			if (!s->reading || s->eof)
				continue;
			if (ls->limit &&
			    list_name_cmp(s->after, s->after_len, fr->after, fr->after_len) != 0)
				continue;
			ask(ls, i, page);
			asked[i] = s->reading;
		}
		for (unsigned i = 0; i < n; i++)
			if (asked[i]) {
				int e = receive(ls, i, page, err != 0);

				err = err ? err : e;
			}
	}
	if (err)
		return err;
	if (ls->limit)
		records_truncate(&ls->rs, sort_final(&ls->rs, frontier(ls)));
	*answered = 0;
	for (unsigned i = 0; i < n; i++) {
		struct source *s = &ls->src[i];
		char label[160];

		if (!s->reading)
			continue;
		(*answered)++;
		if (s->rj.count)
			client_warn(c, s->l->conf->number,
				    "%s: ignored %u record%s it listed, the first '%s': %s",
				    link_label(s->l, label, sizeof(label)), s->rj.count,
				    s->rj.count == 1 ? "" : "s", s->rj.shown, s->rj.why);
	}
	if (*answered == 0 && ls->refused)
		return client_fail(c, ls->refused, "the servers refused the session: %s",
				   ls->refused == -EACCES
				       ? "the user no longer exists or the session ended"
				       : dfs_strerror(ls->refused));
	if (*answered == 0)
		return client_fail(c, -EHOSTDOWN, "no server answered; is the cluster running?");
	return 0;
}

static int list_all(struct dfs_client *c, const char *prefix, size_t limit, bool include_deleted,
		    struct dfs_file_list **out)
{
	struct listing ls = {.c = c, .prefix = prefix ? prefix : "", .limit = limit};
	struct dfs_file_list *list;
	unsigned answered = 0;
	size_t len = strlen(ls.prefix);
	int err = 0;

	*out = NULL;
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	if (len > DFS_NAME_MAX)
		return client_fail(c, -ENAMETOOLONG,
				   "the prefix is longer than %u bytes, the longest name",
				   DFS_NAME_MAX);
	ls.prefix_len = (u_int)len;
	list = calloc(1, sizeof(*list));
	ls.src = calloc(c->conf.nservers ? c->conf.nservers : 1, sizeof(*ls.src));
	for (unsigned i = 0; ls.src && i < c->conf.nservers && !err; i++)
		if (!(ls.src[i].after = malloc(DFS_NAME_MAX)))
			err = -ENOMEM;
	if (!list || !ls.src || err)
		err = client_fail(c, -ENOMEM, "out of memory");
	if (!err)
		err = collect(&ls, &answered);
	if (!err)
		err = records_merge(c, &ls.rs, answered, include_deleted, limit, list);
	records_free(&ls.rs);
	for (unsigned i = 0; ls.src && i < c->conf.nservers; i++)
		free(ls.src[i].after);
	free(ls.src);
	if (err) {
		dfs_file_list_free(list);
		return err;
	}
	*out = list;
	return 0;
}

int dfs_list_prefix(struct dfs_client *c, const char *prefix, size_t limit,
		    struct dfs_file_list **out)
{
	return list_all(c, prefix, limit, false, out);
}

int dfs_list(struct dfs_client *c, struct dfs_file_list **out)
{
	return list_all(c, NULL, 0, false, out);
}

int list_names(struct dfs_client *c, struct dfs_file_list **out)
{
	return list_all(c, NULL, 0, true, out);
}
